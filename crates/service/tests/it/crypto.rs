//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom: round
//! trips, key references, encryption context, key states and every bad input.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn encrypt_decrypt_round_trips_under_every_key_reference() {
    let c = Cluster::start(71, 1).await;
    let id = c.create_key().await;
    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/data", "TargetKeyId": id}),
    )
    .await;
    let arn = format!("arn:aws:kms:{REGION}:111122223333:key/{id}");
    let alias_arn = format!("arn:aws:kms:{REGION}:111122223333:alias/data");
    for key_ref in [id.as_str(), &arn, "alias/data", &alias_arn] {
        let ctx = json!({"purpose": "test", "Order": "b"});
        let e = c
            .ok(
                "Encrypt",
                json!({"KeyId": key_ref, "Plaintext": b64(b"secret"), "EncryptionContext": ctx}),
            )
            .await;
        assert_eq!(e["KeyId"], arn);
        assert_eq!(e["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
        let reordered = json!({"Order": "b", "purpose": "test"});
        let d = c
            .ok(
                "Decrypt",
                json!({"CiphertextBlob": e["CiphertextBlob"], "EncryptionContext": reordered}),
            )
            .await;
        assert_eq!(unb64(&d["Plaintext"]), b"secret");
        assert_eq!(d["KeyId"], arn);
        let named = c
            .ok(
                "Decrypt",
                json!({"CiphertextBlob": e["CiphertextBlob"], "EncryptionContext": ctx, "KeyId": key_ref}),
            )
            .await;
        assert_eq!(unb64(&named["Plaintext"]), b"secret");
    }
    let max = vec![7u8; 4096];
    let e = c
        .ok("Encrypt", json!({"KeyId": id, "Plaintext": b64(&max)}))
        .await;
    let d = c
        .ok("Decrypt", json!({"CiphertextBlob": e["CiphertextBlob"]}))
        .await;
    assert_eq!(unb64(&d["Plaintext"]), max);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_context_key_or_bytes_are_refused() {
    let c = Cluster::start(72, 1).await;
    let (id, other) = (c.create_key().await, c.create_key().await);
    let e = c
        .ok(
            "Encrypt",
            json!({"KeyId": id, "Plaintext": b64(b"m"), "EncryptionContext": {"a": "1"}}),
        )
        .await;
    let blob = unb64(&e["CiphertextBlob"]);
    let decrypt = |bytes: Vec<u8>, ctx: serde_json::Value| json!({"CiphertextBlob": b64(&bytes), "EncryptionContext": ctx});
    for ctx in [
        json!({}),
        json!({"a": "2"}),
        json!({"A": "1"}),
        json!({"a": "1", "b": "2"}),
    ] {
        c.fails(
            "Decrypt",
            decrypt(blob.clone(), ctx),
            "InvalidCiphertextException",
        )
        .await;
    }
    for i in [0, 5, 25, 40, blob.len() - 1] {
        let mut tampered = blob.clone();
        tampered[i] ^= 0x01;
        let code = match c
            .call("Decrypt", decrypt(tampered, json!({"a": "1"})))
            .await
        {
            Ok(_) => panic!("tampered byte {i} decrypted"),
            Err(e) => e.aws_code(),
        };
        assert!(
            ["InvalidCiphertextException", "AccessDeniedException"].contains(&code),
            "byte {i}: {code}"
        );
    }
    // Empty or over 6144 bytes: the model's length, refused before anything reads it.
    for bad in [vec![], vec![1u8; 7000]] {
        c.fails(
            "Decrypt",
            decrypt(bad, json!({"a": "1"})),
            "ValidationException",
        )
        .await;
    }
    for bad in [blob[..30].to_vec(), vec![0u8; 100]] {
        c.fails(
            "Decrypt",
            decrypt(bad, json!({"a": "1"})),
            "InvalidCiphertextException",
        )
        .await;
    }
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": e["CiphertextBlob"], "EncryptionContext": {"a": "1"}, "KeyId": other}),
        "IncorrectKeyException",
    )
    .await;
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": "not base64!"}),
        "SerializationException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_encrypt_input_is_named() {
    let c = Cluster::start(73, 1).await;
    let id = c.create_key().await;
    let too_big = vec![0u8; 4097];
    for (input, field) in [
        (
            json!({"KeyId": id, "Plaintext": b64(&too_big)}),
            "plaintext",
        ),
        (json!({"KeyId": id, "Plaintext": ""}), "plaintext"),
        (json!({"KeyId": id}), "plaintext"),
        (json!({"Plaintext": b64(b"x")}), "keyId"),
        (
            json!({"KeyId": id, "Plaintext": b64(b"x"), "EncryptionAlgorithm": "AES"}),
            "encryptionAlgorithm",
        ),
    ] {
        let msg = c.fails("Encrypt", input, "ValidationException").await;
        assert!(msg.contains(field), "{msg}");
    }
    c.fails(
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"x"), "DryRun": true}),
        "DryRunOperationException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_states_are_enforced_as_aws_does() {
    let c = Cluster::start(74, 1).await;
    let id = c.create_key().await;
    let e = c
        .ok("Encrypt", json!({"KeyId": id, "Plaintext": b64(b"m")}))
        .await;
    c.ok("DisableKey", json!({"KeyId": id})).await;
    c.fails(
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"m")}),
        "DisabledException",
    )
    .await;
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": e["CiphertextBlob"]}),
        "DisabledException",
    )
    .await;
    c.fails(
        "GenerateDataKey",
        json!({"KeyId": id, "KeySpec": "AES_256"}),
        "DisabledException",
    )
    .await;
    c.ok("ScheduleKeyDeletion", json!({"KeyId": id})).await;
    c.fails(
        "Encrypt",
        json!({"KeyId": id, "Plaintext": b64(b"m")}),
        "KMSInvalidStateException",
    )
    .await;
    c.fails(
        "Decrypt",
        json!({"CiphertextBlob": e["CiphertextBlob"]}),
        "KMSInvalidStateException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn data_keys_re_encryption_and_random() {
    let c = Cluster::start(75, 1).await;
    let (a, b) = (c.create_key().await, c.create_key().await);
    for (input, len) in [
        (json!({"KeyId": a, "KeySpec": "AES_256"}), 32),
        (json!({"KeyId": a, "KeySpec": "AES_128"}), 16),
        (json!({"KeyId": a, "NumberOfBytes": 1}), 1),
        (json!({"KeyId": a, "NumberOfBytes": 1024}), 1024),
    ] {
        let g = c.ok("GenerateDataKey", input).await;
        let plaintext = unb64(&g["Plaintext"]);
        assert_eq!(plaintext.len(), len);
        let d = c
            .ok("Decrypt", json!({"CiphertextBlob": g["CiphertextBlob"]}))
            .await;
        assert_eq!(unb64(&d["Plaintext"]), plaintext);
    }
    for input in [
        json!({"KeyId": a}),
        json!({"KeyId": a, "KeySpec": "AES_256", "NumberOfBytes": 32}),
        json!({"KeyId": a, "NumberOfBytes": 0}),
        json!({"KeyId": a, "NumberOfBytes": 1025}),
    ] {
        c.fails("GenerateDataKey", input, "ValidationException")
            .await;
    }
    let w = c
        .ok(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": a, "KeySpec": "AES_256", "EncryptionContext": {"k": "v"}}),
        )
        .await;
    assert!(w.get("Plaintext").is_none());
    let r = c
        .ok(
            "ReEncrypt",
            json!({
                "CiphertextBlob": w["CiphertextBlob"],
                "SourceEncryptionContext": {"k": "v"},
                "DestinationKeyId": b,
                "DestinationEncryptionContext": {"k2": "v2"},
            }),
        )
        .await;
    assert!(r["KeyId"].as_str().unwrap().ends_with(&b));
    assert!(r["SourceKeyId"].as_str().unwrap().ends_with(&a));
    let d = c
        .ok(
            "Decrypt",
            json!({"CiphertextBlob": r["CiphertextBlob"], "EncryptionContext": {"k2": "v2"}}),
        )
        .await;
    assert_eq!(unb64(&d["Plaintext"]).len(), 32);
    c.fails(
        "ReEncrypt",
        json!({"CiphertextBlob": w["CiphertextBlob"], "DestinationKeyId": b}),
        "InvalidCiphertextException",
    )
    .await;
    c.fails(
        "ReEncrypt",
        json!({"CiphertextBlob": w["CiphertextBlob"], "SourceEncryptionContext": {"k": "v"}, "SourceKeyId": b, "DestinationKeyId": b}),
        "IncorrectKeyException",
    )
    .await;

    let r1 = unb64(&c.ok("GenerateRandom", json!({"NumberOfBytes": 64})).await["Plaintext"]);
    let r2 = unb64(&c.ok("GenerateRandom", json!({"NumberOfBytes": 64})).await["Plaintext"]);
    assert_eq!(r1.len(), 64);
    assert_ne!(r1, r2);
    for n in [json!(0), json!(1025)] {
        c.fails(
            "GenerateRandom",
            json!({"NumberOfBytes": n}),
            "ValidationException",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_names_the_material_that_sealed_or_opened() {
    let c = Cluster::start(84, 1).await;
    let (a, b) = (c.create_key().await, c.create_key().await);
    let material = |key: &str| {
        let key = trent_model::KeyId(key.parse().unwrap());
        trent_model::key_material_id(key, trent_model::FIRST_MATERIAL_VERSION)
    };
    let (ma, mb) = (material(&a), material(&b));
    assert_ne!(ma, mb);
    let described = c.ok("DescribeKey", json!({"KeyId": a})).await;
    assert_eq!(described["KeyMetadata"]["CurrentKeyMaterialId"], ma);
    let created = c.ok("CreateKey", json!({})).await;
    let id = created["KeyMetadata"]["KeyId"].as_str().unwrap();
    assert_eq!(created["KeyMetadata"]["CurrentKeyMaterialId"], material(id));
    let g = c
        .ok("GenerateDataKey", json!({"KeyId": a, "KeySpec": "AES_256"}))
        .await;
    assert_eq!(g["KeyMaterialId"], ma);
    let w = c
        .ok(
            "GenerateDataKeyWithoutPlaintext",
            json!({"KeyId": a, "NumberOfBytes": 16}),
        )
        .await;
    assert_eq!(w["KeyMaterialId"], ma);
    let d = c
        .ok("Decrypt", json!({"CiphertextBlob": g["CiphertextBlob"]}))
        .await;
    assert_eq!(d["KeyMaterialId"], ma);
    let r = c
        .ok(
            "ReEncrypt",
            json!({"CiphertextBlob": g["CiphertextBlob"], "DestinationKeyId": b}),
        )
        .await;
    assert_eq!(r["SourceKeyMaterialId"], ma);
    assert_eq!(r["DestinationKeyMaterialId"], mb);
}

/// GenerateDataKeyPair makes its key pair (RSA-4096: up to seconds of CPU) only for a call
/// that may seal it: a caller of another account, a disabled key, a key of the wrong usage,
/// DryRun and an unknown key are refused with no key pair generated.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_generate_data_key_pair_generates_nothing() {
    let c = Cluster::start(90, 1).await;
    let key = c.create_key().await;
    let hsm = &c.node(1).hsm;
    let pair = |key: &str| json!({"KeyId": key, "KeyPairSpec": "RSA_4096"});
    let arn = format!("arn:aws:kms:{REGION}:111122223333:key/{key}");
    let stranger = trent_model::Principal::root(other_account());
    let e = c
        .call_as(1, &stranger, "GenerateDataKeyPair", pair(&arn))
        .await
        .unwrap_err();
    assert_eq!(e.aws_code(), "AccessDeniedException", "{e}");
    let mut dry = pair(&key);
    dry["DryRun"] = json!(true);
    c.fails("GenerateDataKeyPair", dry, "DryRunOperationException")
        .await;
    let missing = "0000aaaa-12ab-34cd-56ef-1234567890ab";
    c.fails("GenerateDataKeyPair", pair(missing), "NotFoundException")
        .await;
    let hmac = c
        .ok(
            "CreateKey",
            json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
        )
        .await;
    let hmac = hmac["KeyMetadata"]["KeyId"].as_str().unwrap();
    c.fails(
        "GenerateDataKeyPair",
        pair(hmac),
        "InvalidKeyUsageException",
    )
    .await;
    c.ok("DisableKey", json!({"KeyId": key})).await;
    c.fails("GenerateDataKeyPair", pair(&key), "DisabledException")
        .await;
    assert_eq!(hsm.data_key_pairs_generated(), 0);
    c.ok("EnableKey", json!({"KeyId": key})).await;
    let made = c
        .ok(
            "GenerateDataKeyPairWithoutPlaintext",
            json!({"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"}),
        )
        .await;
    assert!(made["PrivateKeyCiphertextBlob"].is_string(), "{made}");
    assert_eq!(hsm.data_key_pairs_generated(), 1);
}
