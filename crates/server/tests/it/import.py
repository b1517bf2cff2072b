"""Imported key material (BYOK) through boto3 against the leader and a follower of a 3-node
cluster, with the material wrapped OUTSIDE trent, by the `openssl` command line (as AWS's guide
does it) and by pyca/cryptography, with each wrapping algorithm, and every result checked
outside trent too: a ciphertext of an imported symmetric key opened locally with the material
(trent's blob format, docs/ARCHITECTURE.md), an imported HMAC key's MAC against Python's hmac,
imported ECC and RSA keys' signatures and public keys against the local key pair. Then the
refusals AWS gives, and delete / re-import; then the rotation of an imported key to new
imported material (NEW_KEY_MATERIAL, RotateKeyOnDemand), each version checked locally.

Environment: TRENT_ENDPOINTS (the leader first, then a follower), TRENT_REGION, the root
credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. TRENT_IMPORT_ON_TOKEN=1 when the cluster
runs on SoftHSM2 2.6 tokens: every SHA-256 wrapping algorithm is replaced by its SHA-1 one
(the token's OAEP takes SHA-1 only), and the SHA-256 ones must be refused by name. Every case runs; the script exits 1 if
any failed; the last line on success is "all import cases passed".
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import subprocess
import tempfile
from pathlib import Path

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from kms_cases import FOLLOWER, LEADER, case, refused, run

WORK = Path(tempfile.mkdtemp(prefix="trent-import-"))
ON_TOKEN = os.environ.get("TRENT_IMPORT_ON_TOKEN") == "1"


def token_alg(algorithm):
    """The wrapping algorithm the cluster's HSM takes for `algorithm`."""
    return algorithm.replace("_SHA_256", "_SHA_1") if ON_TOKEN else algorithm


def token_spec(wrapping_spec):
    """RSA_2048 on tokens: SoftHSM2 takes seconds per RSA_4096 pair, and this script runs
    beside the rest of the suite (the soft backend's run covers every size)."""
    return "RSA_2048" if ON_TOKEN else wrapping_spec


def openssl(*args, data=None):
    out = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)
    assert out.returncode == 0, f"openssl {args}: {out.stderr.decode()}"
    return out.stdout


OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256,
             "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1, "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256}


def wrap_with_openssl(public_der, material, algorithm):
    """AWS's guide's commands: openssl pkeyutl (OAEP), and for RSA_AES openssl enc
    -id-aes256-wrap-pad of the material under a fresh AES key, the wrapped AES key first."""
    pub, mat = WORK / "WrappingPublicKey.bin", WORK / "PlaintextKeyMaterial.bin"
    pub.write_bytes(public_der)
    mat.write_bytes(material)
    md = "sha1" if algorithm.endswith("SHA_1") else "sha256"
    def oaep(path):
        return openssl("pkeyutl", "-encrypt", "-in", str(path), "-inkey", str(pub), "-keyform", "DER",
                       "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}",
                       "-pkeyopt", f"rsa_mgf1_md:{md}")
    if algorithm.startswith("RSAES_OAEP"):
        return oaep(mat)
    aes = WORK / "aes-key.bin"
    aes.write_bytes(os.urandom(32))
    wrapped = openssl("enc", "-id-aes256-wrap-pad", "-K", aes.read_bytes().hex(), "-iv", "A65959A6",
                      "-in", str(mat))
    return oaep(aes) + wrapped


def wrap_with_cryptography(public_der, material, algorithm):
    pub = serialization.load_der_public_key(public_der)
    h = OAEP_HASH[algorithm]
    pad = padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)
    if algorithm.startswith("RSAES_OAEP"):
        return pub.encrypt(material, pad)
    aes = os.urandom(32)
    return pub.encrypt(aes, pad) + aes_key_wrap_with_padding(aes, material)


def new_external(client=LEADER, **kwargs):
    return client.create_key(Origin="EXTERNAL", **kwargs)["KeyMetadata"]


def import_material(key_id, material, algorithm, wrapping_spec, wrap, client=LEADER, **extra):
    algorithm, wrapping_spec = token_alg(algorithm), token_spec(wrapping_spec)
    params = client.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm,
                                              WrappingKeySpec=wrapping_spec)
    blob = wrap(params["PublicKey"], material, algorithm)
    args = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", **extra}
    return client.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                      EncryptedKeyMaterial=blob, **args)


