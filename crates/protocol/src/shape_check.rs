//! Checks a response body against the AWS model ([`crate::aws_model`]): the tests' answer to
//! "does trent answer what AWS answers". Every member present must be a member of the
//! operation's output shape with the JSON type and constraints the model gives it, recursively;
//! every member the model requires, and every member AWS always sends ([`always_sent`]: what
//! recordings of AWS show, which the model does not say), must be present.

use base64::Engine;
use serde_json::{Map, Value};

use crate::aws_model::{model, Shape, ShapeType};

/// Checks the response `body` of the operation `operation` (`"Encrypt"`). An operation
/// without an output shape (EnableKey, CreateAlias...) must answer an empty object. The
/// error lists every problem found, one per line, each with its JSON path.
pub fn check_output(operation: &str, body: &Value) -> Result<(), String> {
    let op = model()
        .operation(operation)
        .ok_or_else(|| format!("{operation} is not an operation of the AWS model"))?;
    let mut problems = Vec::new();
    match &op.output {
        None => {
            if body != &Value::Object(Map::new()) {
                problems.push(format!(
                    "{operation} has no output shape but answered {body}"
                ));
            }
        }
        Some(shape) => check(shape, body, operation, &mut problems),
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("\n")),
    }
}

/// The members of the structure `shape` that AWS sends whenever it sends the structure, given
/// the structure as sent (some depend on other members: a key pending deletion has a deletion
/// date), and the members it sends only in those cases (absent otherwise).
pub fn always_sent(
    shape: &str,
    value: &Map<String, Value>,
) -> (Vec<&'static str>, Vec<&'static str>) {
    let text = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default();
    let truncated = value.get("Truncated") == Some(&Value::Bool(true));
    let paged = |members: &[&'static str]| match truncated {
        true => (
            members.iter().copied().chain(["NextMarker"]).collect(),
            vec![],
        ),
        false => (members.to_vec(), vec!["NextMarker"]),
    };
    let mut conditional = Vec::new();
    let always: Vec<&'static str> = match shape {
        // DescribeKey of a symmetric AWS_KMS key as AWS answers it (LocalStack's snapshots,
        // recorded against AWS); other kinds of key lack some of these (no material yet, no
        // encryption algorithms), so only the members every key has are asked of them.
        "KeyMetadata" => {
            let mut members = vec![
                "AWSAccountId",
                "Arn",
                "CreationDate",
                "Description",
                "Enabled",
                "KeyId",
                "KeyManager",
                "KeySpec",
                "KeyState",
                "KeyUsage",
                "MultiRegion",
                "Origin",
            ];
            if text("KeySpec") == "SYMMETRIC_DEFAULT" && text("Origin") == "AWS_KMS" {
                members.extend(["CurrentKeyMaterialId", "EncryptionAlgorithms"]);
            }
            // Only symmetric encryption keys name their current material.
            if text("KeySpec") != "SYMMETRIC_DEFAULT" {
                conditional.push("CurrentKeyMaterialId");
            }
            // Imported material's expiry: EXTERNAL keys only, the date only if it expires.
            if text("Origin") != "EXTERNAL" {
                conditional.push("ExpirationModel");
            }
            if text("ExpirationModel") != "KEY_MATERIAL_EXPIRES" {
                conditional.push("ValidTo");
            }
            // The deprecated spec, for the specs its enum has (not those added since).
            match text("KeySpec").starts_with("ML_") || text("KeySpec") == "ECC_NIST_EDWARDS25519" {
                true => conditional.push("CustomerMasterKeySpec"),
                false => members.push("CustomerMasterKeySpec"),
            }
            // The algorithm list of the key's usage, and no other.
            let lists = [
                ("ENCRYPT_DECRYPT", "EncryptionAlgorithms"),
                ("SIGN_VERIFY", "SigningAlgorithms"),
                ("GENERATE_VERIFY_MAC", "MacAlgorithms"),
                ("KEY_AGREEMENT", "KeyAgreementAlgorithms"),
                ("ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms"),
            ];
            for (usage, list) in lists {
                match text("KeyUsage") == usage {
                    true if !members.contains(&list) => members.push(list),
                    true => {}
                    false => conditional.push(list),
                }
            }
            let pending = ["DeletionDate", "PendingDeletionWindowInDays"];
            match text("KeyState") == "PendingDeletion" {
                true => members.extend(pending),
                false => conditional.extend(pending),
            }
            members
        }
        "CreateKeyResponse" | "DescribeKeyResponse" => vec!["KeyMetadata"],
        "ListKeysResponse" => return paged(&["Keys", "Truncated"]),
        "KeyListEntry" => vec!["KeyArn", "KeyId"],
        "ListAliasesResponse" => return paged(&["Aliases", "Truncated"]),
        "AliasListEntry" => match text("AliasName").starts_with("alias/aws/") {
            // An AWS managed alias may have no key yet.
            true => vec!["AliasArn", "AliasName"],
            false => vec![
                "AliasArn",
                "AliasName",
                "CreationDate",
                "LastUpdatedDate",
                "TargetKeyId",
            ],
        },
        "ListResourceTagsResponse" => return paged(&["Tags", "Truncated"]),
        "ScheduleKeyDeletionResponse" => {
            vec!["DeletionDate", "KeyId", "KeyState", "PendingWindowInDays"]
        }
        "CancelKeyDeletionResponse" | "RotateKeyOnDemandResponse" => vec!["KeyId"],
        // The schedule while automatic rotation is on; trent's on-demand rotations complete
        // within the request, so none is ever in progress.
        "GetKeyRotationStatusResponse" => {
            let schedule = ["NextRotationDate", "RotationPeriodInDays"];
            let mut members = vec!["KeyId", "KeyRotationEnabled"];
            match value.get("KeyRotationEnabled") == Some(&Value::Bool(true)) {
                true => members.extend(schedule),
                false => conditional.extend(schedule),
            }
            conditional.push("OnDemandRotationStartDate");
            members
        }
        "ListKeyRotationsResponse" => return paged(&["Rotations", "Truncated"]),
        "GetParametersForImportResponse" => {
            vec!["ImportToken", "KeyId", "ParametersValidTo", "PublicKey"]
        }
        // KeyMaterialId for symmetric encryption keys (the only ones AWS names material of).
        "ImportKeyMaterialResponse" | "DeleteImportedKeyMaterialResponse" => vec!["KeyId"],
        // The first material has no rotation date or type; the import members are for
        // EXTERNAL keys only.
        "RotationsListEntry" => {
            let mut members = vec!["KeyId", "KeyMaterialId", "KeyMaterialState"];
            match value.contains_key("RotationType") {
                true => members.extend(["RotationDate", "RotationType"]),
                false => conditional.push("RotationDate"),
            }
            members
        }
        // KeyLastUsage is an empty structure until the key is used.
        "GetKeyLastUsageResponse" => vec![
            "KeyCreationDate",
            "KeyId",
            "KeyLastUsage",
            "TrackingStartDate",
        ],
        "EncryptResponse" => vec!["CiphertextBlob", "EncryptionAlgorithm", "KeyId"],
        "DecryptResponse" => vec!["EncryptionAlgorithm", "KeyId", "KeyMaterialId", "Plaintext"],
        "ReEncryptResponse" => vec![
            "CiphertextBlob",
            "DestinationEncryptionAlgorithm",
            "DestinationKeyMaterialId",
            "KeyId",
            "SourceEncryptionAlgorithm",
            "SourceKeyId",
            "SourceKeyMaterialId",
        ],
        "GenerateDataKeyResponse" => vec!["CiphertextBlob", "KeyId", "KeyMaterialId", "Plaintext"],
        "GenerateDataKeyWithoutPlaintextResponse" => {
            vec!["CiphertextBlob", "KeyId", "KeyMaterialId"]
        }
        "GenerateRandomResponse" => vec!["Plaintext"],
        "SignResponse" => vec!["KeyId", "Signature", "SigningAlgorithm"],
        "VerifyResponse" => vec!["KeyId", "SignatureValid", "SigningAlgorithm"],
        "GetPublicKeyResponse" => vec!["KeyId", "KeySpec", "KeyUsage", "PublicKey"],
        "GenerateMacResponse" => vec!["KeyId", "Mac", "MacAlgorithm"],
        "VerifyMacResponse" => vec!["KeyId", "MacAlgorithm", "MacValid"],
        "DeriveSharedSecretResponse" => {
            vec![
                "KeyAgreementAlgorithm",
                "KeyId",
                "KeyOrigin",
                "SharedSecret",
            ]
        }
        "GenerateDataKeyPairResponse" => vec![
            "KeyId",
            "KeyMaterialId",
            "KeyPairSpec",
            "PrivateKeyCiphertextBlob",
            "PrivateKeyPlaintext",
            "PublicKey",
        ],
        "GenerateDataKeyPairWithoutPlaintextResponse" => vec![
            "KeyId",
            "KeyMaterialId",
            "KeyPairSpec",
            "PrivateKeyCiphertextBlob",
            "PublicKey",
        ],
        "EncapsulateResponse" => vec![
            "EncapsulationAlgorithm",
            "KeyId",
            "SharedSecret",
            "SharedSecretCiphertextBlob",
        ],
        "DecapsulateResponse" => vec!["EncapsulationAlgorithm", "KeyId", "SharedSecret"],
        "GetKeyPolicyResponse" => vec!["Policy", "PolicyName"],
        "ListKeyPoliciesResponse" => return paged(&["PolicyNames", "Truncated"]),
        "CreateGrantResponse" => vec!["GrantId", "GrantToken"],
        "ListGrantsResponse" | "ListRetirableGrantsResponse" => {
            return paged(&["Grants", "Truncated"])
        }
        // Name, RetiringPrincipal and Constraints only when the grant has them.
        "GrantListEntry" => vec![
            "CreationDate",
            "GrantId",
            "GranteePrincipal",
            "IssuingAccount",
            "KeyId",
            "Operations",
        ],
        _ => vec![],
    };
    (always, conditional)
}

