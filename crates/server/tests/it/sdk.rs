//! `aws-sdk-kms`, unchanged but for its endpoint, against a 3-node cluster of real `trentd`
//! processes; consecutive requests go to different nodes, so forwarding to the leader is
//! exercised everywhere and must be invisible.

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, Tag};
use aws_sdk_kms::Client;

use crate::harness::*;

/// An SDK client of `endpoint` signing with `id`/`secret`.
pub fn sdk(endpoint: &str, id: &str, secret: &str) -> Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .build();
    Client::from_conf(config)
}

/// One root client per node.
pub(crate) fn clients(cluster: &TestCluster) -> Vec<Client> {
    cluster
        .nodes
        .iter()
        .map(|n| sdk(&n.api(), ROOT_ACCESS_KEY_ID, ROOT_SECRET))
        .collect()
}

/// The AWS error code of a failed SDK call.
pub fn code<T, E: ProvideErrorMetadata + std::fmt::Debug>(
    result: Result<T, aws_sdk_kms::error::SdkError<E>>,
) -> String {
    match result {
        Ok(_) => panic!("the call succeeded"),
        Err(e) => e
            .as_service_error()
            .and_then(|s| s.code())
            .unwrap_or_else(|| panic!("not a service error: {e:?}"))
            .to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_works_through_every_node() {
    let cluster = TestCluster::start(61, 3, &[]);
    cluster.leader().await;
    let c = clients(&cluster);

    let created = c[0]
        .create_key()
        .description("sdk test")
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("kms")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata().unwrap();
    let id = meta.key_id().to_owned();
    let arn = meta.arn().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.aws_account_id(), Some(ACCOUNT));
    assert!(meta.creation_date().is_some());

    let described = c[1].describe_key().key_id(&arn).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().description(),
        Some("sdk test")
    );
    c[2].create_alias()
        .alias_name("alias/sdk")
        .target_key_id(&id)
        .send()
        .await
        .unwrap();

    // Crypto through the alias, on three different nodes.
    let sealed = c[0]
        .encrypt()
        .key_id("alias/sdk")
        .plaintext(Blob::new(b"hello".to_vec()))
        .encryption_context("purpose", "sdk")
        .send()
        .await
        .unwrap();
    assert_eq!(sealed.key_id(), Some(arn.as_str()));
    let blob = sealed.ciphertext_blob().unwrap().clone();
    let opened = c[1]
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "sdk")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"hello");
    assert_eq!(opened.key_id(), Some(arn.as_str()));
    let wrong = c[2]
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "other")
        .send()
        .await;
    assert_eq!(code(wrong), "InvalidCiphertextException");

    let other = c[2].create_key().send().await.unwrap();
    let other_id = other.key_metadata().unwrap().key_id().to_owned();
    let moved = c[2]
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("purpose", "sdk")
        .destination_key_id(&other_id)
        .send()
        .await
        .unwrap();
    let reopened = c[0]
        .decrypt()
        .ciphertext_blob(moved.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(reopened.plaintext().unwrap().as_ref(), b"hello");

    let data_key = c[0]
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);
    let again = c[1]
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.plaintext(), data_key.plaintext());
    let without = c[2]
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert!(without.ciphertext_blob().is_some());
    let random = c[0]
        .generate_random()
        .number_of_bytes(48)
        .send()
        .await
        .unwrap();
    assert_eq!(random.plaintext().unwrap().as_ref().len(), 48);

    // Listing, with pagination, tags, aliases.
    let mut listed = vec![];
    let mut pages = c[1].list_keys().limit(1).into_paginator().send();
    while let Some(page) = pages.next().await {
        listed.extend(
            page.unwrap()
                .keys()
                .iter()
                .map(|k| k.key_id().unwrap().to_owned()),
        );
    }
    assert!(
        listed.contains(&id) && listed.contains(&other_id),
        "{listed:?}"
    );
    let aliases = c[2].list_aliases().key_id(&id).send().await.unwrap();
    assert_eq!(aliases.aliases()[0].alias_name(), Some("alias/sdk"));
    c[0].untag_resource()
        .key_id(&id)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = c[1].list_resource_tags().key_id(&id).send().await.unwrap();
    assert!(tags.tags().is_empty());
    c[2].update_key_description()
        .key_id(&id)
        .description("renamed")
        .send()
        .await
        .unwrap();
    let usage = c[0].get_key_last_usage().key_id(&id).send().await.unwrap();
    assert!(usage.key_last_usage().is_some());

    // Key states, as every node sees them at once.
    c[1].disable_key().key_id(&id).send().await.unwrap();
    for client in &c {
        let refused = client
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await;
        assert_eq!(code(refused), "DisabledException");
    }
    c[2].enable_key().key_id(&id).send().await.unwrap();
    let scheduled = c[0]
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    let refused = c[1]
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("purpose", "sdk")
        .send()
        .await;
    assert_eq!(code(refused), "KMSInvalidStateException");
    c[2].cancel_key_deletion().key_id(&id).send().await.unwrap();
    let after = c[0].describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        after.key_metadata().unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_and_unsupported_operations_get_aws_errors() {
    let cluster = TestCluster::start(62, 3, &[]);
    cluster.leader().await;
    let c = clients(&cluster);
    let unsupported = c[0].describe_custom_key_stores().send().await;
    assert_eq!(code(unsupported), "UnsupportedOperationException");
    let missing = c[1].describe_key().key_id("alias/missing").send().await;
    assert_eq!(code(missing), "NotFoundException");
    let malformed = c[2]
        .describe_key()
        .key_id("arn:aws:kms:nowhere")
        .send()
        .await;
    assert_eq!(code(malformed), "InvalidArnException");
    let window = c[0]
        .schedule_key_deletion()
        .key_id("1234abcd-12ab-34cd-56ef-1234567890ab")
        .pending_window_in_days(6)
        .send()
        .await;
    assert_eq!(code(window), "ValidationException");
    let too_big = c[1]
        .encrypt()
        .key_id("alias/none")
        .plaintext(Blob::new(vec![0; 4097]))
        .send()
        .await;
    assert_eq!(code(too_big), "ValidationException");
    let garbage = c[2]
        .decrypt()
        .ciphertext_blob(Blob::new(vec![7; 100]))
        .send()
        .await;
    assert_eq!(code(garbage), "InvalidCiphertextException");
}

