//! Proof that key material stays in the token: trentd runs with OpenSC's pkcs11-spy (Debian
//! `opensc-pkcs11`) as its PKCS#11 module, which passes every call on to SoftHSM2 and logs
//! it with its arguments and results. After a workload that uses every kind of key the token
//! serves (symmetric, HMAC, ECDSA, ECDH, RSA signing and decryption, data key pairs, imported
//! symmetric, HMAC and ECC material) and the audit trail's signed digests, the log must show no call that hands key bytes to trentd: no
//! `C_GetAttributeValue` answering a secret or private attribute, no `C_WrapKey` under a key
//! trentd could read and no `C_Decrypt` with one, and no key object created from bytes. Every
//! key appears as a handle. Two outputs are plaintext by design and allowed by name: an ECDH
//! secret (DeriveSharedSecret answers it; an imported ECC key's agreement with its curve's
//! generator, the x of its public point, is one too) and a data key pair's private key
//! (GenerateDataKeyPair answers it), wrapped under a transport key made from the token's random bytes just drawn.
//! The node checks its token only every ten minutes here, so calls never interleave in the
//! log; a block that is not one whole call fails the test.
//!
//! Subnet 210.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use super::{Ceremony, MODULE};
use crate::audit::audit_cli;
use crate::harness::*;

const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so";