fn check(name: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(shape) = model().shape(name) else {
        problems.push(format!("{path}: the model has no shape {name}"));
        return;
    };
    let mut wrong = |expected: &str| {
        problems.push(format!("{path}: expected {expected} ({name}), got {value}"));
    };
    match (shape.kind, value) {
        (_, Value::Null) => wrong("a value, not null (AWS omits absent members)"),
        (ShapeType::String, Value::String(s)) => check_string(name, shape, s, path, problems),
        (ShapeType::Integer | ShapeType::Long, Value::Number(n)) => match n.as_i64() {
            Some(n) => bounds(shape, n, "value", path, problems),
            None => wrong("an integer"),
        },
        (ShapeType::Boolean, Value::Bool(_)) => {}
        // Epoch seconds, as AWS JSON 1.1 sends timestamps.
        (ShapeType::Timestamp, Value::Number(_)) => {}
        (ShapeType::Blob, Value::String(s)) => {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => bounds(shape, bytes.len() as i64, "length", path, problems),
                Err(e) => wrong(&format!("base64 ({e})")),
            }
        }
        (ShapeType::List, Value::Array(items)) => {
            bounds(shape, items.len() as i64, "size", path, problems);
            let member = shape.member.as_deref().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                check(member, item, &format!("{path}[{i}]"), problems);
            }
        }
        (ShapeType::Map, Value::Object(entries)) => {
            bounds(shape, entries.len() as i64, "size", path, problems);
            let (key, value) = (shape.key.as_deref(), shape.value.as_deref());
            for (k, v) in entries {
                let at = format!("{path}.{k}");
                check(
                    key.unwrap_or_default(),
                    &Value::String(k.clone()),
                    &at,
                    problems,
                );
                check(value.unwrap_or_default(), v, &at, problems);
            }
        }
        (ShapeType::Structure, Value::Object(members)) => {
            check_structure(name, shape, members, path, problems)
        }
        (kind, _) => wrong(&format!("{kind:?}").to_lowercase()),
    }
}