/// Rotation through the AWS SDK for Rust, each operation through another node, and the
/// refusals it surfaces as AWS's codes.
#[tokio::test(flavor = "multi_thread")]
async fn rotation_operations_and_their_errors() {
    let cluster = TestCluster::start(190, 3, &[]);
    cluster.leader().await;
    let c = clients(&cluster);
    let key = c[0].create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().key_id().to_owned();
    let sealed = c[1]
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"before".to_vec()))
        .send()
        .await
        .unwrap();
    c[1].enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(120)
        .send()
        .await
        .unwrap();
    let status = c[2]
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(120));
    assert!(status.next_rotation_date().is_some());
    let rotated = c[0]
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(rotated.key_id().unwrap().ends_with(&key));
    let listed = c[1].list_key_rotations().key_id(&key).send().await.unwrap();
    let rotations = listed.rotations();
    assert_eq!(rotations.len(), 1);
    assert_eq!(
        rotations[0].rotation_type().map(|t| t.as_str()),
        Some("ON_DEMAND")
    );
    let opened = c[2]
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"before");
    assert_ne!(
        opened.key_material_id(),
        rotations[0].key_material_id(),
        "the old ciphertext names the first material"
    );
    c[2].disable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .unwrap();

    let hmac = c[0]
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Hmac256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap();
    let hmac = hmac.key_metadata().unwrap().key_id().to_owned();
    let refused = c[1].rotate_key_on_demand().key_id(&hmac).send().await;
    assert_eq!(code(refused), "UnsupportedOperationException");
    let refused = c[1]
        .enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(3000)
        .send()
        .await;
    assert_eq!(code(refused), "ValidationException");
    let refused = c[2]
        .list_key_rotations()
        .key_id(&key)
        .marker("not-a-marker")
        .send()
        .await;
    assert_eq!(code(refused), "InvalidMarkerException");
    c[0].disable_key().key_id(&key).send().await.unwrap();
    let refused = c[0].rotate_key_on_demand().key_id(&key).send().await;
    assert_eq!(code(refused), "DisabledException");
    let missing = "0000aaaa-12ab-34cd-56ef-1234567890ab";
    let refused = c[1].get_key_rotation_status().key_id(missing).send().await;
    assert_eq!(code(refused), "NotFoundException");
}
