//! Key life cycle, aliases and tags: success shapes and documented errors, with no state
//! change on bad input.

use serde_json::json;
use trent_model::Principal;
use trent_service::Limits;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn create_describe_list_and_change_keys() {
    let c = Cluster::start(61, 1).await;
    let out = c
        .ok(
            "CreateKey",
            json!({"Description": "app key", "Tags": [{"TagKey": "team", "TagValue": "a"}]}),
        )
        .await;
    let m = &out["KeyMetadata"];
    let id = m["KeyId"].as_str().unwrap();
    assert_eq!(m["AWSAccountId"], "111122223333");
    assert_eq!(
        m["Arn"],
        format!("arn:aws:kms:{REGION}:111122223333:key/{id}")
    );
    assert_eq!(m["KeyState"], "Enabled");
    assert_eq!(m["Enabled"], true);
    assert_eq!(m["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(m["KeyUsage"], "ENCRYPT_DECRYPT");
    assert_eq!(m["Origin"], "AWS_KMS");
    assert_eq!(m["KeyManager"], "CUSTOMER");
    assert_eq!(m["Description"], "app key");
    assert_eq!(m["EncryptionAlgorithms"], json!(["SYMMETRIC_DEFAULT"]));
    assert!(m["CreationDate"].as_f64().unwrap() > 1.6e9);

    let arn = m["Arn"].as_str().unwrap();
    for key_id in [id, arn] {
        let d = c.ok("DescribeKey", json!({"KeyId": key_id})).await;
        assert_eq!(d["KeyMetadata"]["KeyId"], id);
    }

    c.ok("DisableKey", json!({"KeyId": id})).await;
    let d = c.ok("DescribeKey", json!({"KeyId": id})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
    assert_eq!(d["KeyMetadata"]["Enabled"], false);
    c.ok("EnableKey", json!({"KeyId": id})).await;
    c.ok(
        "UpdateKeyDescription",
        json!({"KeyId": id, "Description": "renamed"}),
    )
    .await;
    let d = c.ok("DescribeKey", json!({"KeyId": id})).await;
    assert_eq!(d["KeyMetadata"]["Description"], "renamed");

    let s = c
        .ok(
            "ScheduleKeyDeletion",
            json!({"KeyId": id, "PendingWindowInDays": 7}),
        )
        .await;
    assert_eq!(s["KeyState"], "PendingDeletion");
    assert_eq!(s["PendingWindowInDays"], 7);
    assert_eq!(s["KeyId"], arn);
    c.fails(
        "EnableKey",
        json!({"KeyId": id}),
        "KMSInvalidStateException",
    )
    .await;
    c.fails(
        "ScheduleKeyDeletion",
        json!({"KeyId": id}),
        "KMSInvalidStateException",
    )
    .await;
    let cancelled = c.ok("CancelKeyDeletion", json!({"KeyId": id})).await;
    assert_eq!(cancelled["KeyId"], arn);
    let d = c.ok("DescribeKey", json!({"KeyId": id})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Disabled");
    c.fails(
        "CancelKeyDeletion",
        json!({"KeyId": id}),
        "KMSInvalidStateException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_keys_paginates_with_markers() {
    let c = Cluster::start(62, 1).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(c.create_key().await);
    }
    created.sort();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut input = json!({"Limit": 2});
        if let Some(m) = &marker {
            input["Marker"] = json!(m);
        }
        let page = c.ok("ListKeys", input).await;
        for k in page["Keys"].as_array().unwrap() {
            seen.push(k["KeyId"].as_str().unwrap().to_owned());
            assert!(k["KeyArn"]
                .as_str()
                .unwrap()
                .ends_with(k["KeyId"].as_str().unwrap()));
        }
        if page["Truncated"] == false {
            assert!(page.get("NextMarker").is_none());
            break;
        }
        marker = Some(page["NextMarker"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, created);
    c.fails("ListKeys", json!({"Limit": 0}), "ValidationException")
        .await;
    c.fails("ListKeys", json!({"Limit": 1001}), "ValidationException")
        .await;
    c.fails(
        "ListKeys",
        json!({"Marker": "garbage"}),
        "InvalidMarkerException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_key_input_is_refused_by_name_without_state_change() {
    let c = Cluster::start(63, 1).await;
    let id = c.create_key().await;
    let before = c.ok("ListKeys", json!({})).await;
    let too_long = "d".repeat(8193);
    let msg = c
        .fails(
            "CreateKey",
            json!({"Description": too_long}),
            "ValidationException",
        )
        .await;
    assert!(msg.contains("description"), "{msg}");
    c.fails(
        "CreateKey",
        json!({"KeySpec": "AES_999"}),
        "ValidationException",
    )
    .await;
    c.fails(
        "CreateKey",
        json!({"KeySpec": "SM2"}),
        "UnsupportedOperationException",
    )
    .await;
    c.fails("CreateKey", json!({"Bogus": 1}), "ValidationException")
        .await;
    c.fails(
        "CreateKey",
        json!({"Tags": [{"TagKey": "", "TagValue": "x"}]}),
        "ValidationException",
    )
    .await;
    c.fails(
        "CreateKey",
        json!({"Tags": [{"TagKey": "aws:x", "TagValue": "x"}]}),
        "TagException",
    )
    .await;
    for window in [6, 31] {
        let msg = c
            .fails(
                "ScheduleKeyDeletion",
                json!({"KeyId": id, "PendingWindowInDays": window}),
                "ValidationException",
            )
            .await;
        assert!(msg.contains("pendingWindowInDays"), "{msg}");
    }
    c.fails("DescribeKey", json!({}), "ValidationException")
        .await;
    c.fails(
        "DescribeKey",
        json!({"KeyId": "not-a-key"}),
        "NotFoundException",
    )
    .await;
    c.fails(
        "DescribeKey",
        json!({"KeyId": "arn:aws:kms"}),
        "InvalidArnException",
    )
    .await;
    c.fails(
        "DescribeKey",
        json!({"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}),
        "NotFoundException",
    )
    .await;
    c.fails(
        "EnableKey",
        json!({"KeyId": "alias/x"}),
        "NotFoundException",
    )
    .await;
    c.fails(
        "NoSuchOperation",
        json!({}),
        "UnsupportedOperationException",
    )
    .await;
    assert_eq!(c.ok("ListKeys", json!({})).await, before);
    let d = c.ok("DescribeKey", json!({"KeyId": id})).await;
    assert_eq!(d["KeyMetadata"]["KeyState"], "Enabled");
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_name_keys_everywhere_aws_accepts_them() {
    let c = Cluster::start(64, 1).await;
    let (a, b) = (c.create_key().await, c.create_key().await);
    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": a}),
    )
    .await;
    let alias_arn = format!("arn:aws:kms:{REGION}:111122223333:alias/app");
    for name in ["alias/app", alias_arn.as_str()] {
        let d = c.ok("DescribeKey", json!({"KeyId": name})).await;
        assert_eq!(d["KeyMetadata"]["KeyId"], a);
    }
    c.fails(
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": b}),
        "AlreadyExistsException",
    )
    .await;
    for bad in ["app", "alias/", "alias/a b"] {
        c.fails(
            "CreateAlias",
            json!({"AliasName": bad, "TargetKeyId": a}),
            "ValidationException",
        )
        .await;
    }
    c.fails(
        "CreateAlias",
        json!({"AliasName": "alias/aws/mine", "TargetKeyId": a}),
        "NotAuthorizedException",
    )
    .await;
    c.fails(
        "CreateAlias",
        json!({"AliasName": "alias/x", "TargetKeyId": "alias/app"}),
        "ValidationException",
    )
    .await;
    c.ok(
        "UpdateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": b}),
    )
    .await;
    let listed = c.ok("ListAliases", json!({"KeyId": b})).await;
    let aliases = listed["Aliases"].as_array().unwrap();
    assert_eq!(aliases.len(), 1);
    assert_eq!(aliases[0]["AliasName"], "alias/app");
    assert_eq!(aliases[0]["AliasArn"], alias_arn);
    assert_eq!(aliases[0]["TargetKeyId"], b);
    assert_eq!(
        c.ok("ListAliases", json!({"KeyId": a})).await["Aliases"],
        json!([])
    );
    c.ok("DeleteAlias", json!({"AliasName": "alias/app"})).await;
    c.fails(
        "DeleteAlias",
        json!({"AliasName": "alias/app"}),
        "NotFoundException",
    )
    .await;
    c.fails(
        "DescribeKey",
        json!({"KeyId": "alias/app"}),
        "NotFoundException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_are_set_replaced_listed_and_removed() {
    let c = Cluster::start(65, 1).await;
    let id = c.create_key().await;
    let tags = json!([{"TagKey": "b", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}]);
    c.ok("TagResource", json!({"KeyId": id, "Tags": tags}))
        .await;
    c.ok(
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "b", "TagValue": "3"}]}),
    )
    .await;
    let listed = c.ok("ListResourceTags", json!({"KeyId": id})).await;
    assert_eq!(
        listed["Tags"],
        json!([{"TagKey": "a", "TagValue": "2"}, {"TagKey": "b", "TagValue": "3"}])
    );
    let page = c
        .ok("ListResourceTags", json!({"KeyId": id, "Limit": 1}))
        .await;
    assert_eq!(page["Truncated"], true);
    let next = c
        .ok(
            "ListResourceTags",
            json!({"KeyId": id, "Limit": 1, "Marker": page["NextMarker"]}),
        )
        .await;
    assert_eq!(next["Tags"], json!([{"TagKey": "b", "TagValue": "3"}]));
    c.ok("UntagResource", json!({"KeyId": id, "TagKeys": ["a"]}))
        .await;
    let listed = c.ok("ListResourceTags", json!({"KeyId": id})).await;
    assert_eq!(listed["Tags"], json!([{"TagKey": "b", "TagValue": "3"}]));
    c.fails(
        "TagResource",
        json!({"KeyId": id, "Tags": [{"TagKey": "k", "TagValue": "v".repeat(257)}]}),
        "ValidationException",
    )
    .await;
    c.fails("UntagResource", json!({"KeyId": id}), "ValidationException")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_are_enforced() {
    let limits = Limits {
        keys_per_account: 2,
        aliases_per_key: 1,
        ..Limits::default()
    };
    let c = Cluster::start_with(66, 1, limits, test_tuning()).await;
    let id = c.create_key().await;
    c.create_key().await;
    c.fails("CreateKey", json!({}), "LimitExceededException")
        .await;
    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/one", "TargetKeyId": id}),
    )
    .await;
    c.fails(
        "CreateAlias",
        json!({"AliasName": "alias/two", "TargetKeyId": id}),
        "LimitExceededException",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_account_can_neither_see_nor_use_a_key() {
    let c = Cluster::start(67, 1).await;
    let id = c.create_key().await;
    let arn = format!("arn:aws:kms:{REGION}:111122223333:key/{id}");
    let stranger = Principal::root(other_account());
    let by_id = c
        .call_as(1, &stranger, "DescribeKey", json!({"KeyId": id}))
        .await
        .unwrap_err();
    assert_eq!(by_id.aws_code(), "NotFoundException");
    for (op, input) in [
        ("DescribeKey", json!({"KeyId": arn})),
        ("Encrypt", json!({"KeyId": arn, "Plaintext": b64(b"x")})),
        ("DisableKey", json!({"KeyId": arn})),
    ] {
        let e = c.call_as(1, &stranger, op, input).await.unwrap_err();
        assert_eq!(e.aws_code(), "AccessDeniedException", "{op}: {}", e.message);
        assert!(
            e.message.contains("arn:aws:iam::444455556666:root"),
            "{}",
            e.message
        );
    }
    let theirs = c
        .call_as(1, &stranger, "ListKeys", json!({}))
        .await
        .unwrap();
    assert_eq!(theirs["Keys"], json!([]));
    let user = Principal {
        account: account(),
        user: Some("alice".parse().unwrap()),
    };
    // A user of the key's own account needs an identity policy: the default key policy
    // delegates to them, and this one has none.
    let e = c
        .call_as(1, &user, "DescribeKey", json!({"KeyId": id}))
        .await
        .unwrap_err();
    assert_eq!(e.aws_code(), "AccessDeniedException");
    assert!(
        e.message
            .ends_with("because no identity-based policy allows the kms:DescribeKey action"),
        "{}",
        e.message
    );
}

/// A write retried with the request id of an attempt that was applied (its client lost the
/// reply) answers what the first attempt answered, even where validating against the state
/// that now includes the first attempt would refuse it.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_write_answers_what_its_applied_first_attempt_answered() {
    let c = Cluster::start(82, 1).await;
    let id = c.create_key().await;
    let attempt = |op: &str, input: serde_json::Value, request_id: uuid::Uuid| {
        let op = trent_service::Operation::from_target(op, input).unwrap();
        let c = &c;
        async move { c.execute(1, &root(), request_id, op).await }
    };
    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/retried", "TargetKeyId": id}),
    )
    .await;
    let delete = uuid::Uuid::new_v4();
    let input = json!({"AliasName": "alias/retried"});
    attempt("DeleteAlias", input.clone(), delete).await.unwrap();
    assert_eq!(
        attempt("DeleteAlias", input.clone(), delete).await.unwrap(),
        json!({})
    );
    // A new request (another id) sees the alias gone.
    let fresh = attempt("DeleteAlias", input, uuid::Uuid::new_v4()).await;
    assert_eq!(fresh.unwrap_err().aws_code(), "NotFoundException");

    let schedule = uuid::Uuid::new_v4();
    let input = json!({"KeyId": id, "PendingWindowInDays": 7});
    let first = attempt("ScheduleKeyDeletion", input.clone(), schedule)
        .await
        .unwrap();
    let retried = attempt("ScheduleKeyDeletion", input.clone(), schedule)
        .await
        .unwrap();
    assert_eq!(first, retried);
    let fresh = attempt("ScheduleKeyDeletion", input, uuid::Uuid::new_v4()).await;
    assert_eq!(fresh.unwrap_err().aws_code(), "KMSInvalidStateException");

    let cancel = uuid::Uuid::new_v4();
    let input = json!({"KeyId": id});
    let first = attempt("CancelKeyDeletion", input.clone(), cancel)
        .await
        .unwrap();
    assert_eq!(
        attempt("CancelKeyDeletion", input.clone(), cancel)
            .await
            .unwrap(),
        first
    );
    let fresh = attempt("CancelKeyDeletion", input, uuid::Uuid::new_v4()).await;
    assert_eq!(fresh.unwrap_err().aws_code(), "KMSInvalidStateException");

    // A first attempt that failed fails the same way when retried.
    let missing = uuid::Uuid::new_v4();
    let input = json!({"AliasName": "alias/never"});
    let first = attempt("DeleteAlias", input.clone(), missing)
        .await
        .unwrap_err();
    let retried = attempt("DeleteAlias", input, missing).await.unwrap_err();
    assert_eq!(first.aws_code(), retried.aws_code());
}

/// The failure the chaos harness found (jepsen/RESULTS.md): an attempt delayed in the network
/// reaches the leader after its retry was refused, when the state has changed so that it
/// would pass. The refusal must stay the request id's answer, and the state must not move.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_write_stays_refused_when_a_late_duplicate_would_now_pass() {
    let c = Cluster::start(83, 1).await;
    let (first, second) = (c.create_key().await, c.create_key().await);
    let attempt = |op: &str, input: serde_json::Value, request_id: uuid::Uuid| {
        let op = trent_service::Operation::from_target(op, input).unwrap();
        let c = &c;
        async move { c.execute(1, &root(), request_id, op).await }
    };
    let update = uuid::Uuid::new_v4();
    let input = json!({"AliasName": "alias/late", "TargetKeyId": first});
    let refused = attempt("UpdateAlias", input.clone(), update).await;
    assert_eq!(refused.unwrap_err().aws_code(), "NotFoundException");

    c.ok(
        "CreateAlias",
        json!({"AliasName": "alias/late", "TargetKeyId": second}),
    )
    .await;
    let late = attempt("UpdateAlias", input, update).await;
    assert_eq!(late.unwrap_err().aws_code(), "NotFoundException");
    let target = c.ok("DescribeKey", json!({"KeyId": "alias/late"})).await;
    assert_eq!(target["KeyMetadata"]["KeyId"], second);

    // The same for a refusal on the key's state: a key that is disabled again cannot be
    // enabled by a late duplicate of a refused EnableKey after it was pending deletion.
    let enable = uuid::Uuid::new_v4();
    c.ok(
        "ScheduleKeyDeletion",
        json!({"KeyId": first, "PendingWindowInDays": 7}),
    )
    .await;
    let refused = attempt("EnableKey", json!({"KeyId": first}), enable).await;
    assert_eq!(refused.unwrap_err().aws_code(), "KMSInvalidStateException");
    c.ok("CancelKeyDeletion", json!({"KeyId": first})).await;
    let late = attempt("EnableKey", json!({"KeyId": first}), enable).await;
    assert_eq!(late.unwrap_err().aws_code(), "KMSInvalidStateException");
    let key = c.ok("DescribeKey", json!({"KeyId": first})).await;
    assert_eq!(key["KeyMetadata"]["KeyState"], "Disabled");
}
