//! Proof that key material stays in the token: trentd runs with OpenSC's pkcs11-spy (Debian
//! `opensc-pkcs11`) as its PKCS#11 module, which passes every call on to SoftHSM2 and logs
//! it with its arguments and results. After a workload that uses every kind of key the token
//! serves (symmetric, HMAC, ECDSA, RSA signing and decryption), an access key, and the audit
//! trail's signed digests, the log must show no call that hands key bytes to trentd: no
//! `C_GetAttributeValue` answering a secret or private attribute, no `C_WrapKey` under a key
//! trentd could read, and no key object created from bytes. Every key appears as a handle.
//!
//! Subnet 210.

use std::path::Path;

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
    let rsa = key("RSA_2048", "ENCRYPT_DECRYPT").await;
    let oaep =
        json!({"KeyId": rsa, "Plaintext": "c3B5", "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"});
    let sealed = kms("Encrypt", oaep).await;
    kms(
        "Decrypt",
        json!({"KeyId": rsa, "CiphertextBlob": sealed["CiphertextBlob"],
               "EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
    )
    .await;
    // The audit trail's digests are signed with the token's audit key.
    let dir = tempfile::tempdir().unwrap();
    audit_cli(&node.api(), &["export", dir.path().to_str().unwrap()]).unwrap();
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
/// followed by handle: those created from bytes trentd held (`C_CreateObject`) and ECDH
/// secrets (`C_DeriveKey` with `CKM_ECDH1_DERIVE`, whose value DeriveSharedSecret answers by
/// design) are the only ones whose value trentd may know.
fn key_bytes_handed_over(calls: &[Call]) -> Vec<String> {
    let mut known = std::collections::HashSet::new();
    let mut findings = vec![];
    for (i, call) in calls.iter().enumerate() {
        let at = format!("call {i} ({})", call.name);
        match call.name.as_str() {
            "C_CreateObject" => {
                let class = attribute_line(&call.text, "CKA_CLASS").unwrap_or_default();
                let secret = class.contains("CKO_SECRET_KEY") || class.contains("CKO_PRIVATE_KEY");
                let value = hex_after(&call.text, "CKA_VALUE");
                if secret && !KNOWN_ANSWER_VALUES.contains(&value.as_slice()) {
                    findings.push(format!(
                        "{at}: a secret or private key created from bytes trentd held"
                    ));
                }
                known.extend(handle(&call.text, "[out] *phObject = "));
            }
            "C_DeriveKey" if call.text.contains("CKM_ECDH1_DERIVE") => {
                known.extend(handle(&call.text, "[out] hKey = "));
            }
            "C_DestroyObject" => {
                if let Some(h) = handle(&call.text, "[in] hObject = ") {
                    known.remove(&h);
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
                if under_known && !key.is_some_and(|h| known.contains(&h)) {
                    findings.push(format!("{at}: a key wrapped under a key trentd knows"));
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
    let names = |l: &str| l.split_whitespace().next() == Some(attribute);
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
2: C_GetAttributeValue
[in] hObject = 0x7
[in] pTemplate[1]: 
    CKA_VALUE             0000053484e50da0 / 32
[out] pTemplate[1]: 
    CKA_VALUE             0000053484e50da0 / 32
    00000000  13 2D 56 34 16 4F A8 5C DF 36 01 51 F2 79 6A CE  .-V4.O.\\.6.Q.yj.
3: C_WrapKey
[in] hWrappingKey = 0x6
[in] hKey = 0x8
4: C_GetAttributeValue
[in] hObject = 0x9
[in] pTemplate[1]: 
    CKA_VALUE             0000000000000000 / 0
[out] pTemplate[1]: 
    CKA_VALUE             0000000000000000 / 32
";
    let findings = key_bytes_handed_over(&spy_calls(log));
    assert_eq!(findings.len(), 3, "{findings:#?}");
    assert!(findings[0].contains("created from bytes"), "{findings:#?}");
    assert!(
        findings[1].contains("CKA_VALUE of object Some(7)"),
        "{findings:#?}"
    );
    assert!(
        findings[2].contains("wrapped under a key trentd knows"),
        "{findings:#?}"
    );
}
