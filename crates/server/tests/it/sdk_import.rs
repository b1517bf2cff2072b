//! Imported key material through the AWS SDK for Rust, each call through another node of a
//! 3-node cluster: an import, a rotation to new imported material, deletion by
//! `KeyMaterialId`, and the refusals the SDK surfaces as AWS's codes.
//!
//! Subnet 195.

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportType, IncludeKeyMaterial, KeyMaterialState, KeyState,
    WrappingKeySpec,
};
use aws_sdk_kms::Client;

use crate::harness::*;
use crate::sdk::{clients, code};

/// GetParametersForImport through `client`: the token, and `material` wrapped under the
/// public key (RSAES_OAEP_SHA_256).
async fn wrapped(client: &Client, key: &str, material: &[u8]) -> (Blob, Blob) {
    let params = client
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let public = params.public_key().unwrap().as_ref();
    let oaep = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public).unwrap());
    let oaep = oaep.unwrap();
    let mut out = vec![0; oaep.ciphertext_size()];
    let sealed = oaep
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .unwrap();
    (params.import_token().unwrap().clone(), Blob::new(sealed))
}

async fn import(
    client: &Client,
    key: &str,
    (token, material): (Blob, Blob),
    import_type: Option<ImportType>,
) -> Result<String, String> {
    let out = client
        .import_key_material()
        .key_id(key)
        .import_token(token)
        .encrypted_key_material(material)
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .set_import_type(import_type)
        .send()
        .await;
    match out {
        Ok(out) => Ok(out.key_material_id().unwrap().to_owned()),
        Err(e) => Err(code::<(), _>(Err(e))),
    }
}

async fn key_state(client: &Client, key: &str) -> KeyState {
    let out = client.describe_key().key_id(key).send().await.unwrap();
    out.key_metadata().unwrap().key_state().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_operations_and_their_errors() {
    let cluster = TestCluster::start(195, 3, &[]);
    cluster.leader().await;
    let c = clients(&cluster);
    let made = c[0]
        .create_key()
        .origin(aws_sdk_kms::types::OriginType::External)
        .send()
        .await
        .unwrap();
    let key = made.key_metadata().unwrap().key_id().to_owned();
    assert_eq!(key_state(&c[1], &key).await, KeyState::PendingImport);
    let refused = c[2].rotate_key_on_demand().key_id(&key).send().await;
    assert_eq!(code(refused), "KMSInvalidStateException");
    let existing = Some(ImportType::ExistingKeyMaterial);
    let refused = import(&c[1], &key, wrapped(&c[1], &key, &[1; 32]).await, existing).await;
    assert_eq!(refused.unwrap_err(), "IncorrectKeyMaterialException");

    // The first material, then a spent token.
    let parameters = wrapped(&c[1], &key, &[1; 32]).await;
    let first = import(&c[2], &key, parameters.clone(), None).await.unwrap();
    assert_eq!(key_state(&c[0], &key).await, KeyState::Enabled);
    let refused = import(&c[0], &key, parameters, None).await;
    assert_eq!(refused.unwrap_err(), "InvalidImportTokenException");
    let sealed = c[0]
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"first".to_vec()))
        .send()
        .await
        .unwrap();

    // New material, the rotation to it, and the list of both.
    let new = Some(ImportType::NewKeyMaterial);
    let second = import(
        &c[1],
        &key,
        wrapped(&c[2], &key, &[2; 32]).await,
        new.clone(),
    )
    .await
    .unwrap();
    let refused = import(&c[1], &key, wrapped(&c[2], &key, &[3; 32]).await, new).await;
    assert_eq!(refused.unwrap_err(), "KMSInvalidStateException");
    c[0].rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let listed = c[1]
        .list_key_rotations()
        .key_id(&key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    let states: Vec<_> = listed
        .rotations()
        .iter()
        .map(|r| {
            (
                r.key_material_id().unwrap(),
                r.key_material_state().cloned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (first.as_str(), Some(KeyMaterialState::NonCurrent)),
            (second.as_str(), Some(KeyMaterialState::Current)),
        ]
    );
    let opened = c[2]
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.key_material_id(), Some(first.as_str()));

    // Deletion by KeyMaterialId, and one the key does not have.
    let deleted = c[2]
        .delete_imported_key_material()
        .key_id(&key)
        .key_material_id(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_material_id(), Some(first.as_str()));
    assert_eq!(key_state(&c[0], &key).await, KeyState::PendingImport);
    let refused = c[1]
        .delete_imported_key_material()
        .key_id(&key)
        .key_material_id("ab".repeat(32))
        .send()
        .await;
    assert_eq!(code(refused), "IncorrectKeyMaterialException");
    // A key of trent's own material takes no import.
    let own = c[0].create_key().send().await.unwrap();
    let own = own.key_metadata().unwrap().key_id().to_owned();
    let refused = c[1]
        .get_parameters_for_import()
        .key_id(&own)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await;
    assert_eq!(code(refused), "UnsupportedOperationException");
}
