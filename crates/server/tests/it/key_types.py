"""Every KMS key type through boto3, against the leader and a follower of a 3-node cluster,
with every result checked OUTSIDE trent: signatures with pyca/cryptography and the `openssl`
command line, RSA ciphertexts made with cryptography, ECDH secrets derived with it, ML-KEM
encapsulations made with it (768/1024: cryptography has no ML-KEM-512), data key pairs loaded
by it; Ed25519ph (which neither cryptography nor OpenSSL 3.0 has) with RFC 8032's own
reference verification, below. Then the AWS CLI (sign/verify, generate-mac/verify-mac) and
the AWS Encryption SDK's RSA keyring (the Material Providers Library).

Environment: TRENT_ENDPOINTS (the leader first, then the followers), TRENT_REGION, and the
root credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Every case runs, whatever the
ones before it did; each failure is printed with its request, what was expected and what
came back, and the script exits 1 if any failed. The last line on success is
"all key type cases passed".
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import boto3
import botocore.config
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

try:  # cryptography >= 47
    from cryptography.hazmat.primitives.asymmetric import mldsa
except ImportError:  # pragma: no cover
    mldsa = None
try:
    from cryptography.hazmat.primitives.asymmetric import mlkem
except ImportError:  # pragma: no cover
    mlkem = None

ENDPOINTS = [e for e in os.environ["TRENT_ENDPOINTS"].split(",") if e]
REGION = os.environ.get("TRENT_REGION", "us-east-1")
WORK = Path(tempfile.mkdtemp(prefix="trent-key-types-"))
# Key specs the cluster's HSM refuses by name (a PKCS#11 token lacking their mechanisms): each
# must be refused at CreateKey with UnsupportedOperationException, and is not tried further.
REFUSED_SPECS = set(filter(None, os.environ.get("TRENT_REFUSED_SPECS", "").split(",")))
# Algorithms it refuses by name (UnsupportedOperationException): checked as refused, not
# tried further.
REFUSED_ALGORITHMS = set(filter(None, os.environ.get("TRENT_REFUSED_ALGORITHMS", "").split(",")))


def kms(endpoint):
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        config=botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 3}, read_timeout=120
        ),
    )


LEADER = kms(ENDPOINTS[0])
FOLLOWER = kms(ENDPOINTS[1] if len(ENDPOINTS) > 1 else ENDPOINTS[0])
NODES = [("leader", LEADER), ("follower", FOLLOWER)]

PASSED: list[str] = []
FAILED: list[tuple[str, str]] = []
SKIPPED: list[tuple[str, str]] = []
NOTES: list[str] = []


@contextlib.contextmanager
def case(name):
    """One named case: a failure is recorded and the script goes on with the next case."""
    try:
        yield
    except Skip as s:
        SKIPPED.append((name, str(s)))
        print(f"SKIP {name}: {s}", flush=True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        if isinstance(e, ClientError):
            detail += f"\n      {e.response.get('Error')}"
        tb = traceback.extract_tb(e.__traceback__)
        here = [f for f in tb if f.filename == __file__]
        if here:
            detail += f"\n      at line {here[-1].lineno}: {here[-1].line}"
        FAILED.append((name, detail))
        print(f"FAIL {name}: {detail}", flush=True)
    else:
        PASSED.append(name)
        print(f"ok   {name}", flush=True)


class Skip(Exception):
    pass


def refused(call, code, contains=None, **kwargs):
    """`call(**kwargs)` must fail with the AWS error `code` (one of them, given a tuple)."""
    codes = code if isinstance(code, tuple) else (code,)
    try:
        got = call(**kwargs)
    except ClientError as e:
        err = e.response["Error"]
        assert err["Code"] in codes, f"expected {codes}, got {err} for {short(kwargs)}"
        if contains:
            assert contains in err.get("Message", ""), f"expected message with {contains!r}, got {err}"
        return err
    got = {k: v for k, v in got.items() if k != "ResponseMetadata"}
    raise AssertionError(f"expected {codes}, the call succeeded: {short(kwargs)} -> {short(got)}")


def short(value):
    """A request or response for a message: long bytes shortened."""
    if isinstance(value, dict):
        return {k: short(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>" if len(value) > 24 else bytes(value)
    return value


def body(response):
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def flip(data: bytes, index: int = 0) -> bytes:
    b = bytearray(data)
    b[index] ^= 0x01
    return bytes(b)


# ---------------------------------------------------------------------------------------------
# What AWS lists for each key spec and usage (in AWS's order).

RSA_SIGNING = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]
SIGNING = {
    "RSA_2048": RSA_SIGNING,
    "RSA_3072": RSA_SIGNING,
    "RSA_4096": RSA_SIGNING,
    "ECC_NIST_P256": ["ECDSA_SHA_256"],
    "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"],
    "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
    "ECC_NIST_EDWARDS25519": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
    "ML_DSA_44": ["ML_DSA_SHAKE_256"],
    "ML_DSA_65": ["ML_DSA_SHAKE_256"],
    "ML_DSA_87": ["ML_DSA_SHAKE_256"],
}
ALGORITHM_FIELDS = [
    "EncryptionAlgorithms",
    "SigningAlgorithms",
    "MacAlgorithms",
    "KeyAgreementAlgorithms",
    "EncapsulationAlgorithms",
]
# The deprecated CustomerMasterKeySpec has no value for the newer specs.
CMK_SPECS = {
    "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
    "ECC_SECG_P256K1", "SYMMETRIC_DEFAULT", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2",
}
HASH = {"SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}
OPENSSL_DGST = {"SHA_256": "-sha256", "SHA_384": "-sha384", "SHA_512": "-sha512"}
CURVES = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
    "ECC_SECG_P256K1": ec.SECP256K1,
}
RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}


def check_metadata(md, spec, usage, algorithms, where):
    """KeySpec, KeyUsage and exactly the one algorithm list `algorithms` names."""
    assert md["KeySpec"] == spec, (where, md)
    assert md["KeyUsage"] == usage, (where, md)
    if "CustomerMasterKeySpec" in md or spec in CMK_SPECS:
        assert md.get("CustomerMasterKeySpec") == spec, (where, "CustomerMasterKeySpec", md)
    for field in ALGORITHM_FIELDS:
        if field in algorithms:
            assert md.get(field) == algorithms[field], (
                where, field, "expected", algorithms[field], "got", md.get(field),
            )
        else:
            assert field not in md, (where, f"unexpected {field}", md.get(field))


def create(node, spec, usage, **extra):
    md = node.create_key(KeySpec=spec, KeyUsage=usage, **extra)["KeyMetadata"]
    assert md["KeySpec"] == spec and md["KeyUsage"] == usage, md
    assert md["KeyState"] == "Enabled", md
    return md


def public_key(node, key_id, spec, usage, algorithms):
    """GetPublicKey: its metadata, and the DER SPKI loaded by cryptography."""
    got = node.get_public_key(KeyId=key_id)
    check_metadata(got, spec, usage, algorithms, "GetPublicKey")
    der = got["PublicKey"]
    return der, serialization.load_der_public_key(der)


def check_key_type(pub, spec):
    if spec in RSA_BITS:
        assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == RSA_BITS[spec], (spec, pub)
        assert pub.public_numbers().e == 65537, pub.public_numbers().e
    elif spec in CURVES:
        assert isinstance(pub, ec.EllipticCurvePublicKey), (spec, pub)
        assert isinstance(pub.curve, CURVES[spec]), (spec, pub.curve.name)
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(pub, ed25519.Ed25519PublicKey), (spec, pub)
    elif spec.startswith("ML_DSA_"):
        cls = getattr(mldsa, f"MLDSA{spec[-2:]}PublicKey")
        assert isinstance(pub, cls), (spec, pub)


# ---------------------------------------------------------------------------------------------
# Ed25519ph (RFC 8032 5.1, phflag 1, empty context), from RFC 8032 section 6's reference
# verification: neither cryptography nor OpenSSL 3.0 verifies HashEdDSA. Checked first
# against cryptography on plain Ed25519, so that a bug here cannot pass a bad signature.

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _add(a, b):
    A, B = (a[1] - a[0]) * (b[1] - b[0]) % _P, (a[1] + a[0]) * (b[1] + b[0]) % _P
    C, D = 2 * a[3] * b[3] * _D % _P, 2 * a[2] * b[2] % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F, G * H, F * G, E * H)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _recover_x(y, sign):
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s):
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % _P)


def ed25519_verify(public: bytes, message: bytes, signature: bytes, prehash: bool) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _Q:
        return False
    if prehash:
        dom = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])
        message = hashlib.sha512(message).digest()
    else:
        dom = b""
    h = int.from_bytes(hashlib.sha512(dom + signature[:32] + public + message).digest(), "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


def _self_test_ed25519():
    k = ed25519.Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes_raw()
    sig = k.sign(b"self test")
    assert ed25519_verify(pub, b"self test", sig, prehash=False)
    assert not ed25519_verify(pub, b"self tesT", sig, prehash=False)
    assert not ed25519_verify(pub, b"self test", sig, prehash=True)


# ---------------------------------------------------------------------------------------------
# The openssl command line.

def openssl(*args, stdin=None):
    return subprocess.run(["openssl", *args], capture_output=True, input=stdin, timeout=60)


def openssl_has_ed25519ph():
    key, msg, sig = WORK / "probe.pem", WORK / "probe.msg", WORK / "probe.sig"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    msg.write_bytes(b"probe")
    done = openssl("pkeyutl", "-sign", "-rawin", "-inkey", str(key), "-in", str(msg),
                   "-out", str(sig), "-pkeyopt", "instance:Ed25519ph")
    return done.returncode == 0


def openssl_has(algorithm):
    listed = openssl("list", "-signature-algorithms").stdout.decode()
    return algorithm.lower() in listed.lower()


OPENSSL = shutil.which("openssl") is not None
OPENSSL_ED25519PH = OPENSSL and openssl_has_ed25519ph()
OPENSSL_MLDSA = OPENSSL and openssl_has("ML-DSA")
_counter = iter(range(1_000_000))


def openssl_verify(der, algorithm, message, signature, message_type):
    """Verifies with `openssl`; answers True, or raises with openssl's output."""
    n = next(_counter)
    pem = WORK / f"pub{n}.pem"
    pem.write_bytes(
        serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    msg, sig = WORK / f"msg{n}", WORK / f"sig{n}"
    msg.write_bytes(message)
    sig.write_bytes(signature)
    if algorithm.startswith(("RSASSA_", "ECDSA_")):
        # A DIGEST signature is one of the message the digest was made of: `openssl dgst`
        # hashes that message itself.
        args = ["dgst", OPENSSL_DGST[algorithm[-7:]], "-verify", str(pem), "-signature", str(sig)]
        if algorithm.startswith("RSASSA_PSS_"):
            args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        done = openssl(*args, str(msg))
    elif algorithm == "ED25519_SHA_512":
        done = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
                       "-in", str(msg), "-sigfile", str(sig))
    elif algorithm == "ED25519_PH_SHA_512":
        done = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
                       "-in", str(msg), "-sigfile", str(sig), "-pkeyopt", "instance:Ed25519ph")
    elif algorithm == "ML_DSA_SHAKE_256":
        done = openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
                       "-in", str(msg), "-sigfile", str(sig))
    else:
        raise AssertionError(algorithm)
    out = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0 and "Verif" in out and "Failure" not in out, (
        f"openssl did not verify {algorithm} ({message_type}): {out}"
    )
    return True