fn check_structure(
    name: &str,
    shape: &Shape,
    members: &Map<String, Value>,
    path: &str,
    problems: &mut Vec<String>,
) {
    for (member, value) in members {
        match shape.member(member) {
            Some((_, member_shape)) => {
                check(member_shape, value, &format!("{path}.{member}"), problems)
            }
            None => problems.push(format!("{path}: {member} is not a member of {name}")),
        }
    }
    let (always, only_when) = always_sent(name, members);
    let required = shape.required.iter().map(String::as_str);
    for member in required.chain(always) {
        if !members.contains_key(member) {
            problems.push(format!(
                "{path}: {member} is missing ({name} always has it)"
            ));
        }
    }
    for member in only_when {
        if members.contains_key(member) {
            problems.push(format!(
                "{path}: {member} is sent only in other cases ({name})"
            ));
        }
    }
}

fn check_string(name: &str, shape: &Shape, s: &str, path: &str, problems: &mut Vec<String>) {
    if let Some(values) = &shape.enum_values {
        if !values.iter().any(|v| v == s) {
            problems.push(format!(
                "{path}: {s:?} is not a value of {name}: {values:?}"
            ));
        }
    }
    bounds(shape, s.chars().count() as i64, "length", path, problems);
    if let Some(pattern) = &shape.pattern {
        if !matches(pattern, s) {
            problems.push(format!(
                "{path}: {s:?} does not match {name}'s pattern {pattern}"
            ));
        }
    }
}

fn bounds(shape: &Shape, n: i64, what: &str, path: &str, problems: &mut Vec<String>) {
    let low = shape.min.is_some_and(|min| n < min);
    let high = shape.max.is_some_and(|max| n > max);
    if low || high {
        problems.push(format!(
            "{path}: {what} {n} is outside [{:?}, {:?}]",
            shape.min, shape.max
        ));
    }
}