def encode_context(context):
    out = struct.pack(">I", len(context))
    for k in sorted(context):
        for part in (k.encode(), context[k].encode()):
            out += struct.pack(">I", len(part)) + part
    return out


def open_locally(material, blob, context=None):
    """Decrypts a trent ciphertext with the key material alone: "TK" | format 2 | key id |
    version | salt (14) is the header; the per-ciphertext key is AES-256-ECB(material,
    "T" 0x01 salt || "T" 0x02 salt); AES-GCM with the header and encoded context as AAD."""
    assert blob[:3] == b"TK\x02", blob[:3]
    header, salt, nonce, sealed = blob[:37], blob[23:37], blob[37:49], blob[49:]
    enc = Cipher(algorithms.AES(material), modes.ECB()).encryptor()
    derived = enc.update(b"T\x01" + salt + b"T\x02" + salt) + enc.finalize()
    return AESGCM(derived).decrypt(nonce, sealed, header + encode_context(context or {}))


def symmetric_keys():
    for algorithm, spec, wrap in [("RSAES_OAEP_SHA_1", "RSA_2048", wrap_with_openssl),
                                  ("RSAES_OAEP_SHA_256", "RSA_3072", wrap_with_cryptography),
                                  ("RSAES_OAEP_SHA_256", "RSA_4096", wrap_with_openssl)]:
        with case(f"symmetric key, {algorithm} / {spec}, wrapped by {wrap.__name__}"):
            key = new_external(Description="imported")
            assert key["KeyState"] == "PendingImport" and key["Enabled"] is False, key
            assert "CurrentKeyMaterialId" not in key and "ExpirationModel" not in key, key
            material = os.urandom(32)
            out = import_material(key["KeyId"], material, algorithm, spec, wrap, client=FOLLOWER)
            assert out["KeyId"] == key["Arn"], out
            described = LEADER.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            assert described["KeyState"] == "Enabled", described
            assert described["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE", described
            assert described["CurrentKeyMaterialId"] == out["KeyMaterialId"], (described, out)
            context = {"purpose": "import test"}
            blob = FOLLOWER.encrypt(KeyId=key["KeyId"], Plaintext=b"under my own key",
                                    EncryptionContext=context)["CiphertextBlob"]
            assert open_locally(material, blob, context) == b"under my own key"
            got = LEADER.decrypt(CiphertextBlob=blob, EncryptionContext=context)
            assert got["Plaintext"] == b"under my own key" and got["KeyMaterialId"] == out["KeyMaterialId"]


def hmac_keys():
    for spec, size, digest in [("HMAC_256", 32, hashlib.sha256), ("HMAC_384", 48, hashlib.sha384),
                               ("HMAC_512", 100, hashlib.sha512)]:
        with case(f"{spec} key of {size} bytes: MACs equal Python's hmac"):
            key = new_external(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
            material = os.urandom(size)
            out = import_material(key["KeyId"], material, "RSAES_OAEP_SHA_256", "RSA_4096", wrap_with_openssl)
            assert "KeyMaterialId" not in out, out
            alg = "HMAC_SHA_" + spec[5:]
            mac = FOLLOWER.generate_mac(KeyId=key["KeyId"], Message=b"message", MacAlgorithm=alg)["Mac"]
            assert mac == hmac.new(material, b"message", digest).digest()


def asymmetric_keys():
    cases = [("ECC_NIST_P256", ec.SECP256R1, "RSA_AES_KEY_WRAP_SHA_256", wrap_with_openssl, "ECDSA_SHA_256"),
             ("ECC_NIST_P384", ec.SECP384R1, "RSAES_OAEP_SHA_256", wrap_with_cryptography, "ECDSA_SHA_384"),
             ("ECC_NIST_P521", ec.SECP521R1, "RSA_AES_KEY_WRAP_SHA_1", wrap_with_cryptography, "ECDSA_SHA_512"),
             ("ECC_SECG_P256K1", ec.SECP256K1, "RSAES_OAEP_SHA_1", wrap_with_openssl, "ECDSA_SHA_256"),
             ("RSA_2048", None, "RSA_AES_KEY_WRAP_SHA_1", wrap_with_cryptography, "RSASSA_PSS_SHA_256"),
             ("RSA_3072", None, "RSA_AES_KEY_WRAP_SHA_256", wrap_with_openssl, "RSASSA_PKCS1_V1_5_SHA_384")]
    for spec, curve, algorithm, wrap, signing in cases:
        with case(f"{spec} private key, {algorithm}, wrapped by {wrap.__name__}: signatures verify locally"):
            private = (ec.generate_private_key(curve()) if curve else
                       rsa.generate_private_key(public_exponent=65537, key_size=int(spec[4:])))
            pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
            key = new_external(KeySpec=spec, KeyUsage="SIGN_VERIFY")
            import_material(key["KeyId"], pkcs8, algorithm, "RSA_4096", wrap)
            public = LEADER.get_public_key(KeyId=key["KeyId"])["PublicKey"]
            mine = private.public_key().public_bytes(serialization.Encoding.DER,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
            assert public == mine, "the public key is not the imported key's"
            signature = FOLLOWER.sign(KeyId=key["KeyId"], Message=b"signed", SigningAlgorithm=signing)["Signature"]
            h = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[signing[-3:]]
            if curve:
                private.public_key().verify(signature, b"signed", ec.ECDSA(h()))
            elif "PSS" in signing:
                private.public_key().verify(signature, b"signed",
                                            padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size), h())
            else:
                private.public_key().verify(signature, b"signed", padding.PKCS1v15(), h())


def refusals_and_reimport():
    key = new_external()
    material = os.urandom(32)
    with case("ImportKeyMaterial without ValidTo: AWS's recorded ValidationException"):
        params = LEADER.get_parameters_for_import(KeyId=key["KeyId"], WrappingAlgorithm=token_alg("RSAES_OAEP_SHA_256"),
                                                  WrappingKeySpec="RSA_2048")
        blob = wrap_with_cryptography(params["PublicKey"], material, token_alg("RSAES_OAEP_SHA_256"))
        refused(LEADER.import_key_material, "ValidationException",
                "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
                KeyId=key["KeyId"], ImportToken=params["ImportToken"], EncryptedKeyMaterial=blob)
    with case("the token works once"):
        LEADER.import_key_material(KeyId=key["KeyId"], ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=blob, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        refused(FOLLOWER.import_key_material, "InvalidImportTokenException", KeyId=key["KeyId"],
                ImportToken=params["ImportToken"], EncryptedKeyMaterial=blob,
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    sealed = LEADER.encrypt(KeyId=key["KeyId"], Plaintext=b"before the delete")["CiphertextBlob"]
    with case("other material is refused"):
        try:
            import_material(key["KeyId"], os.urandom(32), "RSAES_OAEP_SHA_256", "RSA_2048", wrap_with_cryptography)
            raise AssertionError("different material was imported")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "IncorrectKeyMaterialException", e.response
    with case("a token of another key is refused"):
        other = new_external()
        params = LEADER.get_parameters_for_import(KeyId=other["KeyId"], WrappingAlgorithm=token_alg("RSAES_OAEP_SHA_256"),
                                                  WrappingKeySpec="RSA_2048")
        blob = wrap_with_cryptography(params["PublicKey"], material, token_alg("RSAES_OAEP_SHA_256"))
        refused(LEADER.import_key_material, "InvalidImportTokenException", KeyId=key["KeyId"],
                ImportToken=params["ImportToken"], EncryptedKeyMaterial=blob,
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        refused(LEADER.import_key_material, "InvalidCiphertextException", KeyId=other["KeyId"],
                ImportToken=params["ImportToken"], EncryptedKeyMaterial=os.urandom(256),
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    with case("material of the wrong length is refused"):
        fresh = new_external()
        try:
            import_material(fresh["KeyId"], os.urandom(31), "RSAES_OAEP_SHA_256", "RSA_2048", wrap_with_cryptography)
            raise AssertionError("31 bytes were imported")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "IncorrectKeyMaterialException", e.response
        assert LEADER.describe_key(KeyId=fresh["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    with case("DeleteImportedKeyMaterial, then the same material brings the ciphertext back"):
        out = FOLLOWER.delete_imported_key_material(KeyId=key["KeyId"])
        assert out["KeyId"] == key["Arn"], out
        assert LEADER.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
        refused(LEADER.decrypt, "KMSInvalidStateException", f"{key['Arn']} is pending import.",
                CiphertextBlob=sealed)
        import_material(key["KeyId"], material, "RSAES_OAEP_SHA_1", "RSA_4096", wrap_with_openssl)
        assert LEADER.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"before the delete"
    with case("an RSA key must be wrapped with RSA_AES"):
        rsa_key = new_external(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
        refused(LEADER.get_parameters_for_import, "ValidationException", KeyId=rsa_key["KeyId"],
                WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_4096")
    with case("GetParametersForImport on a key of trent's own material: AWS's recorded answer"):
        own = LEADER.create_key()["KeyMetadata"]
        refused(LEADER.get_parameters_for_import, "UnsupportedOperationException",
                f"{own['Arn']} origin is AWS_KMS which is not valid for this operation.",
                KeyId=own["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    with case("ML-DSA material cannot be imported"):
        refused(LEADER.create_key, "UnsupportedOperationException", KeySpec="ML_DSA_65",
                KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")
    with case("ListKeyRotations lists the imported material"):
        out = LEADER.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")
        entry = out["Rotations"][0]
        assert entry["ImportState"] == "IMPORTED" and entry["KeyMaterialState"] == "CURRENT", out


def rotation_of_imported_material():
    key = new_external()
    first, second = os.urandom(32), os.urandom(32)
    wrap = ("RSAES_OAEP_SHA_256", "RSA_2048", wrap_with_cryptography)
    id_first = import_material(key["KeyId"], first, *wrap)["KeyMaterialId"]
    before = LEADER.encrypt(KeyId=key["KeyId"], Plaintext=b"under the first")["CiphertextBlob"]
    with case("RotateKeyOnDemand with no new material: AWS's recorded answer"):
        refused(LEADER.rotate_key_on_demand, "KMSInvalidStateException",
                f"No available key material pending rotation for the key: {key['Arn']}.",
                KeyId=key["KeyId"])
    with case("NEW_KEY_MATERIAL waits as PENDING_ROTATION, then RotateKeyOnDemand makes it current"):
        out = import_material(key["KeyId"], second, "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072", wrap_with_openssl,
                              client=FOLLOWER, ImportType="NEW_KEY_MATERIAL", KeyMaterialDescription="second")
        id_second = out["KeyMaterialId"]
        listed = LEADER.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        states = [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in listed]
        assert states == [(id_first, "CURRENT"), (id_second, "PENDING_ROTATION")], listed
        assert LEADER.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == id_first
        FOLLOWER.rotate_key_on_demand(KeyId=key["KeyId"])
        assert LEADER.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == id_second
        rotations = LEADER.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
        assert [(r["KeyMaterialId"], r["RotationType"]) for r in rotations] == [(id_second, "ON_DEMAND")], rotations
        after = FOLLOWER.encrypt(KeyId=key["KeyId"], Plaintext=b"under the second")["CiphertextBlob"]
        assert open_locally(second, after) == b"under the second"
        assert open_locally(first, before) == b"under the first"
        for client in (LEADER, FOLLOWER):
            assert client.decrypt(CiphertextBlob=before)["KeyMaterialId"] == id_first
            assert client.decrypt(CiphertextBlob=after)["KeyMaterialId"] == id_second
    with case("a deleted old version makes the key unusable until it comes back"):
        out = LEADER.delete_imported_key_material(KeyId=key["KeyId"], KeyMaterialId=id_first)
        assert out["KeyMaterialId"] == id_first, out
        refused(LEADER.decrypt, "KMSInvalidStateException", f"{key['Arn']} is pending import.",
                CiphertextBlob=after)
        out = import_material(key["KeyId"], first, *wrap, ImportType="EXISTING_KEY_MATERIAL")
        assert out["KeyMaterialId"] == id_first, out
        assert LEADER.decrypt(CiphertextBlob=after)["Plaintext"] == b"under the second"
    with case("new material the key already has is refused"):
        try:
            import_material(key["KeyId"], first, *wrap, ImportType="NEW_KEY_MATERIAL")
            raise AssertionError("the first material was imported again as new")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "IncorrectKeyMaterialException", e.response


def refused_by_the_token():
    """On SoftHSM2 2.6 tokens: the SHA-256 wrapping algorithms, by name."""
    if not ON_TOKEN:
        return
    key = new_external()
    for algorithm in ("RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"):
        with case(f"{algorithm} on a SoftHSM2 2.6 token: refused by name"):
            err = refused(LEADER.get_parameters_for_import, "UnsupportedOperationException", KeyId=key["KeyId"],
                          WrappingAlgorithm=algorithm, WrappingKeySpec="RSA_2048")
            assert algorithm in err["Message"] and "CKM_RSA_PKCS_OAEP" in err["Message"], err


def main():
    run([symmetric_keys, hmac_keys, asymmetric_keys, refusals_and_reimport,
         rotation_of_imported_material, refused_by_the_token], "import")


if __name__ == "__main__":
    main()