def openssl_can(algorithm):
    if not OPENSSL:
        return False
    if algorithm == "ED25519_PH_SHA_512":
        return OPENSSL_ED25519PH
    if algorithm == "ML_DSA_SHAKE_256":
        return OPENSSL_MLDSA
    return True


# ---------------------------------------------------------------------------------------------
# Signatures checked with cryptography.

def crypto_verify(pub, algorithm, message, signature, message_type, original):
    """Verifies with cryptography; `original` is the unhashed message for DIGEST signatures."""
    if algorithm.startswith(("RSASSA_", "ECDSA_")):
        h = HASH[algorithm[-7:]]()
        data, alg = (message, h) if message_type == "RAW" else (message, utils.Prehashed(h))
        if algorithm.startswith("RSASSA_PKCS1_V1_5_"):
            pub.verify(signature, data, padding.PKCS1v15(), alg)
        elif algorithm.startswith("RSASSA_PSS_"):
            pss = padding.PSS(mgf=padding.MGF1(HASH[algorithm[-7:]]()), salt_length=h.digest_size)
            pub.verify(signature, data, pss, alg)
            # And the salt really is the digest's length: a verifier insisting on another
            # fixed length refuses it.
            try:
                other = padding.PSS(mgf=padding.MGF1(HASH[algorithm[-7:]]()), salt_length=h.digest_size + 1)
                pub.verify(signature, data, other, alg)
            except InvalidSignature:
                pass
            else:
                raise AssertionError("PSS salt is not the digest length")
        else:
            pub.verify(signature, data, ec.ECDSA(alg))
        if message_type == "DIGEST":  # the same signature is one of the original message
            if algorithm.startswith("ECDSA_"):
                pub.verify(signature, original, ec.ECDSA(h))
    elif algorithm == "ED25519_SHA_512":
        assert len(signature) == 64, len(signature)
        pub.verify(signature, message)
    elif algorithm == "ED25519_PH_SHA_512":
        raw = pub.public_bytes_raw()
        # AWS (Sign, MessageType): with DIGEST "KMS still performs the SHA-512 prehash [...]
        # the input is hashed twice": the signature is Ed25519ph's of the 64 bytes sent.
        if not ed25519_verify(raw, message, signature, prehash=True):
            if ed25519_verify(raw, original, signature, prehash=True):
                raise AssertionError(
                    "the ED25519_PH_SHA_512 signature of a DIGEST is Ed25519ph's of the original "
                    "message (the digest taken as PH(M), hashed once), not of the 64 bytes sent "
                    "(hashed again by KMS, as AWS documents)")
            raise AssertionError("the Ed25519ph signature did not verify (RFC 8032 reference)")
        assert not ed25519_verify(raw, flip(message), signature, prehash=True)
    elif algorithm == "ML_DSA_SHAKE_256":
        if mldsa is None:
            raise Skip("cryptography has no ML-DSA")
        if message_type == "EXTERNAL_MU":
            pub.verify_mu(signature, message)
            pub.verify(signature, original)  # mu was made of `original` with an empty context
        else:
            pub.verify(signature, message)
    else:
        raise AssertionError(algorithm)


def message_types(algorithm):
    """The MessageTypes AWS accepts for an algorithm, per the Sign documentation."""
    if algorithm == "ED25519_SHA_512":
        return ["RAW"]
    if algorithm == "ED25519_PH_SHA_512":
        return ["DIGEST"]
    if algorithm == "ML_DSA_SHAKE_256":
        return ["RAW", "EXTERNAL_MU"]
    return ["RAW", "DIGEST"]


def message_for(algorithm, message_type, original, pub):
    if message_type == "RAW":
        return original
    if message_type == "DIGEST":
        name = "SHA_512" if algorithm.startswith("ED25519") else algorithm[-7:]
        return hashlib.new(name.replace("_", "").lower(), original).digest()
    # EXTERNAL_MU: FIPS 204's mu = SHAKE256(SHAKE256(pk, 64) || 0 || 0 || M, 64).
    hasher = mldsa.MLDSAMuHasher(pub)
    hasher.update(original)
    return hasher.finalize()


# ---------------------------------------------------------------------------------------------