use crate::validate::full_match as matches;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata() -> Value {
        json!({
            "AWSAccountId": "111122223333",
            "Arn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "CreationDate": 1.7e9,
            "CurrentKeyMaterialId": "ab".repeat(32),
            "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "Description": "",
            "Enabled": true,
            "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
            "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
            "KeyManager": "CUSTOMER",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyState": "Enabled",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "MultiRegion": false,
            "Origin": "AWS_KMS",
        })
    }

    fn fails(op: &str, body: Value, problem: &str) {
        let e = check_output(op, &body).expect_err(problem);
        assert!(e.contains(problem), "{e}");
    }

    #[test]
    fn an_aws_shaped_answer_passes() {
        check_output("DescribeKey", &json!({"KeyMetadata": metadata()})).unwrap();
        let mut pending = metadata();
        pending["KeyState"] = json!("PendingDeletion");
        pending["Enabled"] = json!(false);
        pending["DeletionDate"] = json!(1.8e9);
        pending["PendingDeletionWindowInDays"] = json!(7);
        check_output("DescribeKey", &json!({"KeyMetadata": pending})).unwrap();
        check_output("EnableKey", &json!({})).unwrap();
        check_output("ListKeys", &json!({"Keys": [], "Truncated": false})).unwrap();
        check_output(
            "ListKeys",
            &json!({"Keys": [{"KeyId": "k", "KeyArn": "arn:aws:kms:us-east-1:1:key/k"}],
                    "Truncated": true, "NextMarker": "k"}),
        )
        .unwrap();
        check_output(
            "Encrypt",
            &json!({"CiphertextBlob": "AQID", "KeyId": "k", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}),
        )
        .unwrap();
    }

    #[test]
    fn every_kind_of_departure_is_named() {
        let mut extra = metadata();
        extra["Colour"] = json!("red");
        fails(
            "DescribeKey",
            json!({"KeyMetadata": extra}),
            "Colour is not a member of KeyMetadata",
        );
        let mut missing = metadata();
        missing
            .as_object_mut()
            .unwrap()
            .remove("CurrentKeyMaterialId");
        fails(
            "CreateKey",
            json!({"KeyMetadata": missing}),
            "CurrentKeyMaterialId is missing",
        );
        let mut not_pending = metadata();
        not_pending["DeletionDate"] = json!(1.8e9);
        fails(
            "DescribeKey",
            json!({"KeyMetadata": not_pending}),
            "DeletionDate is sent only",
        );
        let mut pending = metadata();
        pending["KeyState"] = json!("PendingDeletion");
        fails(
            "DescribeKey",
            json!({"KeyMetadata": pending}),
            "DeletionDate is missing",
        );
        let mut wrong = metadata();
        wrong["KeyState"] = json!("Sleeping");
        wrong["Enabled"] = json!("true");
        wrong["CreationDate"] = json!("2024-01-01");
        wrong["CurrentKeyMaterialId"] = json!("AB".repeat(32));
        wrong["EncryptionAlgorithms"] = json!("SYMMETRIC_DEFAULT");
        wrong["Description"] = Value::Null;
        let e = check_output("DescribeKey", &json!({"KeyMetadata": wrong})).unwrap_err();
        for problem in [
            "KeyMetadata.KeyState: \"Sleeping\" is not a value of KeyState",
            "KeyMetadata.Enabled: expected boolean",
            "KeyMetadata.CreationDate: expected timestamp",
            "KeyMetadata.CurrentKeyMaterialId: \"ABAB",
            "KeyMetadata.EncryptionAlgorithms: expected list",
            "KeyMetadata.Description: expected a value, not null",
        ] {
            assert!(e.contains(problem), "{problem}: {e}");
        }
        fails(
            "Decrypt",
            json!({"KeyId": "k", "Plaintext": "not base64!", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "KeyMaterialId": "ab".repeat(32)}),
            "Plaintext: expected base64",
        );
        fails(
            "GenerateRandom",
            json!({"Plaintext": ""}),
            "length 0 is outside",
        );
        fails(
            "ListKeys",
            json!({"Keys": [], "Truncated": true}),
            "NextMarker is missing",
        );
        fails(
            "ListKeys",
            json!({"Keys": [], "Truncated": false, "NextMarker": "k"}),
            "NextMarker is sent only",
        );
        fails(
            "ListResourceTags",
            json!({"Tags": [{"TagKey": "k"}], "Truncated": false}),
            "TagValue is missing",
        );
        fails(
            "GetKeyLastUsage",
            json!({"KeyId": "k", "KeyLastUsage": {"Operation": "Sign2"}}),
            "Sign2",
        );
        fails("EnableKey", json!({"KeyId": "k"}), "has no output shape");
        fails("Nope", json!({}), "not an operation");
    }

    #[test]
    fn every_pattern_of_the_model_compiles() {
        for (name, shape) in model().shapes() {
            if let Some(pattern) = &shape.pattern {
                assert!(regex::Regex::new(pattern).is_ok(), "{name}: {pattern}");
            }
        }
        assert!(matches("[0-9]{12}", "111122223333"));
        assert!(!matches("[0-9]{12}", "1111222233334"));
        assert!(!matches("^[a-f0-9]+$", "ABCD"));
    }
}