#[tokio::test(flavor = "multi_thread")]
async fn pkcs11_spy_shows_trentd_handles_keys_never_their_bytes() {
    assert!(
        Path::new(SPY).exists(),
        "{SPY} is missing: scripts/test installs opensc-pkcs11"
    );
    let ceremony = Ceremony::run(1).await;
    let log = ceremony.dir.path().join("pkcs11-spy.log");
    let mut cluster = TestCluster::start_with(210, 1, |node| {
        ceremony.tokens[0].serve(node, &ceremony.pin);
        let module = node.extra_args.iter().position(|a| a == MODULE).unwrap();
        node.extra_args[module] = SPY.into();
        node.extra_env.push(("PKCS11SPY".into(), MODULE.into()));
        node.extra_env
            .push(("PKCS11SPY_OUTPUT".into(), log.display().to_string()));
        node.extra_args
            .extend(["--hsm-check-interval-ms".into(), "600000".into()]);
    });
    cluster.leader().await;
    workload(&cluster.nodes[0]).await;
    cluster.node(1).kill();

    let text = std::fs::read_to_string(&log).unwrap();
    let calls = spy_calls(&text);
    println!("{}", summary(&calls));
    for name in [
        "C_Login",
        "C_DeriveKey",
        "C_UnwrapKey",
        "C_EncryptInit",
        "C_SignInit",
    ] {
        assert!(calls.iter().any(|c| c.name == name), "no {name} logged");
    }
    let findings = key_bytes_handed_over(&calls);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// Every kind of key the token serves, used once or twice.
async fn workload(node: &TestNode) {
    let client = node.client();
    let kms = |op: &'static str, input: Value| {
        let client = client.clone();
        async move {
            client
                .kms(op, &input)
                .await
                .unwrap_or_else(|e| panic!("{op}: {e}"))
        }
    };
    let key = |spec: &'static str, usage: &'static str| async move {
        let made = kms("CreateKey", json!({"KeySpec": spec, "KeyUsage": usage})).await;
        made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    };
    let aes = key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT").await;
    let sealed = kms("Encrypt", json!({"KeyId": aes, "Plaintext": "c3B5"})).await;
    kms(
        "Decrypt",
        json!({"CiphertextBlob": sealed["CiphertextBlob"]}),
    )
    .await;
    kms(
        "GenerateDataKey",
        json!({"KeyId": aes, "KeySpec": "AES_256"}),
    )
    .await;
    kms("GenerateRandom", json!({"NumberOfBytes": 32})).await;
    let hmac = key("HMAC_256", "GENERATE_VERIFY_MAC").await;
    let mac = kms(
        "GenerateMac",
        json!({"KeyId": hmac, "Message": "c3B5", "MacAlgorithm": "HMAC_SHA_256"}),
    )
    .await;
    kms(
        "VerifyMac",
        json!({"KeyId": hmac, "Message": "c3B5", "MacAlgorithm": "HMAC_SHA_256", "Mac": mac["Mac"]}),
    )
    .await;
    let ec = key("ECC_NIST_P256", "SIGN_VERIFY").await;
    let signed = kms(
        "Sign",
        json!({"KeyId": ec, "Message": "c3B5", "SigningAlgorithm": "ECDSA_SHA_256"}),
    )
    .await;
    kms(
        "Verify",
        json!({"KeyId": ec, "Message": "c3B5", "SigningAlgorithm": "ECDSA_SHA_256",
               "Signature": signed["Signature"]}),
    )
    .await;
    kms("GetPublicKey", json!({"KeyId": ec})).await;
    let agree = key("ECC_NIST_P256", "KEY_AGREEMENT").await;
    let peer = kms("GetPublicKey", json!({"KeyId": ec})).await;
    kms(
        "DeriveSharedSecret",
        json!({"KeyId": agree, "KeyAgreementAlgorithm": "ECDH", "PublicKey": peer["PublicKey"]}),
    )
    .await;
    let rsa_signer = key("RSA_2048", "SIGN_VERIFY").await;
    kms(
        "Sign",
        json!({"KeyId": rsa_signer, "Message": "c3B5", "SigningAlgorithm": "RSASSA_PSS_SHA_256"}),
    )
    .await;
    for spec in ["ECC_NIST_P256", "RSA_2048"] {
        kms(
            "GenerateDataKeyPair",
            json!({"KeyId": aes, "KeyPairSpec": spec}),
        )
        .await;
    }
    let rsa = key("RSA_2048", "ENCRYPT_DECRYPT").await;
    let oaep =
        json!({"KeyId": rsa, "Plaintext": "c3B5", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"});
    let sealed = kms("Encrypt", oaep).await;
    kms(
        "ReEncrypt",
        json!({"CiphertextBlob": sealed["CiphertextBlob"], "SourceKeyId": rsa,
               "SourceEncryptionAlgorithm": "RSAES_OAEP_SHA_1", "DestinationKeyId": aes}),
    )
    .await;
    kms(
        "Decrypt",
        json!({"KeyId": rsa, "CiphertextBlob": sealed["CiphertextBlob"],
               "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
    )
    .await;
    // Imported material (BYOK): the token unwraps it, trentd sees only wrapped bytes.
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
    )
    .unwrap();
    let ec = ec.to_pkcs8v1().unwrap().as_ref().to_vec();
    for (spec, usage, algorithm, material) in [
        (
            "SYMMETRIC_DEFAULT",
            "ENCRYPT_DECRYPT",
            "RSAES_OAEP_SHA_1",
            vec![0x5a; 32],
        ),
        (
            "HMAC_256",
            "GENERATE_VERIFY_MAC",
            "RSA_AES_KEY_WRAP_SHA_1",
            vec![0x5a; 32],
        ),
        ("ECC_NIST_P256", "SIGN_VERIFY", "RSA_AES_KEY_WRAP_SHA_1", ec),
    ] {
        let made = kms(
            "CreateKey",
            json!({"KeySpec": spec, "KeyUsage": usage, "Origin": "EXTERNAL"}),
        )
        .await;
        let id = made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
        let params = kms(
            "GetParametersForImport",
            json!({"KeyId": id, "WrappingAlgorithm": algorithm, "WrappingKeySpec": "RSA_2048"}),
        )
        .await;
        let public = b64(params["PublicKey"].as_str().unwrap());
        let encrypted = wrap_for_import(&public, &material, algorithm != "RSAES_OAEP_SHA_1");
        kms(
            "ImportKeyMaterial",
            json!({"KeyId": id, "ImportToken": params["ImportToken"],
                   "EncryptedKeyMaterial": B64.encode(encrypted),
                   "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}),
        )
        .await;
    }
    // The audit trail's digests are signed with the token's audit key.
    let dir = tempfile::tempdir().unwrap();
    audit_cli(&node.api(), &["export", dir.path().to_str().unwrap()]).unwrap();
}

fn b64(text: &str) -> Vec<u8> {
    B64.decode(text).unwrap()
}

/// `material` wrapped as a client wraps it for import under the wrapping key `public`
/// (SubjectPublicKeyInfo): RSA-OAEP with SHA-1, alone or (`key_wrap`) of an AES key that
/// wraps the material with RFC 5649.
fn wrap_for_import(public: &[u8], material: &[u8], key_wrap: bool) -> Vec<u8> {
    use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
    let key = PublicEncryptingKey::from_der(public).unwrap();
    let key = OaepPublicEncryptingKey::new(key).unwrap();
    let oaep = |plain: &[u8]| {
        let mut out = vec![0u8; key.ciphertext_size()];
        let n = key
            .encrypt(&OAEP_SHA1_MGF1SHA1, plain, &mut out, None)
            .unwrap()
            .len();
        out.truncate(n);
        out
    };
    if !key_wrap {
        return oaep(material);
    }
    let aes = [0x3c; 32];
    let mut wrapped = vec![0u8; material.len() + 16];
    let n = AesKek::new(&AES_256, &aes)
        .unwrap()
        .wrap_with_padding(material, &mut wrapped)
        .unwrap()
        .len();
    wrapped.truncate(n);
    [oaep(&aes), wrapped].concat()
}

/// One logged call: its function name and the text of its block (arguments and results).
struct Call {
    name: String,
    text: String,
}

/// The calls in pkcs11-spy's log, each block starting at a line `N: C_Name`.
fn spy_calls(log: &str) -> Vec<Call> {
    let mut calls: Vec<Call> = vec![];
    for line in log.lines() {
        let head = line
            .split_once(": ")
            .filter(|(n, rest)| n.trim().parse::<u64>().is_ok() && rest.starts_with("C_"));
        match head {
            Some((_, rest)) => calls.push(Call {
                name: rest.trim().to_owned(),
                text: String::new(),
            }),
            None => {
                if let Some(call) = calls.last_mut() {
                    call.text.push_str(line);
                    call.text.push('\n');
                }
            }
        }
    }
    calls
}

fn summary(calls: &[Call]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for c in calls {
        *counts.entry(&c.name).or_default() += 1;
    }
    format!("{} PKCS#11 calls: {counts:?}", calls.len())
}

/// The fixed, public bytes of the known-answer test trentd runs when it opens a token
/// (`pkcs11/probes.rs`, `edwards.rs`): the only secret values it ever gives the token.
const KNOWN_ANSWER_VALUES: [&[u8]; 3] = [
    b"trent/pkcs11/rfc5649-kat/kek/v1!",
    b"trent-kat-secret-v1!",
    b"trent/pkcs11/ed25519-kat/seed/v1",
];

/// Secret and private attributes: a value of one of these in trentd's hands is key material.
const SECRET_ATTRIBUTES: [&str; 7] = [
    "CKA_VALUE",
    "CKA_PRIVATE_EXPONENT",
    "CKA_PRIME_1",
    "CKA_PRIME_2",
    "CKA_EXPONENT_1",
    "CKA_EXPONENT_2",
    "CKA_COEFFICIENT",
];

/// Every call that hands key bytes to trentd, or takes them from it, described. Objects are
/// followed by handle: those created from bytes trentd held (`C_CreateObject`), ECDH secrets
/// (`C_DeriveKey` with `CKM_ECDH1_DERIVE`, whose value DeriveSharedSecret answers by design),
/// and whatever is derived or unwrapped from either are the ones whose value trentd may know.
fn key_bytes_handed_over(calls: &[Call]) -> Vec<String> {
    let mut known = HashSet::new();
    // Transport keys: made from the random bytes just drawn, for a data key pair's one wrap.
    let mut transport = HashSet::new();
    let mut private_keys = HashSet::new();
    let mut last_random = Vec::new();
    let mut decrypting = HashMap::new();
    let mut findings = vec![];
    for (i, call) in calls.iter().enumerate() {
        let at = format!("call {i} ({})", call.name);
        if call.text.matches("Returned:").count() != 1 {
            findings.push(format!("{at}: not one whole call (interleaved log?)"));
            continue;
        }
        let session = handle(&call.text, "[in] hSession = ");
        match call.name.as_str() {
            "C_GenerateRandom" => last_random = hex_after(&call.text, "[out] RandomData"),
            "C_GenerateKeyPair" => private_keys.extend(handle(&call.text, "[out] hPrivateKey = ")),
            "C_CreateObject" => {
                let class = attribute_line(&call.text, "CKA_CLASS").unwrap_or_default();
                let secret = class.contains("CKO_SECRET_KEY") || class.contains("CKO_PRIVATE_KEY");
                let value = hex_after(&call.text, "CKA_VALUE");
                let created = handle(&call.text, "[out] *phObject = ");
                let wrap_only = attribute_line(&call.text, "CKA_WRAP")
                    .is_some_and(|v| v.contains("True"))
                    && attribute_line(&call.text, "CKA_DECRYPT")
                        .is_some_and(|v| v.contains("False"));
                if secret && value.len() == 32 && value == last_random && wrap_only {
                    transport.extend(created);
                } else if secret && !KNOWN_ANSWER_VALUES.contains(&value.as_slice()) {
                    findings.push(format!(
                        "{at}: a secret or private key created from bytes trentd held"
                    ));
                }
                known.extend(created);
            }
            "C_DeriveKey" => {
                let base = handle(&call.text, "[in] hBaseKey = ");
                if call.text.contains("CKM_ECDH1_DERIVE")
                    || base.is_some_and(|h| known.contains(&h))
                {
                    known.extend(handle(&call.text, "[out] hKey = "));
                }
            }
            "C_UnwrapKey" => {
                let kek = handle(&call.text, "[in] hUnwrappingKey = ");
                if kek.is_some_and(|h| known.contains(&h)) {
                    known.extend(handle(&call.text, "[out] hKey = "));
                }
            }
            "C_DestroyObject" => {
                if let Some(h) = handle(&call.text, "[in] hObject = ") {
                    known.remove(&h);
                    transport.remove(&h);
                    private_keys.remove(&h);
                }
            }
            "C_GetAttributeValue" => {
                let object = handle(&call.text, "[in] hObject = ");
                let out = call.text.split("[out]").nth(1).unwrap_or_default();
                for attribute in SECRET_ATTRIBUTES {
                    let answered = !hex_after(out, attribute).is_empty();
                    if answered && !object.is_some_and(|h| known.contains(&h)) {
                        findings.push(format!("{at}: {attribute} of object {object:?} answered"));
                    }
                }
            }
            "C_WrapKey" => {
                let kek = handle(&call.text, "[in] hWrappingKey = ");
                let key = handle(&call.text, "[in] hKey = ");
                let under_known = kek.is_some_and(|h| known.contains(&h));
                let data_key_pair = kek.is_some_and(|h| transport.contains(&h))
                    && key.is_some_and(|h| private_keys.contains(&h));
                if under_known && !data_key_pair && !key.is_some_and(|h| known.contains(&h)) {
                    findings.push(format!("{at}: a key wrapped under a key trentd knows"));
                }
            }
            "C_DecryptInit" => {
                decrypting.insert(session, handle(&call.text, "[in] hKey = "));
            }
            "C_Decrypt" | "C_DecryptUpdate" | "C_DecryptFinal" => {
                let key = decrypting.get(&session).copied().flatten();
                if key.is_some_and(|h| known.contains(&h)) {
                    findings.push(format!("{at}: decrypted under a key trentd knows"));
                }
            }
            _ => {}
        }
    }
    findings
}

/// The handle on the line starting with `prefix` (`0x1a`).
fn handle(text: &str, prefix: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix))?;
    u64::from_str_radix(line.trim().trim_start_matches("0x"), 16).ok()
}

/// The rest of the first line naming `attribute`.
fn attribute_line(text: &str, attribute: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(attribute)?;
        rest.starts_with(' ').then(|| rest.to_owned())
    })
}

/// The bytes of the hex dump under the first line naming `attribute` (empty when none
/// follows: the length was asked, or the token refused).
fn hex_after(text: &str, attribute: &str) -> Vec<u8> {
    // `CKA_VALUE` names neither `CKA_VALUE_LEN` nor anything else it begins.
    let names = |l: &str| {
        let rest = l.trim_start().strip_prefix(attribute);
        rest.is_some_and(|r| r.starts_with([' ', '[']))
    };
    let mut lines = text.lines().skip_while(|l| !names(l));
    lines.next();
    let mut bytes = vec![];
    for line in lines {
        let line = line.trim_start();
        let Some((offset, rest)) = line.split_once("  ") else {
            break;
        };
        if offset.len() != 8 || !offset.bytes().all(|b| b.is_ascii_hexdigit()) {
            break;
        }
        // 16 bytes at most, as `XX ` columns, before the ASCII column.
        bytes.extend(
            rest.split_whitespace()
                .take(16)
                .take_while(|t| t.len() == 2)
                .filter_map(|t| u8::from_str_radix(t, 16).ok()),
        );
    }
    bytes
}

/// The checker itself catches each way key bytes could reach trentd.
#[test]
fn the_checker_catches_key_bytes_in_every_form() {
    let log = "\
1: C_CreateObject
[in] pTemplate[2]: 
    CKA_CLASS             CKO_SECRET_KEY       
    CKA_VALUE             0000053484e50ea0 / 4
    00000000  DE AD BE EF                                      ....
[out] *phObject = 0x6
Returned:  0 CKR_OK
2: C_GetAttributeValue
[in] hObject = 0x7
[in] pTemplate[1]: 
    CKA_VALUE             0000053484e50da0 / 32
[out] pTemplate[1]: 
    CKA_VALUE             0000053484e50da0 / 32
    00000000  13 2D 56 34 16 4F A8 5C DF 36 01 51 F2 79 6A CE  .-V4.O.\\.6.Q.yj.
Returned:  0 CKR_OK
3: C_WrapKey
[in] hWrappingKey = 0x6
[in] hKey = 0x8
Returned:  0 CKR_OK
4: C_GetAttributeValue
[in] hObject = 0x9
[in] pTemplate[1]: 
    CKA_VALUE             0000000000000000 / 0
[out] pTemplate[1]: 
    CKA_VALUE             0000000000000000 / 32
Returned:  0 CKR_OK
5: C_DecryptInit
[in] hSession = 0x2
[in] hKey = 0x6
Returned:  0 CKR_OK
6: C_Decrypt
[in] hSession = 0x2
Returned:  0 CKR_OK
7: C_UnwrapKey
[in] hUnwrappingKey = 0x6
[out] hKey = 0xa
Returned:  0 CKR_OK
8: C_WrapKey
[in] hWrappingKey = 0xa
[in] hKey = 0x8
Returned:  0 CKR_OK
9: C_Sign
[in] hSession = 0x2
10: C_Verify
Returned:  0 CKR_OK
Returned:  0 CKR_OK
";
    let findings = key_bytes_handed_over(&spy_calls(log));
    let expected = [
        "call 0 (C_CreateObject): a secret or private key created from bytes",
        "call 1 (C_GetAttributeValue): CKA_VALUE of object Some(7)",
        "call 2 (C_WrapKey): a key wrapped under a key trentd knows",
        "call 5 (C_Decrypt): decrypted under a key trentd knows",
        "call 7 (C_WrapKey): a key wrapped under a key trentd knows",
        "call 8 (C_Sign): not one whole call",
        "call 9 (C_Verify): not one whole call",
    ];
    assert_eq!(findings.len(), expected.len(), "{findings:#?}");
    for (finding, wanted) in findings.iter().zip(expected) {
        assert!(finding.starts_with(wanted), "{finding} is not {wanted}");
    }
}

/// A data key pair's one exit is allowed, and only it: a transport key made from the random
/// bytes just drawn, wrap-only, wrapping a private key the token just generated.
#[test]
fn the_checker_allows_a_data_key_pairs_one_exit_only() {
    let log = "\
1: C_GenerateKeyPair
[out] hPublicKey = 0x10
[out] hPrivateKey = 0x11
Returned:  0 CKR_OK
2: C_GenerateRandom
[out] RandomData[ulRandomLen] 00007ffc2f929150 / 32
    00000000  00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F  ................
    00000010  10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F  ................
Returned:  0 CKR_OK
3: C_CreateObject
[in] pTemplate[4]: 
    CKA_CLASS             CKO_SECRET_KEY       
    CKA_WRAP              True
    CKA_DECRYPT           False
    CKA_VALUE             0000053484e50ea0 / 32
    00000000  00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F  ................
    00000010  10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F  ................
[out] *phObject = 0x12
Returned:  0 CKR_OK
4: C_WrapKey
[in] hWrappingKey = 0x12
[in] hKey = 0x11
Returned:  0 CKR_OK
5: C_WrapKey
[in] hWrappingKey = 0x12
[in] hKey = 0x3
Returned:  0 CKR_OK
";
    let findings = key_bytes_handed_over(&spy_calls(log));
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0].starts_with("call 4 (C_WrapKey)"),
        "{findings:#?}"
    );
}