def signing_keys():
    openssl_done = set()
    for spec, algorithms in SIGNING.items():
        if spec in REFUSED_SPECS:
            check_refused(f"SIGN_VERIFY {spec}: refused by the HSM, by name", LEADER.create_key,
                          "UnsupportedOperationException", contains="PKCS#11",
                          KeySpec=spec, KeyUsage="SIGN_VERIFY")
            continue
        key = {}
        with case(f"SIGN_VERIFY {spec}: CreateKey, DescribeKey, GetPublicKey"):
            md = create(LEADER, spec, "SIGN_VERIFY", Description=f"key types {spec}")
            key_id, arn = md["KeyId"], md["Arn"]
            expected = {"SigningAlgorithms": algorithms}
            check_metadata(md, spec, "SIGN_VERIFY", expected, "CreateKey")
            for where, node in NODES:
                check_metadata(node.describe_key(KeyId=key_id)["KeyMetadata"], spec, "SIGN_VERIFY",
                               expected, f"DescribeKey on the {where}")
            der, pub = public_key(FOLLOWER, key_id, spec, "SIGN_VERIFY", expected)
            der2, _ = public_key(LEADER, arn, spec, "SIGN_VERIFY", expected)
            assert der == der2, "GetPublicKey differs between leader and follower"
            check_key_type(pub, spec)
            key.update(key_id=key_id, arn=arn, der=der, pub=pub)
        if not key:
            continue
        key_id, arn, der, pub = key["key_id"], key["arn"], key["der"], key["pub"]
        original = f"the message for {spec}, signed by trent".encode() * 3
        for algorithm in algorithms:
            for message_type in message_types(algorithm):
                if message_type == "EXTERNAL_MU" and mldsa is None:
                    continue
                with case(f"Sign/Verify {spec} {algorithm} {message_type}"):
                    message = message_for(algorithm, message_type, original, pub)
                    for (signer_name, signer), (_, verifier) in zip(NODES, NODES[::-1]):
                        what = f"{spec} {algorithm} {message_type} signed on the {signer_name}"
                        got = signer.sign(KeyId=key_id, Message=message, MessageType=message_type,
                                          SigningAlgorithm=algorithm)
                        assert got["KeyId"] == arn, (what, "KeyId", got["KeyId"])
                        assert got["SigningAlgorithm"] == algorithm, (what, got["SigningAlgorithm"])
                        sig = got["Signature"]
                        try:
                            crypto_verify(pub, algorithm, message, sig, message_type, original)
                        except InvalidSignature:
                            raise AssertionError(f"{what}: cryptography says the signature is invalid") from None
                        if openssl_can(algorithm) and (spec, algorithm, message_type) not in openssl_done:
                            if message_type != "EXTERNAL_MU" and algorithm != "ED25519_PH_SHA_512":
                                openssl_verify(der, algorithm, original, sig, message_type)
                            elif algorithm == "ED25519_PH_SHA_512":
                                openssl_verify(der, algorithm, message, sig, message_type)
                            openssl_done.add((spec, algorithm, message_type))
                        ok = verifier.verify(KeyId=key_id, Message=message, MessageType=message_type,
                                             Signature=sig, SigningAlgorithm=algorithm)
                        assert ok["SignatureValid"] is True, (what, body(ok))
                        assert ok["KeyId"] == arn and ok["SigningAlgorithm"] == algorithm, body(ok)
                        # A tampered signature, and the right signature of another message.
                        refused(verifier.verify, "KMSInvalidSignatureException", KeyId=key_id,
                                Message=message, MessageType=message_type,
                                Signature=flip(sig, len(sig) // 2), SigningAlgorithm=algorithm)
                        refused(verifier.verify, "KMSInvalidSignatureException", KeyId=key_id,
                                Message=flip(message), MessageType=message_type,
                                Signature=sig, SigningAlgorithm=algorithm)
        with case(f"Sign/Verify {spec}: MessageType defaults to RAW; a 4096-byte message"):
            algorithm = algorithms[0]
            sig = LEADER.sign(KeyId=key_id, Message=original, SigningAlgorithm=algorithm)["Signature"]
            assert FOLLOWER.verify(KeyId=key_id, Message=original, Signature=sig,
                                   SigningAlgorithm=algorithm)["SignatureValid"] is True
            crypto_verify(pub, algorithm, original, sig, "RAW", original)
            big = os.urandom(4096)
            sig = FOLLOWER.sign(KeyId=key_id, Message=big, MessageType="RAW", SigningAlgorithm=algorithm)["Signature"]
            crypto_verify(pub, algorithm, big, sig, "RAW", big)
    NOTES.append(
        "openssl verified: " + ", ".join(sorted({f"{s}/{a}/{t}" for s, a, t in openssl_done}))
        if openssl_done else "openssl verified nothing"
    )


def check_refused(name, call, code, contains=None, **kwargs):
    """A case of its own: `call(**kwargs)` fails with `code`; a tuple of codes is a question
    AWS's documentation leaves open, and the code trent chose is noted."""
    with case(name):
        err = refused(call, code, contains, **kwargs)
        if isinstance(code, tuple):
            NOTES.append(f"{name}: trent answers {err['Code']}: {err.get('Message')}")


def message_type_rules():
    """The MessageType each algorithm refuses, per the Sign documentation."""
    ed = create(LEADER, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["KeyId"]
    ml = create(LEADER, "ML_DSA_44", "SIGN_VERIFY")["KeyId"]
    p256 = create(LEADER, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    either = ("ValidationException", "InvalidKeyUsageException")
    check_refused("ED25519_SHA_512 refuses DIGEST", LEADER.sign, either, KeyId=ed,
                  Message=hashlib.sha512(b"m").digest(), MessageType="DIGEST", SigningAlgorithm="ED25519_SHA_512")
    check_refused("ED25519_PH_SHA_512 refuses RAW", FOLLOWER.sign, either, KeyId=ed, Message=b"m",
                  MessageType="RAW", SigningAlgorithm="ED25519_PH_SHA_512")
    check_refused("ED25519_PH_SHA_512 DIGEST of 5 bytes", LEADER.sign, "ValidationException", KeyId=ed,
                  Message=b"short", MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    check_refused("ML_DSA_SHAKE_256 refuses DIGEST", LEADER.sign, either, KeyId=ml,
                  Message=hashlib.sha256(b"m").digest(), MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    check_refused("EXTERNAL_MU of 63 bytes", FOLLOWER.sign, "ValidationException", KeyId=ml, Message=b"\0" * 63,
                  MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    check_refused("ECDSA refuses EXTERNAL_MU", LEADER.sign, either, KeyId=p256, Message=b"\0" * 64,
                  MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256")


# ---------------------------------------------------------------------------------------------

OAEP_LIMITS = {
    ("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
    ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
    ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446,
}
OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def oaep(algorithm):
    h = OAEP_HASH[algorithm]
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)


def rsa_encryption():
    symmetric = LEADER.create_key()["KeyMetadata"]["KeyId"]
    for spec in ("RSA_2048", "RSA_4096"):
        key = {}
        with case(f"ENCRYPT_DECRYPT {spec}: CreateKey, DescribeKey, GetPublicKey"):
            md = create(FOLLOWER, spec, "ENCRYPT_DECRYPT")
            expected = {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]}
            check_metadata(md, spec, "ENCRYPT_DECRYPT", expected, "CreateKey")
            for where, node in NODES:
                check_metadata(node.describe_key(KeyId=md["KeyId"])["KeyMetadata"], spec, "ENCRYPT_DECRYPT",
                               expected, f"DescribeKey on the {where}")
            der, pub = public_key(LEADER, md["KeyId"], spec, "ENCRYPT_DECRYPT", expected)
            check_key_type(pub, spec)
            key.update(key_id=md["KeyId"], arn=md["Arn"], pub=pub)
        if not key:
            continue
        key_id, arn, pub = key["key_id"], key["arn"], key["pub"]
        modulus = pub.key_size // 8
        for algorithm in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
            limit = OAEP_LIMITS[(spec, algorithm)]
            if algorithm in REFUSED_ALGORITHMS:
                outside = pub.encrypt(b"refused", oaep(algorithm))
                check_refused(f"{spec} {algorithm}: Decrypt refused by the HSM, by name", LEADER.decrypt,
                              "UnsupportedOperationException", contains="PKCS#11", KeyId=key_id,
                              CiphertextBlob=outside, EncryptionAlgorithm=algorithm)
                check_refused(f"{spec} {algorithm}: Encrypt refused by the HSM, by name", FOLLOWER.encrypt,
                              "UnsupportedOperationException", contains="PKCS#11", KeyId=key_id,
                              Plaintext=b"x", EncryptionAlgorithm=algorithm)
                continue
            with case(f"{spec} {algorithm}: outside -> Decrypt, Encrypt -> Decrypt, up to {limit} bytes"):
                for size in (1, 32, limit):
                    plaintext = os.urandom(size)
                    # Made outside with cryptography, decrypted inside, on both nodes.
                    outside = pub.encrypt(plaintext, oaep(algorithm))
                    for where, node in NODES:
                        got = node.decrypt(KeyId=key_id, CiphertextBlob=outside, EncryptionAlgorithm=algorithm)
                        assert got["Plaintext"] == plaintext, (spec, algorithm, size, where)
                        assert got["KeyId"] == arn and got["EncryptionAlgorithm"] == algorithm, body(got)
                    # Made inside: the modulus's length, randomized, decrypted on the other node.
                    made = LEADER.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
                    assert made["KeyId"] == arn and made["EncryptionAlgorithm"] == algorithm, body(made)
                    blob = made["CiphertextBlob"]
                    assert len(blob) == modulus, (spec, algorithm, len(blob), modulus)
                    again = FOLLOWER.encrypt(KeyId=arn, Plaintext=plaintext, EncryptionAlgorithm=algorithm)
                    assert again["CiphertextBlob"] != blob, "OAEP must be randomized"
                    got = FOLLOWER.decrypt(KeyId=arn, CiphertextBlob=blob, EncryptionAlgorithm=algorithm)
                    assert got["Plaintext"] == plaintext, (spec, algorithm, size)
            for where, node in NODES:
                check_refused(f"{spec} {algorithm}: {limit + 1} bytes refused on the {where}", node.encrypt,
                              "ValidationException", KeyId=key_id, Plaintext=os.urandom(limit + 1),
                              EncryptionAlgorithm=algorithm)
        blob = pub.encrypt(b"sha-256", oaep("RSAES_OAEP_SHA_256"))
        check_refused(f"{spec}: an OAEP-SHA-256 ciphertext with RSAES_OAEP_SHA_1", LEADER.decrypt,
                      "InvalidCiphertextException", KeyId=key_id, CiphertextBlob=blob,
                      EncryptionAlgorithm="RSAES_OAEP_SHA_1")
        # SHA-1's decryption when the HSM refuses SHA-256's.
        tampered = "RSAES_OAEP_SHA_256" if "RSAES_OAEP_SHA_256" not in REFUSED_ALGORITHMS else "RSAES_OAEP_SHA_1"
        check_refused(f"{spec}: a tampered ciphertext", FOLLOWER.decrypt, "InvalidCiphertextException",
                      KeyId=key_id, CiphertextBlob=flip(blob, 5), EncryptionAlgorithm=tampered)
        # Without EncryptionAlgorithm (so SYMMETRIC_DEFAULT), the documentation names no code.
        check_refused(f"{spec}: Decrypt with KeyId, no EncryptionAlgorithm", LEADER.decrypt,
                      ("InvalidKeyUsageException", "InvalidCiphertextException"), KeyId=key_id, CiphertextBlob=blob)
        check_refused(f"{spec}: Decrypt with no KeyId, no EncryptionAlgorithm", LEADER.decrypt,
                      ("InvalidCiphertextException", "InvalidKeyUsageException"), CiphertextBlob=blob)
        # An algorithm the key does not have is InvalidKeyUsageException (AWS: "Algorithm
        # SYMMETRIC_DEFAULT is incompatible with key spec RSA_4096.").
        check_refused(f"{spec}: Decrypt with EncryptionAlgorithm SYMMETRIC_DEFAULT", FOLLOWER.decrypt,
                      "InvalidKeyUsageException", KeyId=key_id, CiphertextBlob=blob,
                      EncryptionAlgorithm="SYMMETRIC_DEFAULT")
        check_refused(f"{spec}: Encrypt without EncryptionAlgorithm", LEADER.encrypt, "InvalidKeyUsageException",
                      KeyId=key_id, Plaintext=b"x")
        check_refused(f"{spec}: a symmetric key with RSAES_OAEP_SHA_256", LEADER.encrypt,
                      "InvalidKeyUsageException", KeyId=symmetric, Plaintext=b"x",
                      EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        check_refused(f"{spec}: Sign with an ENCRYPT_DECRYPT RSA key", FOLLOWER.sign, "InvalidKeyUsageException",
                      KeyId=key_id, Message=b"x", SigningAlgorithm="RSASSA_PSS_SHA_256")
        check_refused(f"{spec}: GenerateDataKey under an RSA key", LEADER.generate_data_key,
                      "InvalidKeyUsageException", KeyId=key_id, KeySpec="AES_256")
        with case(f"{spec}: ReEncrypt from RSA to symmetric and back"):
            re = FOLLOWER.re_encrypt(CiphertextBlob=pub.encrypt(b"moved", oaep("RSAES_OAEP_SHA_1")),
                                     SourceKeyId=key_id, SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                                     DestinationKeyId=symmetric)
            assert LEADER.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"moved"
            assert re.get("SourceEncryptionAlgorithm") == "RSAES_OAEP_SHA_1", body(re)
            assert re.get("SourceKeyId") == arn, body(re)
            if "RSAES_OAEP_SHA_256" in REFUSED_ALGORITHMS:
                return
            back = LEADER.re_encrypt(CiphertextBlob=re["CiphertextBlob"], DestinationKeyId=key_id,
                                     DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
            assert back.get("DestinationEncryptionAlgorithm") == "RSAES_OAEP_SHA_256", body(back)
            assert len(back["CiphertextBlob"]) == modulus
            got = FOLLOWER.decrypt(KeyId=key_id, CiphertextBlob=back["CiphertextBlob"],
                                   EncryptionAlgorithm="RSAES_OAEP_SHA_256")
            assert got["Plaintext"] == b"moved"


# ---------------------------------------------------------------------------------------------

def hmac_keys():
    for bits in (224, 256, 384, 512):
        spec, algorithm = f"HMAC_{bits}", f"HMAC_SHA_{bits}"
        with case(f"GENERATE_VERIFY_MAC {spec}"):
            md = create(LEADER, spec, "GENERATE_VERIFY_MAC")
            key_id, arn = md["KeyId"], md["Arn"]
            expected = {"MacAlgorithms": [algorithm]}
            for where, node in NODES:
                check_metadata(node.describe_key(KeyId=key_id)["KeyMetadata"], spec, "GENERATE_VERIFY_MAC",
                               expected, f"DescribeKey on the {where}")
            message = f"the message for {spec}".encode()
            macs = []
            for where, node in NODES:
                got = node.generate_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm)
                assert got["KeyId"] == arn and got["MacAlgorithm"] == algorithm, body(got)
                assert len(got["Mac"]) == bits // 8, (spec, len(got["Mac"]))
                macs.append(got["Mac"])
            assert macs[0] == macs[1], "HMAC is deterministic: the leader and the follower agree"
            mac = macs[0]
            for where, node in NODES:
                ok = node.verify_mac(KeyId=key_id, Message=message, MacAlgorithm=algorithm, Mac=mac)
                assert ok["MacValid"] is True and ok["KeyId"] == arn and ok["MacAlgorithm"] == algorithm, body(ok)
            other = LEADER.generate_mac(KeyId=key_id, Message=message + b"!", MacAlgorithm=algorithm)["Mac"]
            assert other != mac
            for bad in (flip(mac), flip(mac, len(mac) - 1), other, mac[:-1]):
                refused(FOLLOWER.verify_mac, "KMSInvalidMacException", KeyId=key_id, Message=message,
                        MacAlgorithm=algorithm, Mac=bad)
            refused(LEADER.verify_mac, "KMSInvalidMacException", KeyId=key_id, Message=flip(message),
                    MacAlgorithm=algorithm, Mac=mac)
            # A 4096-byte message is allowed.
            LEADER.generate_mac(KeyId=key_id, Message=os.urandom(4096), MacAlgorithm=algorithm)
            wrong = "HMAC_SHA_256" if bits != 256 else "HMAC_SHA_384"
            refused(LEADER.generate_mac, "InvalidKeyUsageException", KeyId=key_id, Message=message, MacAlgorithm=wrong)
            refused(FOLLOWER.encrypt, "InvalidKeyUsageException", KeyId=key_id, Plaintext=b"x")
            refused(LEADER.sign, "InvalidKeyUsageException", KeyId=key_id, Message=b"x", SigningAlgorithm="ECDSA_SHA_256")
        check_refused(f"GetPublicKey of an {spec} key", LEADER.get_public_key,
                      ("UnsupportedOperationException", "InvalidKeyUsageException"), KeyId=key_id)
    with case("HMAC against Python's hmac (imported key material)"):
        hmac_with_imported_material()


def hmac_with_imported_material():
    """An HMAC_256 key whose material is imported: the MAC must be Python's hmac's."""
    import hmac as pyhmac

    try:
        md = LEADER.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Origin="EXTERNAL")["KeyMetadata"]
        params = LEADER.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                                  WrappingKeySpec="RSA_2048")
    except ClientError as e:
        if e.response["Error"]["Code"] in ("UnsupportedOperationException", "UnknownOperationException"):
            raise Skip(f"this cluster does not import key material: {e.response['Error']}") from None
        raise
    secret = os.urandom(32)
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    LEADER.import_key_material(KeyId=md["KeyId"], ImportToken=params["ImportToken"],
                               EncryptedKeyMaterial=wrapping.encrypt(secret, oaep("RSAES_OAEP_SHA_256")),
                               ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    message = b"checked against Python's hmac"
    mac = FOLLOWER.generate_mac(KeyId=md["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == pyhmac.new(secret, message, hashlib.sha256).digest()


# ---------------------------------------------------------------------------------------------

def key_agreement():
    keys = {}
    for spec in ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"):
        with case(f"KEY_AGREEMENT {spec}"):
            md = create(LEADER, spec, "KEY_AGREEMENT")
            key_id, arn = md["KeyId"], md["Arn"]
            keys[spec] = key_id
            expected = {"KeyAgreementAlgorithms": ["ECDH"]}
            for where, node in NODES:
                check_metadata(node.describe_key(KeyId=key_id)["KeyMetadata"], spec, "KEY_AGREEMENT",
                               expected, f"DescribeKey on the {where}")
            der, pub = public_key(FOLLOWER, key_id, spec, "KEY_AGREEMENT", expected)
            check_key_type(pub, spec)
            for where, node in NODES:
                mine = ec.generate_private_key(CURVES[spec]())
                mine_der = mine.public_key().public_bytes(
                    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                got = node.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=mine_der)
                outside = mine.exchange(ec.ECDH(), pub)
                assert got["SharedSecret"] == outside, (spec, where, "ECDH secret differs from cryptography's")
                assert got["KeyId"] == arn and got["KeyAgreementAlgorithm"] == "ECDH", body(got)
                assert got.get("KeyOrigin") == "AWS_KMS", body(got)
            refused(LEADER.sign, "InvalidKeyUsageException", KeyId=key_id, Message=b"x",
                    SigningAlgorithm=SIGNING[spec][0])
            refused(FOLLOWER.encrypt, "InvalidKeyUsageException", KeyId=key_id, Plaintext=b"x")
    with case("DeriveSharedSecret refusals: wrong curve, not a key, wrong usage"):
        p256 = keys.get("ECC_NIST_P256") or create(LEADER, "ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
        p384_der = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for _, node in NODES:
            refused(node.derive_shared_secret, "ValidationException", KeyId=p256,
                    KeyAgreementAlgorithm="ECDH", PublicKey=p384_der)
            refused(node.derive_shared_secret, "ValidationException", KeyId=p256,
                    KeyAgreementAlgorithm="ECDH", PublicKey=b"not a public key")
        k1_der = ec.generate_private_key(ec.SECP256K1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        refused(LEADER.derive_shared_secret, "ValidationException", KeyId=p256,
                KeyAgreementAlgorithm="ECDH", PublicKey=k1_der)
        signer = create(LEADER, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
        p256_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        refused(FOLLOWER.derive_shared_secret, "InvalidKeyUsageException", KeyId=signer,
                KeyAgreementAlgorithm="ECDH", PublicKey=p256_der)


# ---------------------------------------------------------------------------------------------

MLKEM_SIZES = {"ML_KEM_512": (800, 768), "ML_KEM_768": (1184, 1088), "ML_KEM_1024": (1568, 1568)}


def ml_kem():
    for spec, (pk_len, ct_len) in MLKEM_SIZES.items():
        with case(f"ENCAPSULATE_DECAPSULATE {spec}"):
            md = create(FOLLOWER, spec, "ENCAPSULATE_DECAPSULATE")
            key_id, arn = md["KeyId"], md["Arn"]
            expected = {"EncapsulationAlgorithms": ["ML_KEM"]}
            for where, node in NODES:
                check_metadata(node.describe_key(KeyId=key_id)["KeyMetadata"], spec, "ENCAPSULATE_DECAPSULATE",
                               expected, f"DescribeKey on the {where}")
            got = LEADER.get_public_key(KeyId=key_id)
            check_metadata(got, spec, "ENCAPSULATE_DECAPSULATE", expected, "GetPublicKey")
            der = got["PublicKey"]
            assert len(der) == pk_len + 22, (spec, "SPKI length", len(der))
            for (_, encapsulator), (_, decapsulator) in zip(NODES, NODES[::-1]):
                enc = encapsulator.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
                assert enc["KeyId"] == arn and enc["EncapsulationAlgorithm"] == "ML_KEM", body(enc)
                secret, ct = enc["SharedSecret"], enc["SharedSecretCiphertextBlob"]
                assert len(secret) == 32 and len(ct) == ct_len, (spec, len(secret), len(ct))
                dec = decapsulator.decapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM",
                                               SharedSecretCiphertextBlob=ct)
                assert dec["SharedSecret"] == secret, (spec, "Decapsulate differs from Encapsulate")
                assert dec["KeyId"] == arn and dec["EncapsulationAlgorithm"] == "ML_KEM", body(dec)
            # ML-KEM rejects implicitly: a tampered ciphertext gives another secret (or AWS
            # refuses it).
            try:
                bad = LEADER.decapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM",
                                         SharedSecretCiphertextBlob=flip(ct, 7))
                assert bad["SharedSecret"] != secret
            except ClientError as e:
                assert e.response["Error"]["Code"] == "InvalidCiphertextException", e.response["Error"]
            refused(FOLLOWER.decapsulate, ("InvalidCiphertextException", "ValidationException"), KeyId=key_id,
                    EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=ct[:-1])
            refused(LEADER.encrypt, "InvalidKeyUsageException", KeyId=key_id, Plaintext=b"x")
            # Encapsulated outside, to GetPublicKey's key, decapsulated inside.
            cls = getattr(mlkem, f"MLKEM{spec.split('_')[-1]}PublicKey", None) if mlkem else None
            if cls is None:
                raise Skip(f"cryptography {__import__('cryptography').__version__} has no {spec}: "
                           "only trent's own Encapsulate/Decapsulate round trip was checked")
            pub = serialization.load_der_public_key(der)
            assert isinstance(pub, cls), pub
            for where, node in NODES:
                outside_secret, outside_ct = pub.encapsulate()
                dec = node.decapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM",
                                       SharedSecretCiphertextBlob=outside_ct)
                assert dec["SharedSecret"] == outside_secret, (spec, where, "outside encapsulation")
    with case("Encapsulate refusals"):
        symmetric = LEADER.create_key()["KeyMetadata"]["KeyId"]
        refused(LEADER.encapsulate, "InvalidKeyUsageException", KeyId=symmetric, EncapsulationAlgorithm="ML_KEM")
        rsa_key = create(LEADER, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
        refused(FOLLOWER.encapsulate, "InvalidKeyUsageException", KeyId=rsa_key, EncapsulationAlgorithm="ML_KEM")


# ---------------------------------------------------------------------------------------------

PAIR_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
              "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"]


def data_key_pairs():
    wrapping = LEADER.create_key(Description="wraps data key pairs")["KeyMetadata"]
    key_id, arn = wrapping["KeyId"], wrapping["Arn"]
    context = {"purpose": "key types"}
    for spec in PAIR_SPECS:
        if spec in REFUSED_SPECS:
            check_refused(f"GenerateDataKeyPair {spec}: refused by the HSM, by name", LEADER.generate_data_key_pair,
                          "UnsupportedOperationException", contains="PKCS#11", KeyId=key_id, KeyPairSpec=spec)
            continue
        with case(f"GenerateDataKeyPair {spec}"):
            for (_, maker), (_, opener) in zip(NODES, NODES[::-1]):
                got = maker.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec, EncryptionContext=context)
                assert got["KeyId"] == arn and got["KeyPairSpec"] == spec, body(got)
                pkcs8, pub_der = got["PrivateKeyPlaintext"], got["PublicKey"]
                opened = opener.decrypt(CiphertextBlob=got["PrivateKeyCiphertextBlob"], EncryptionContext=context)
                assert opened["Plaintext"] == pkcs8 and opened["KeyId"] == arn
                refused(opener.decrypt, "InvalidCiphertextException", CiphertextBlob=got["PrivateKeyCiphertextBlob"])
                check_pair(spec, pkcs8, pub_der)
                bare = opener.generate_data_key_pair_without_plaintext(KeyId=arn, KeyPairSpec=spec,
                                                                       EncryptionContext=context)
                assert "PrivateKeyPlaintext" not in bare, sorted(bare)
                assert bare["KeyId"] == arn and bare["KeyPairSpec"] == spec, body(bare)
                pkcs8 = maker.decrypt(CiphertextBlob=bare["PrivateKeyCiphertextBlob"], EncryptionContext=context)["Plaintext"]
                check_pair(spec, pkcs8, bare["PublicKey"])
    with case("GenerateDataKeyPair refusals"):
        rsa_key = create(LEADER, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
        refused(LEADER.generate_data_key_pair, "InvalidKeyUsageException", KeyId=rsa_key, KeyPairSpec="ECC_NIST_P256")
        refused(FOLLOWER.generate_data_key_pair_without_plaintext, "InvalidKeyUsageException", KeyId=rsa_key,
                KeyPairSpec="ECC_NIST_P256")
        refused(LEADER.generate_data_key_pair, ("UnsupportedOperationException", "ValidationException"),
                KeyId=key_id, KeyPairSpec="SM2")


def der(data, at=0):
    """One DER element at `at`: (tag, contents, the offset after it)."""
    tag, length, at = data[at], data[at + 1], at + 2
    if length & 0x80:
        n = length & 0x7F
        length, at = int.from_bytes(data[at:at + n], "big"), at + n
    return tag, data[at:at + length], at + length


MLKEM_OID = {"ML_KEM_512": "608648016503040401", "ML_KEM_768": "608648016503040402",
             "ML_KEM_1024": "608648016503040403"}


def check_mlkem_pair(spec, pkcs8, pub_der):
    """An ML-KEM data key pair (RFC 9xxx, ML-KEM in X.509: the private key is the 64-byte seed
    [0], the expanded decapsulation key, or both). cryptography loads only the seed form, of
    768 and 1024; the expanded key is checked for its structure instead: it holds the
    encapsulation key, which must be PublicKey's, and that key's SHA3-256. Answers True when
    nothing is left for cryptography to check."""
    k = {"ML_KEM_512": 2, "ML_KEM_768": 3, "ML_KEM_1024": 4}[spec]
    assert len(pub_der) == MLKEM_SIZES[spec][0] + 22, (spec, "SPKI length", len(pub_der))
    ek = pub_der[22:]
    assert pub_der[6:17].hex() == "0609" + MLKEM_OID[spec], (spec, "SPKI OID", pub_der[:22].hex())
    tag, info, _ = der(pkcs8)
    assert tag == 0x30, (spec, "PKCS#8 is not a SEQUENCE")
    tag, version, at = der(info)
    assert tag == 0x02 and version in (b"\0", b"\1"), (spec, "PKCS#8 version", version)
    tag, algorithm, at = der(info, at)
    assert tag == 0x30 and algorithm.hex() == "0609" + MLKEM_OID[spec], (spec, "PKCS#8 algorithm", algorithm.hex())
    tag, private, at = der(info, at)
    assert tag == 0x04, (spec, "PKCS#8 privateKey is not an OCTET STRING")
    tag, inner, _ = der(private)
    seed = expanded = None
    if tag == 0x80:
        seed = inner
    elif tag == 0x04:
        expanded = inner
    elif tag == 0x30:
        _, seed, at = der(inner)
        _, expanded, _ = der(inner, at)
    else:
        raise AssertionError(f"{spec}: unknown ML-KEM private key form, tag {tag:#x}")
    if expanded is not None:
        assert len(expanded) == 768 * k + 96, (spec, "expanded key length", len(expanded))
        assert expanded[384 * k:768 * k + 32] == ek, (spec, "the expanded key holds another public key")
        assert expanded[768 * k + 32:768 * k + 64] == hashlib.sha3_256(ek).digest(), (spec, "H(ek)")
    form = "seed and expanded key" if seed is not None and expanded is not None else (
        "seed" if seed is not None else "expanded key only")
    NOTES.append(f"{spec} data key pair: PKCS#8 private key form: {form}")
    cls = getattr(mlkem, f"MLKEM{k * 256}PrivateKey", None) if mlkem else None
    if seed is None or cls is None:
        return True
    assert len(seed) == 64, (spec, "seed length", len(seed))
    private = cls.from_seed_bytes(seed)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert private.public_key().public_bytes(*spki) == pub_der, (spec, "PublicKey is not the seed's")
    secret, ct = serialization.load_der_public_key(pub_der).encapsulate()
    assert private.decapsulate(ct) == secret
    return True


def check_pair(spec, pkcs8, pub_der):
    """The private key loads as PKCS#8 and its public key is PublicKey (a DER SPKI)."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if spec.startswith("ML_KEM_"):
        if check_mlkem_pair(spec, pkcs8, pub_der):
            return
    try:
        private = serialization.load_der_private_key(pkcs8, password=None)
    except ValueError as e:
        raise AssertionError(f"{spec}: PrivateKeyPlaintext ({len(pkcs8)} bytes, {pkcs8[:32].hex()}...) "
                             f"is not PKCS#8 cryptography loads: {e}") from None
    assert private.public_key().public_bytes(*spki) == pub_der, (spec, "PublicKey is not the private key's")
    public = serialization.load_der_public_key(pub_der)
    if spec in RSA_BITS:
        assert private.key_size == RSA_BITS[spec], (spec, private.key_size)
        sig = private.sign(b"pair", padding.PKCS1v15(), hashes.SHA256())
        public.verify(sig, b"pair", padding.PKCS1v15(), hashes.SHA256())
    elif spec in CURVES:
        assert isinstance(private.curve, CURVES[spec]), (spec, private.curve.name)
        public.verify(private.sign(b"pair", ec.ECDSA(hashes.SHA256())), b"pair", ec.ECDSA(hashes.SHA256()))
    elif spec == "ECC_NIST_EDWARDS25519":
        assert isinstance(private, ed25519.Ed25519PrivateKey), private
        public.verify(private.sign(b"pair"), b"pair")
    else:
        secret, ct = public.encapsulate()
        assert private.decapsulate(ct) == secret


# ---------------------------------------------------------------------------------------------

def key_ids():
    ids, marker = set(), None
    while True:
        page = LEADER.list_keys(**({"Marker": marker} if marker else {}))
        ids |= {k["KeyId"] for k in page["Keys"]}
        if not page.get("Truncated"):
            return ids
        marker = page["NextMarker"]


def bad_input():
    symmetric = LEADER.create_key()["KeyMetadata"]["KeyId"]
    signer = create(LEADER, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    rsa_signer = create(LEADER, "RSA_2048", "SIGN_VERIFY")["KeyId"]
    before = key_ids()
    check_refused("CreateKey RSA_2048 GENERATE_VERIFY_MAC", LEADER.create_key, "ValidationException",
                  "KeyUsage GENERATE_VERIFY_MAC is not compatible with KeySpec RSA_2048",
                  KeySpec="RSA_2048", KeyUsage="GENERATE_VERIFY_MAC")
    for spec, usage in (("HMAC_256", "SIGN_VERIFY"), ("HMAC_256", "ENCRYPT_DECRYPT"),
                        ("ECC_SECG_P256K1", "KEY_AGREEMENT"), ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
                        ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"), ("ML_DSA_65", "ENCRYPT_DECRYPT"),
                        ("ML_KEM_768", "SIGN_VERIFY"), ("RSA_3072", "KEY_AGREEMENT"),
                        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY")):
        check_refused(f"CreateKey {spec} {usage}", FOLLOWER.create_key, "ValidationException",
                      f"KeyUsage {usage} is not compatible with KeySpec {spec}", KeySpec=spec, KeyUsage=usage)
    check_refused("Sign with a symmetric key", LEADER.sign, "InvalidKeyUsageException", KeyId=symmetric,
                  Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    check_refused("Sign ECC_NIST_P256 with RSASSA_PSS_SHA_256", FOLLOWER.sign, "InvalidKeyUsageException",
                  KeyId=signer, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    check_refused("Sign RSA_2048 with ECDSA_SHA_256", LEADER.sign, "InvalidKeyUsageException", KeyId=rsa_signer,
                  Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    check_refused("Sign ECDSA_SHA_256 DIGEST of 31 bytes", LEADER.sign, "ValidationException", KeyId=signer,
                  Message=b"\1" * 31, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    check_refused("Verify ECDSA_SHA_256 DIGEST of 33 bytes", FOLLOWER.verify, "ValidationException",
                  KeyId=signer, Message=b"\1" * 33, MessageType="DIGEST", Signature=b"\0" * 70,
                  SigningAlgorithm="ECDSA_SHA_256")
    check_refused("Sign RSASSA_PSS_SHA_384 DIGEST of 32 bytes", LEADER.sign, "ValidationException",
                  KeyId=rsa_signer, Message=b"\1" * 32, MessageType="DIGEST", SigningAlgorithm="RSASSA_PSS_SHA_384")
    check_refused("Sign a 4097-byte RAW message", LEADER.sign, "ValidationException", KeyId=signer,
                  Message=os.urandom(4097), MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    check_refused("Verify a 4097-byte RAW message", FOLLOWER.verify, "ValidationException", KeyId=signer,
                  Message=os.urandom(4097), MessageType="RAW", Signature=b"\0" * 70, SigningAlgorithm="ECDSA_SHA_256")
    check_refused("GenerateMac of a 4097-byte message", FOLLOWER.generate_mac, "ValidationException",
                  KeyId=signer, Message=os.urandom(4097), MacAlgorithm="HMAC_SHA_256")
    check_refused("Encrypt with a SIGN_VERIFY key", LEADER.encrypt, "InvalidKeyUsageException", KeyId=signer,
                  Plaintext=b"p")
    check_refused("Encrypt with a SIGN_VERIFY RSA key and RSAES_OAEP_SHA_256", LEADER.encrypt,
                  "InvalidKeyUsageException", KeyId=rsa_signer, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    check_refused("GenerateMac with a signing key", FOLLOWER.generate_mac, "InvalidKeyUsageException",
                  KeyId=signer, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    check_refused("GenerateMac with a symmetric key", LEADER.generate_mac, "InvalidKeyUsageException",
                  KeyId=symmetric, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    check_refused("VerifyMac with a signing key", LEADER.verify_mac, "InvalidKeyUsageException", KeyId=signer,
                  Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=b"\0" * 32)
    check_refused("GetPublicKey of a symmetric key", LEADER.get_public_key,
                  ("UnsupportedOperationException", "InvalidKeyUsageException"), KeyId=symmetric)
    check_refused("Decapsulate with a signing key", FOLLOWER.decapsulate, "InvalidKeyUsageException",
                  KeyId=signer, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=b"\0" * 768)
    check_refused("Sign with a key that does not exist", LEADER.sign, "NotFoundException",
                  KeyId="00000000-0000-0000-0000-000000000000", Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with case("the refused requests changed nothing"):
        after = key_ids()
        assert after == before, f"refused requests changed the key list: {sorted(after ^ before)}"
        for key in (symmetric, signer, rsa_signer):
            assert FOLLOWER.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
    with case("DryRun on every new operation"):
        dry_runs()


def dry_runs():
    signer = create(LEADER, "ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
    mac = create(LEADER, "HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
    agree = create(LEADER, "ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
    kem = create(LEADER, "ML_KEM_512", "ENCAPSULATE_DECAPSULATE")["KeyId"]
    rsa_key = create(LEADER, "RSA_2048", "ENCRYPT_DECRYPT")["KeyId"]
    symmetric = LEADER.create_key()["KeyMetadata"]["KeyId"]
    sig = LEADER.sign(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    tag = LEADER.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    ct = LEADER.encapsulate(KeyId=kem, EncapsulationAlgorithm="ML_KEM")["SharedSecretCiphertextBlob"]
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    rsa_ct = LEADER.encrypt(KeyId=rsa_key, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    calls = [
        (LEADER.sign, dict(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
        (FOLLOWER.sign, dict(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")),
        (LEADER.verify, dict(KeyId=signer, Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")),
        (FOLLOWER.generate_mac, dict(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_256")),
        (LEADER.verify_mac, dict(KeyId=mac, Message=b"m", Mac=tag, MacAlgorithm="HMAC_SHA_256")),
        (LEADER.derive_shared_secret, dict(KeyId=agree, KeyAgreementAlgorithm="ECDH", PublicKey=peer)),
        (FOLLOWER.encapsulate, dict(KeyId=kem, EncapsulationAlgorithm="ML_KEM")),
        (LEADER.decapsulate, dict(KeyId=kem, EncapsulationAlgorithm="ML_KEM", SharedSecretCiphertextBlob=ct)),
        (LEADER.generate_data_key_pair, dict(KeyId=symmetric, KeyPairSpec="ECC_NIST_P256")),
        (FOLLOWER.generate_data_key_pair_without_plaintext, dict(KeyId=symmetric, KeyPairSpec="RSA_2048")),
        (LEADER.encrypt, dict(KeyId=rsa_key, Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
        (FOLLOWER.decrypt, dict(KeyId=rsa_key, CiphertextBlob=rsa_ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")),
    ]
    for call, kwargs in calls:
        where = "leader" if call.__self__ is LEADER else "follower"
        check_refused(f"DryRun {call.__name__} on the {where}", call, "DryRunOperationException",
                      DryRun=True, **kwargs)
    # A dry run that would fail answers that failure, not DryRunOperationException.
    refused(LEADER.sign, "InvalidKeyUsageException", DryRun=True, KeyId=symmetric, Message=b"m",
            SigningAlgorithm="ECDSA_SHA_256")


# ---------------------------------------------------------------------------------------------

def refused_by_the_hsm():
    """ML-KEM keys, when the cluster's HSM refuses them by name (TRENT_REFUSED_SPECS): each
    CreateKey an UnsupportedOperationException."""
    for spec in sorted(REFUSED_SPECS):
        if spec.startswith("ML_KEM"):
            check_refused(f"ENCAPSULATE_DECAPSULATE {spec}: refused by the HSM, by name", LEADER.create_key,
                          "UnsupportedOperationException", contains="PKCS#11", KeySpec=spec,
                          KeyUsage="ENCAPSULATE_DECAPSULATE")


def find_aws_cli():
    """The AWS CLI: v2 if the machine has it (TRENT_AWS_CLI, else `aws` on PATH), else v1 from
    this venv."""
    candidates = [os.environ.get("TRENT_AWS_CLI"), shutil.which("aws"), str(Path(sys.executable).parent / "aws")]
    found = []
    for c in candidates:
        if not c or not Path(c).exists():
            continue
        done = subprocess.run([c, "--version"], capture_output=True, timeout=60)
        version = (done.stdout + done.stderr).decode().strip()
        if done.returncode == 0:
            found.append((c, version))
    for c, version in found:
        if version.startswith("aws-cli/2"):
            return c, version
    return found[-1] if found else (None, None)


def aws_cli():
    with case("the AWS CLI: sign/verify (ECC_NIST_P256), generate-mac/verify-mac (HMAC_256)"):
        cli, version = find_aws_cli()
        if cli is None:
            raise Skip("no AWS CLI")
        NOTES.append(f"AWS CLI used: {cli}: {version}")
        home = WORK / "cli"
        home.mkdir(exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(home / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_PAGER": "",
        }
        q = shlex.quote

        def sh(script, endpoint):
            done = subprocess.run(
                ["bash", "-o", "pipefail", "-c", f"{q(cli)} --endpoint-url {q(endpoint)} {script}"],
                env=env, cwd=home, capture_output=True, timeout=120,
            )
            return done.returncode, done.stdout.decode(), done.stderr.decode()

        leader, follower = ENDPOINTS[0], ENDPOINTS[1 % len(ENDPOINTS)]
        rc, out, err = sh("kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY "
                          "--query KeyMetadata.KeyId --output text", leader)
        assert rc == 0, err
        key_id = out.strip()
        (home / "msg").write_bytes(b"signed through the AWS CLI\n")
        rc, out, err = sh(f"kms sign --key-id {q(key_id)} --message fileb://msg --message-type RAW "
                          "--signing-algorithm ECDSA_SHA_256 --query Signature --output text | base64 -d > sig",
                          follower)
        assert rc == 0, err
        rc, out, err = sh(f"kms verify --key-id {q(key_id)} --message fileb://msg --message-type RAW "
                          "--signing-algorithm ECDSA_SHA_256 --signature fileb://sig "
                          "--query SignatureValid --output text", leader)
        assert rc == 0 and out.strip() == "True", (rc, out, err)
        rc, out, err = sh(f"kms get-public-key --key-id {q(key_id)} --query PublicKey --output text "
                          "| base64 -d > pub.der", follower)
        assert rc == 0, err
        pub = serialization.load_der_public_key((home / "pub.der").read_bytes())
        pub.verify((home / "sig").read_bytes(), (home / "msg").read_bytes(), ec.ECDSA(hashes.SHA256()))
        (home / "bad").write_bytes(flip((home / "sig").read_bytes(), 10))
        rc, out, err = sh(f"kms verify --key-id {q(key_id)} --message fileb://msg --message-type RAW "
                          "--signing-algorithm ECDSA_SHA_256 --signature fileb://bad", follower)
        assert rc != 0 and "KMSInvalidSignatureException" in err, (rc, out, err)

        rc, out, err = sh("kms create-key --key-spec HMAC_256 --key-usage GENERATE_VERIFY_MAC "
                          "--query KeyMetadata.KeyId --output text", follower)
        assert rc == 0, err
        mac_key = out.strip()
        rc, out, err = sh(f"kms generate-mac --key-id {q(mac_key)} --message fileb://msg "
                          "--mac-algorithm HMAC_SHA_256 --query Mac --output text | base64 -d > mac", leader)
        assert rc == 0, err
        assert len((home / "mac").read_bytes()) == 32
        rc, out, err = sh(f"kms verify-mac --key-id {q(mac_key)} --message fileb://msg "
                          "--mac-algorithm HMAC_SHA_256 --mac fileb://mac --query MacValid --output text", follower)
        assert rc == 0 and out.strip() == "True", (rc, out, err)
        (home / "badmac").write_bytes(flip((home / "mac").read_bytes()))
        rc, out, err = sh(f"kms verify-mac --key-id {q(mac_key)} --message fileb://msg "
                          "--mac-algorithm HMAC_SHA_256 --mac fileb://badmac", leader)
        assert rc != 0 and "KMSInvalidMacException" in err, (rc, out, err)


def encryption_sdk_rsa_keyring():
    with case("the AWS Encryption SDK's AwsKmsRsaKeyring (RSA_2048 in trent)"):
        try:
            import aws_encryption_sdk
            from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
            from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
            from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsRsaKeyringInput
            from aws_encryption_sdk.identifiers import AlgorithmSuite, CommitmentPolicy
        except ImportError as e:
            raise Skip(f"the Material Providers Library is not installed: {e}") from None
        md = create(LEADER, "RSA_2048", "ENCRYPT_DECRYPT")
        arn = md["Arn"]
        pem = serialization.load_der_public_key(LEADER.get_public_key(KeyId=arn)["PublicKey"]).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        mpl = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
        esdk = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        context = {"tenant": "key-types"}
        for algorithm in ("RSAES_OAEP_SHA_256", "RSAES_OAEP_SHA_1"):
            # Encrypting needs only the public key; decrypting is trent's Decrypt (the follower's).
            encrypting = mpl.create_aws_kms_rsa_keyring(input=CreateAwsKmsRsaKeyringInput(
                public_key=pem, kms_key_id=arn, encryption_algorithm=algorithm, kms_client=LEADER))
            decrypting = mpl.create_aws_kms_rsa_keyring(input=CreateAwsKmsRsaKeyringInput(
                kms_key_id=arn, encryption_algorithm=algorithm, kms_client=FOLLOWER))
            plaintext = os.urandom(3000)
            ciphertext, _ = esdk.encrypt(
                source=plaintext, keyring=encrypting, encryption_context=context,
                algorithm=AlgorithmSuite.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            )
            decrypted, header = esdk.decrypt(source=ciphertext, keyring=decrypting, encryption_context=context)
            assert decrypted == plaintext, algorithm
            assert header.encryption_context.get("tenant") == "key-types", header.encryption_context


def main():
    _self_test_ed25519()
    import cryptography

    NOTES.append(
        f"cryptography {cryptography.__version__}: ML-DSA {'yes' if mldsa else 'no'}, ML-KEM "
        + (", ".join(n[5:-9] for n in dir(mlkem) if n.endswith("PublicKey")) if mlkem else "no")
        + f"; {openssl('version').stdout.decode().strip() if OPENSSL else 'no openssl'}: Ed25519ph "
        + f"{'yes' if OPENSSL_ED25519PH else 'no'}, ML-DSA {'yes' if OPENSSL_MLDSA else 'no'}"
    )
    only = set(filter(None, os.environ.get("TRENT_KEY_TYPES_ONLY", "").split(",")))
    sections = [signing_keys, message_type_rules, rsa_encryption, hmac_keys, key_agreement, ml_kem,
                data_key_pairs, bad_input, aws_cli, encryption_sdk_rsa_keyring, refused_by_the_hsm]
    for section in sections:
        if not only or section.__name__ in only:
            with case(f"[section {section.__name__}]"):
                section()
    print()
    for note in dict.fromkeys(NOTES):
        print(f"note: {note}")
    for name, why in SKIPPED:
        print(f"skipped: {name}: {why}")
    for name, detail in FAILED:
        print(f"FAILED: {name}: {detail}")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed, {len(SKIPPED)} skipped")
    shutil.rmtree(WORK, ignore_errors=True)
    if FAILED:
        sys.exit(1)
    print("all key type cases passed")


if __name__ == "__main__":
    main()
