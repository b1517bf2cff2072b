"""boto3 against trent: every KMS operation trent implements, its success shape and its
documented errors, with requests spread over the cluster's nodes.

Error codes are AWS's (the operation's `errors` in the service model, and what AWS answers
where the model leaves a choice); every refused request is followed by a check that it
changed nothing.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import aliases_of, all_keys, expect_error, key_state

NO_SUCH_KEY = "0b6f6c4e-3a1d-4c54-9d6f-000000000000"
SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"


def now() -> datetime:
    return datetime.now(timezone.utc)


def assert_recent(when: datetime, what: str) -> None:
    assert isinstance(when, datetime), f"{what} is {when!r}, not a timestamp"
    assert when.tzinfo is not None
    assert abs(now() - when) < timedelta(minutes=10), f"{what} {when} is not about now"


def encrypt(client, key_id, plaintext=b"interop", **kwargs) -> bytes:
    return client.encrypt(KeyId=key_id, Plaintext=plaintext, **kwargs)["CiphertextBlob"]


# --------------------------------------------------------------------------------------------
# CreateKey


def test_create_key_returns_the_identity_and_state_of_the_key(cluster, nodes, make_key):
    before = now() - timedelta(seconds=5)
    md = make_key(0, Description="interop metadata")
    key_id = md["KeyId"]
    assert str(uuid.UUID(key_id)) == key_id, f"KeyId {key_id} is not a lower-case UUID"
    assert md["Arn"] == cluster.key_arn(key_id)
    assert re.fullmatch(r"arn:aws:kms:[a-z0-9-]+:111122223333:key/[0-9a-f-]{36}", md["Arn"])
    assert md["AWSAccountId"] == "111122223333"
    assert md["Description"] == "interop metadata"
    assert_recent(md["CreationDate"], "CreationDate")
    assert md["CreationDate"] >= before
    assert md["Enabled"] is True
    assert md["KeyState"] == "Enabled"
    assert "DeletionDate" not in md


@pytest.mark.moto_gap(
    "moto leaves KeyUsage and MultiRegion out unless CreateKey names them, "
    "and sends SigningAlgorithms [] for an encryption key"
)
def test_create_key_describes_a_symmetric_encryption_key(make_key):
    md = make_key(0)
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeySpec"] == SYMMETRIC_DEFAULT
    assert md["CustomerMasterKeySpec"] == SYMMETRIC_DEFAULT
    assert md["Origin"] == "AWS_KMS"
    assert md["KeyManager"] == "CUSTOMER"
    assert md["EncryptionAlgorithms"] == [SYMMETRIC_DEFAULT]
    assert md["MultiRegion"] is False
    # Present only for SIGN_VERIFY / GENERATE_VERIFY_MAC / KEY_AGREEMENT keys.
    for absent in ("SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms"):
        assert absent not in md, f"{absent} on a symmetric encryption key"


def test_create_key_without_description_has_an_empty_one(nodes, make_key):
    md = make_key(1, Description=None)
    assert nodes[2].describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"] == ""


def test_create_key_with_tags_stores_them(nodes, make_key):
    tags = [{"TagKey": "team", "TagValue": "storage"}, {"TagKey": "env", "TagValue": ""}]
    md = make_key(0, Tags=tags)
    listed = nodes[1].list_resource_tags(KeyId=md["KeyId"])
    assert sorted(listed["Tags"], key=lambda t: t["TagKey"]) == sorted(
        tags, key=lambda t: t["TagKey"]
    )
    assert listed["Truncated"] is False


@pytest.mark.moto_gap("moto accepts tag keys that begin with aws:")
def test_create_key_with_a_reserved_tag_key_is_refused(nodes):
    keys_before = all_keys(nodes[1])
    expect_error(
        "TagException",
        nodes[0].create_key,
        Description="must not exist",
        Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}],
    )
    assert all_keys(nodes[2]) == keys_before


def test_a_key_created_through_any_node_is_seen_by_every_node(cluster, nodes, make_key):
    for i in range(len(nodes)):
        md = make_key(i)
        for j in range(len(nodes)):
            seen = nodes[j].describe_key(KeyId=md["KeyId"])["KeyMetadata"]
            assert seen["Arn"] == md["Arn"], f"key made on node {i}, read on node {j}"
            assert seen["KeyState"] == "Enabled"


# --------------------------------------------------------------------------------------------
# DescribeKey


@pytest.mark.parametrize("form", ["key id", "key ARN", "alias name", "alias ARN"])
def test_describe_key_by_every_identifier_form(cluster, nodes, make_key, alias_name, form):
    md = make_key(0)
    alias = alias_name("describe")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    identifier = {
        "key id": md["KeyId"],
        "key ARN": md["Arn"],
        "alias name": alias,
        "alias ARN": cluster.alias_arn(alias),
    }[form]
    seen = nodes[2].describe_key(KeyId=identifier)["KeyMetadata"]
    assert seen["KeyId"] == md["KeyId"]
    assert seen["Arn"] == md["Arn"]
    assert seen["CreationDate"] == md["CreationDate"]


def test_describe_key_of_an_unknown_key_id_is_not_found(nodes):
    expect_error("NotFoundException", nodes[0].describe_key, KeyId=NO_SUCH_KEY)


def test_describe_key_of_an_unknown_key_arn_is_not_found(cluster, nodes):
    expect_error("NotFoundException", nodes[1].describe_key, KeyId=cluster.key_arn(NO_SUCH_KEY))


def test_describe_key_of_an_unknown_alias_is_not_found(nodes):
    expect_error("NotFoundException", nodes[2].describe_key, KeyId="alias/trent-interop/none")


def test_describe_key_of_a_malformed_key_id_is_not_found(nodes):
    # AWS: NotFoundException "Invalid keyId ...".
    expect_error("NotFoundException", nodes[0].describe_key, KeyId="not-a-key-id")


def test_describe_key_of_a_malformed_key_arn_is_refused(cluster, nodes):
    # DescribeKey declares both NotFoundException and InvalidArnException; which one AWS
    # picks for an ARN that names no key resource is not documented, so either passes.
    with pytest.raises(ClientError) as excinfo:
        nodes[1].describe_key(KeyId=f"arn:aws:kms:{cluster.region}:111122223333:thing/abc")
    assert excinfo.value.response["Error"]["Code"] in ("NotFoundException", "InvalidArnException")


# --------------------------------------------------------------------------------------------
# ListKeys


@pytest.mark.moto_gap("moto's ListKeys ignores Limit and Marker: one page, never Truncated")
def test_list_keys_pages_with_limit_and_marker(cluster, nodes, make_key):
    made = {make_key(i)["KeyId"] for i in range(3)}
    seen: list[str] = []
    kwargs: dict = {"Limit": 1}
    page_no = 0
    while True:
        # Each page through the next node: a marker from one node must work on another.
        page = nodes[page_no % len(nodes)].list_keys(**kwargs)
        page_no += 1
        assert len(page["Keys"]) <= 1
        for entry in page["Keys"]:
            assert entry["KeyArn"] == cluster.key_arn(entry["KeyId"])
            seen.append(entry["KeyId"])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        assert page["NextMarker"]
        kwargs = {"Limit": 1, "Marker": page["NextMarker"]}
        assert page_no < 100_000, "ListKeys never stopped"
    assert page_no >= 3
    assert len(seen) == len(set(seen)), "a key was listed twice"
    assert made <= set(seen)


@pytest.mark.moto_gap("moto's ListKeys ignores Marker")
def test_list_keys_with_an_invalid_marker_is_refused(nodes):
    expect_error("InvalidMarkerException", nodes[0].list_keys, Marker="not-a-marker")


# --------------------------------------------------------------------------------------------
# EnableKey, DisableKey

DISABLED_GAP = "moto does not refuse a disabled key in cryptographic operations"


def test_disable_key_disables_it(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    assert nodes[1].disable_key(KeyId=key_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    md = nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Disabled"
    assert md["Enabled"] is False


@pytest.mark.moto_gap(DISABLED_GAP)
def test_encrypt_with_a_disabled_key_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].disable_key(KeyId=key_id)
    expect_error("DisabledException", nodes[2].encrypt, KeyId=key_id, Plaintext=b"x")
    assert key_state(nodes[0], key_id) == "Disabled"


@pytest.mark.moto_gap(DISABLED_GAP)
def test_decrypt_with_a_disabled_key_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    blob = encrypt(nodes[0], key_id)
    nodes[1].disable_key(KeyId=key_id)
    expect_error("DisabledException", nodes[2].decrypt, CiphertextBlob=blob)
    assert key_state(nodes[0], key_id) == "Disabled"


@pytest.mark.moto_gap(DISABLED_GAP)
def test_generate_data_key_with_a_disabled_key_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].disable_key(KeyId=key_id)
    expect_error("DisabledException", nodes[2].generate_data_key, KeyId=key_id, KeySpec="AES_256")
    assert key_state(nodes[0], key_id) == "Disabled"


def test_enable_key_makes_a_disabled_key_usable_again(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].disable_key(KeyId=key_id)
    nodes[2].enable_key(KeyId=key_id)
    md = nodes[0].describe_key(KeyId=key_id)["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Enabled", True)
    blob = encrypt(nodes[1], key_id, b"back")
    assert nodes[2].decrypt(CiphertextBlob=blob)["Plaintext"] == b"back"


def test_enable_key_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[1].enable_key, KeyId=NO_SUCH_KEY)


def test_disable_key_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[2].disable_key, KeyId=NO_SUCH_KEY)


# --------------------------------------------------------------------------------------------
# ScheduleKeyDeletion, CancelKeyDeletion


PENDING_GAP = "moto does not refuse a key pending deletion"


def test_schedule_key_deletion_defaults_to_30_days(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].schedule_key_deletion(KeyId=key_id)
    md = nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion"
    assert md["Enabled"] is False
    assert abs(md["DeletionDate"] - (now() + timedelta(days=30))) < timedelta(days=1)


@pytest.mark.moto_gap(
    "moto's ScheduleKeyDeletion answers the bare key id, without KeyState and PendingWindowInDays"
)
@pytest.mark.parametrize("days", [None, 7, 30], ids=["default", "7", "30"])
def test_schedule_key_deletion_answers_the_arn_state_and_window(cluster, nodes, make_key, days):
    key_id = make_key(0)["KeyId"]
    kwargs = {} if days is None else {"PendingWindowInDays": days}
    resp = nodes[1].schedule_key_deletion(KeyId=key_id, **kwargs)
    assert resp["KeyId"] == cluster.key_arn(key_id)
    assert resp["KeyState"] == "PendingDeletion"
    assert resp["PendingWindowInDays"] == (days or 30)
    assert (
        nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"] == resp["DeletionDate"]
    )


@pytest.mark.parametrize("days", [7, 30])
def test_schedule_key_deletion_accepts_7_to_30_days(nodes, make_key, days):
    key_id = make_key(0)["KeyId"]
    nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
    md = nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion"
    assert abs(md["DeletionDate"] - (now() + timedelta(days=days))) < timedelta(days=1)


@pytest.mark.moto_gap("moto accepts any PendingWindowInDays")
@pytest.mark.parametrize("days", [6, 31])
def test_schedule_key_deletion_outside_7_to_30_days_is_refused(nodes, make_key, days):
    key_id = make_key(0)["KeyId"]
    expect_error(
        "ValidationException",
        nodes[1].schedule_key_deletion,
        KeyId=key_id,
        PendingWindowInDays=days,
    )
    md = nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Enabled"
    assert "DeletionDate" not in md


def test_schedule_key_deletion_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[0].schedule_key_deletion, KeyId=NO_SUCH_KEY)


@pytest.mark.moto_gap(PENDING_GAP)
def test_schedule_key_deletion_twice_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    first = nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=10)
    expect_error(
        "KMSInvalidStateException",
        nodes[2].schedule_key_deletion,
        KeyId=key_id,
        PendingWindowInDays=20,
    )
    md = nodes[0].describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["DeletionDate"] == first["DeletionDate"]


@pytest.mark.moto_gap(PENDING_GAP)
def test_encrypt_with_a_key_pending_deletion_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", nodes[2].encrypt, KeyId=key_id, Plaintext=b"x")
    assert key_state(nodes[0], key_id) == "PendingDeletion"


@pytest.mark.moto_gap(PENDING_GAP)
def test_decrypt_with_a_key_pending_deletion_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    blob = encrypt(nodes[0], key_id)
    nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", nodes[2].decrypt, CiphertextBlob=blob)
    assert key_state(nodes[0], key_id) == "PendingDeletion"


@pytest.mark.moto_gap(PENDING_GAP)
def test_enable_key_pending_deletion_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", nodes[2].enable_key, KeyId=key_id)
    assert key_state(nodes[0], key_id) == "PendingDeletion"


@pytest.mark.moto_gap(PENDING_GAP)
@pytest.mark.parametrize(
    "operation",
    [
        "DisableKey",
        "UpdateKeyDescription",
        "TagResource",
        "UntagResource",
        "CreateAlias",
        "UpdateAlias",
    ],
)
def test_managing_a_key_pending_deletion_is_refused(nodes, make_key, alias_name, operation):
    """AWS's key state table: these fail with KMSInvalidStateException while the key is
    pending deletion (UpdateAlias when the new target is)."""
    key_id = make_key(0, Description="before", Tags=[{"TagKey": "t", "TagValue": "1"}])["KeyId"]
    other = make_key(1)["KeyId"]
    existing = alias_name("pending")
    nodes[2].create_alias(AliasName=existing, TargetKeyId=other)
    nodes[0].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    new_alias = alias_name("pending-new")
    call, kwargs = {
        "DisableKey": (nodes[1].disable_key, {"KeyId": key_id}),
        "UpdateKeyDescription": (
            nodes[1].update_key_description,
            {"KeyId": key_id, "Description": "after"},
        ),
        "TagResource": (
            nodes[1].tag_resource,
            {"KeyId": key_id, "Tags": [{"TagKey": "t", "TagValue": "2"}]},
        ),
        "UntagResource": (nodes[1].untag_resource, {"KeyId": key_id, "TagKeys": ["t"]}),
        "CreateAlias": (nodes[1].create_alias, {"AliasName": new_alias, "TargetKeyId": key_id}),
        "UpdateAlias": (nodes[1].update_alias, {"AliasName": existing, "TargetKeyId": key_id}),
    }[operation]
    expect_error("KMSInvalidStateException", call, **kwargs)
    md = nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]
    assert (md["KeyState"], md["Description"]) == ("PendingDeletion", "before")
    assert tags_of(nodes[0], key_id) == {"t": "1"}
    assert aliases_of(nodes[1], key_id) == set()
    assert nodes[2].describe_key(KeyId=existing)["KeyMetadata"]["KeyId"] == other


@pytest.mark.moto_gap("moto's CancelKeyDeletion answers the bare key id")
def test_cancel_key_deletion_answers_the_key_arn(cluster, nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert nodes[2].cancel_key_deletion(KeyId=key_id)["KeyId"] == cluster.key_arn(key_id)


def test_cancel_key_deletion_leaves_the_key_disabled(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    nodes[1].schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    nodes[2].cancel_key_deletion(KeyId=key_id)
    md = nodes[0].describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Disabled"
    assert md["Enabled"] is False
    assert "DeletionDate" not in md
    nodes[1].enable_key(KeyId=key_id)
    assert nodes[2].decrypt(CiphertextBlob=encrypt(nodes[0], key_id, b"ok"))["Plaintext"] == b"ok"


@pytest.mark.moto_gap("moto cancels the deletion of a key that is not pending deletion")
def test_cancel_key_deletion_of_a_key_not_pending_deletion_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    expect_error("KMSInvalidStateException", nodes[1].cancel_key_deletion, KeyId=key_id)
    assert key_state(nodes[2], key_id) == "Enabled"


def test_cancel_key_deletion_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[2].cancel_key_deletion, KeyId=NO_SUCH_KEY)


# --------------------------------------------------------------------------------------------
# UpdateKeyDescription


def test_update_key_description(nodes, make_key):
    key_id = make_key(0, Description="old")["KeyId"]
    nodes[1].update_key_description(KeyId=key_id, Description="new description")
    assert nodes[2].describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "new description"


def test_update_key_description_of_an_unknown_key_is_not_found(nodes):
    expect_error(
        "NotFoundException", nodes[0].update_key_description, KeyId=NO_SUCH_KEY, Description="x"
    )


# --------------------------------------------------------------------------------------------
# GetKeyLastUsage

LAST_USAGE_GAP = "moto does not implement GetKeyLastUsage"


@pytest.mark.moto_gap(LAST_USAGE_GAP)
def test_get_key_last_usage_of_an_unused_key(cluster, nodes, make_key):
    md = make_key(0)
    resp = nodes[1].get_key_last_usage(KeyId=md["KeyId"])
    # The model does not say whether KeyId is the bare id or the ARN here.
    assert resp["KeyId"] in (md["KeyId"], md["Arn"])
    assert resp["KeyCreationDate"] == md["CreationDate"]
    assert resp["TrackingStartDate"] >= md["CreationDate"] - timedelta(seconds=1)
    usage = resp.get("KeyLastUsage", {})
    assert "Operation" not in usage and "Timestamp" not in usage


@pytest.mark.moto_gap(LAST_USAGE_GAP)
def test_get_key_last_usage_reports_the_last_encrypt(cluster, nodes, make_key):
    md = make_key(0)
    enc = nodes[1].encrypt(KeyId=md["KeyId"], Plaintext=b"usage")
    resp = nodes[2].get_key_last_usage(KeyId=md["Arn"])
    usage = resp["KeyLastUsage"]
    assert usage["Operation"] == "Encrypt"
    assert_recent(usage["Timestamp"], "KeyLastUsage.Timestamp")
    assert usage["Timestamp"] >= md["CreationDate"] - timedelta(seconds=1)
    assert usage["KmsRequestId"] == enc["ResponseMetadata"]["RequestId"]


@pytest.mark.moto_gap(LAST_USAGE_GAP)
def test_get_key_last_usage_follows_the_latest_operation(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    blob = encrypt(nodes[1], key_id)
    dec = nodes[2].decrypt(CiphertextBlob=blob)
    usage = nodes[0].get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
    assert usage["Operation"] == "Decrypt"
    assert usage["KmsRequestId"] == dec["ResponseMetadata"]["RequestId"]


@pytest.mark.moto_gap(LAST_USAGE_GAP)
def test_get_key_last_usage_ignores_failed_operations(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    enc = nodes[1].encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "1"})
    expect_error(
        "InvalidCiphertextException",
        nodes[2].decrypt,
        CiphertextBlob=enc["CiphertextBlob"],
        EncryptionContext={"a": "2"},
    )
    usage = nodes[0].get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
    assert usage["Operation"] == "Encrypt"
    assert usage["KmsRequestId"] == enc["ResponseMetadata"]["RequestId"]


@pytest.mark.moto_gap(LAST_USAGE_GAP)
def test_get_key_last_usage_refuses_an_alias_name(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = alias_name("usage")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error("NotFoundException", nodes[2].get_key_last_usage, KeyId=alias)


@pytest.mark.moto_gap(LAST_USAGE_GAP)
def test_get_key_last_usage_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[0].get_key_last_usage, KeyId=NO_SUCH_KEY)


# --------------------------------------------------------------------------------------------
# CreateAlias, UpdateAlias, DeleteAlias, ListAliases


@pytest.mark.parametrize("by", ["key id", "key ARN"])
def test_create_alias_then_list_aliases_by_key(cluster, nodes, make_key, alias_name, by):
    md = make_key(0)
    alias = alias_name("list")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=md["KeyId"] if by == "key id" else md["Arn"])
    page = nodes[2].list_aliases(KeyId=md["KeyId"] if by == "key id" else md["Arn"])
    assert page["Truncated"] is False
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in page["Aliases"]] == [
        (alias, cluster.alias_arn(alias), md["KeyId"])
    ]


def test_list_aliases_without_key_id_includes_new_aliases(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = alias_name("all")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=key_id)
    found, kwargs = [], {}
    while True:
        page = nodes[2].list_aliases(**kwargs)
        found += [a for a in page["Aliases"] if a["AliasName"] == alias]
        if not page["Truncated"]:
            break
        kwargs = {"Marker": page["NextMarker"]}
    assert [a["TargetKeyId"] for a in found] == [key_id]


@pytest.mark.moto_gap("moto's ListAliases entries have no CreationDate/LastUpdatedDate")
def test_list_aliases_entries_carry_their_dates(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = alias_name("dates")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=key_id)
    (entry,) = nodes[2].list_aliases(KeyId=key_id)["Aliases"]
    assert_recent(entry["CreationDate"], "CreationDate")
    assert_recent(entry["LastUpdatedDate"], "LastUpdatedDate")


@pytest.mark.moto_gap("moto's ListAliases ignores Limit and Marker: one page, never Truncated")
def test_list_aliases_pages_with_limit_and_marker(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    made = {alias_name(f"page{i}") for i in range(3)}
    for i, alias in enumerate(sorted(made)):
        nodes[i].create_alias(AliasName=alias, TargetKeyId=key_id)
    seen: list[str] = []
    kwargs: dict = {"KeyId": key_id, "Limit": 1}
    for page_no in range(10):
        page = nodes[page_no % len(nodes)].list_aliases(**kwargs)
        assert len(page["Aliases"]) <= 1
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        kwargs = {"KeyId": key_id, "Limit": 1, "Marker": page["NextMarker"]}
    else:
        pytest.fail("ListAliases of a key with 3 aliases took more than 10 pages of 1")
    assert sorted(seen) == sorted(made)


def test_list_aliases_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[0].list_aliases, KeyId=NO_SUCH_KEY)


def test_an_alias_works_in_cryptographic_operations(cluster, nodes, make_key, alias_name):
    md = make_key(0)
    alias = alias_name("crypto")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    resp = nodes[2].encrypt(KeyId=alias, Plaintext=b"via alias")
    assert resp["KeyId"] == md["Arn"]
    assert nodes[0].decrypt(CiphertextBlob=resp["CiphertextBlob"], KeyId=alias)["Plaintext"] == (
        b"via alias"
    )


def test_create_alias_with_a_taken_name_is_refused(nodes, make_key, alias_name):
    first, second = make_key(0)["KeyId"], make_key(1)["KeyId"]
    alias = alias_name("dup")
    nodes[2].create_alias(AliasName=alias, TargetKeyId=first)
    expect_error(
        "AlreadyExistsException", nodes[0].create_alias, AliasName=alias, TargetKeyId=second
    )
    assert nodes[1].describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == first
    assert aliases_of(nodes[2], second) == set()


def test_create_alias_without_the_alias_prefix_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    # AWS: ValidationException 'Alias must start with the prefix "alias/".'
    expect_error(
        "ValidationException",
        nodes[1].create_alias,
        AliasName="trent-interop-x",
        TargetKeyId=key_id,
    )
    assert aliases_of(nodes[2], key_id) == set()


def test_create_alias_with_bad_characters_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    # The model's pattern for AliasName is ^[a-zA-Z0-9:/_-]+$ (botocore does not check it).
    expect_error(
        "ValidationException",
        nodes[1].create_alias,
        AliasName="alias/bad name!",
        TargetKeyId=key_id,
    )
    assert aliases_of(nodes[2], key_id) == set()


@pytest.mark.moto_gap("moto refuses only its own list of AWS managed alias names, not the prefix")
def test_create_alias_under_the_reserved_aws_prefix_is_refused(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = "alias/aws/" + alias_name("reserved").rsplit("/", 1)[1]
    # alias/aws/ is reserved for AWS managed keys. The model declares no error for this;
    # AWS answers NotAuthorizedException (empty message), as moto and local-kms mimic.
    expect_error(
        "NotAuthorizedException", nodes[1].create_alias, AliasName=alias, TargetKeyId=key_id
    )
    assert aliases_of(nodes[2], key_id) == set()
    expect_error("NotFoundException", nodes[0].describe_key, KeyId=alias)


def test_create_alias_for_an_unknown_key_is_not_found(nodes, alias_name):
    alias = alias_name("nokey")
    expect_error(
        "NotFoundException", nodes[0].create_alias, AliasName=alias, TargetKeyId=NO_SUCH_KEY
    )
    expect_error("NotFoundException", nodes[1].describe_key, KeyId=alias)


def test_create_alias_pointing_at_an_alias_is_refused(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    first, second = alias_name("target"), alias_name("chained")
    nodes[1].create_alias(AliasName=first, TargetKeyId=key_id)
    # TargetKeyId takes a key id or key ARN only. AWS: ValidationException
    # "Aliases must refer to keys. Not aliases".
    expect_error("ValidationException", nodes[2].create_alias, AliasName=second, TargetKeyId=first)
    assert aliases_of(nodes[0], key_id) == {first}


def test_update_alias_points_it_at_another_key(nodes, make_key, alias_name):
    first, second = make_key(0)["KeyId"], make_key(1)["KeyId"]
    alias = alias_name("move")
    nodes[2].create_alias(AliasName=alias, TargetKeyId=first)
    nodes[0].update_alias(AliasName=alias, TargetKeyId=second)
    assert nodes[1].describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == second
    assert aliases_of(nodes[2], first) == set()
    assert aliases_of(nodes[0], second) == {alias}


def test_update_alias_of_an_unknown_alias_is_not_found(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = alias_name("ghost")
    expect_error("NotFoundException", nodes[1].update_alias, AliasName=alias, TargetKeyId=key_id)
    assert aliases_of(nodes[2], key_id) == set()


def test_update_alias_to_an_unknown_key_is_not_found(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = alias_name("stay")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=key_id)
    expect_error(
        "NotFoundException", nodes[2].update_alias, AliasName=alias, TargetKeyId=NO_SUCH_KEY
    )
    assert nodes[0].describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key_id


def test_delete_alias_removes_it_and_keeps_the_key(nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    alias = alias_name("gone")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=key_id)
    nodes[2].delete_alias(AliasName=alias)
    expect_error("NotFoundException", nodes[0].describe_key, KeyId=alias)
    assert aliases_of(nodes[1], key_id) == set()
    assert key_state(nodes[2], key_id) == "Enabled"


def test_delete_alias_of_an_unknown_alias_is_not_found(nodes, alias_name):
    expect_error("NotFoundException", nodes[0].delete_alias, AliasName=alias_name("never"))


# --------------------------------------------------------------------------------------------
# TagResource, UntagResource, ListResourceTags


def tags_of(client, key_id) -> dict[str, str]:
    page = client.list_resource_tags(KeyId=key_id)
    assert page["Truncated"] is False
    return {t["TagKey"]: t["TagValue"] for t in page["Tags"]}


def test_tag_resource_adds_and_overwrites_tags(nodes, make_key):
    key_id = make_key(0, Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyId"]
    nodes[1].tag_resource(
        KeyId=key_id, Tags=[{"TagKey": "a", "TagValue": "2"}, {"TagKey": "b", "TagValue": "3"}]
    )
    assert tags_of(nodes[2], key_id) == {"a": "2", "b": "3"}


def test_untag_resource_removes_only_the_named_tags(nodes, make_key):
    key_id = make_key(0, Tags=[{"TagKey": "a", "TagValue": "1"}, {"TagKey": "b", "TagValue": "2"}])[
        "KeyId"
    ]
    nodes[1].untag_resource(KeyId=key_id, TagKeys=["a", "not-there"])
    assert tags_of(nodes[2], key_id) == {"b": "2"}


def test_list_resource_tags_of_an_untagged_key_is_empty(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    assert tags_of(nodes[1], key_id) == {}


@pytest.mark.moto_gap("moto accepts tag keys that begin with aws:")
def test_tag_resource_with_a_reserved_tag_key_is_refused(nodes, make_key):
    key_id = make_key(0, Tags=[{"TagKey": "a", "TagValue": "1"}])["KeyId"]
    expect_error(
        "TagException",
        nodes[1].tag_resource,
        KeyId=key_id,
        Tags=[{"TagKey": "aws:owner", "TagValue": "x"}, {"TagKey": "a", "TagValue": "2"}],
    )
    assert tags_of(nodes[2], key_id) == {"a": "1"}


def test_tag_resource_of_an_unknown_key_is_not_found(nodes):
    expect_error(
        "NotFoundException",
        nodes[0].tag_resource,
        KeyId=NO_SUCH_KEY,
        Tags=[{"TagKey": "a", "TagValue": "1"}],
    )


def test_list_resource_tags_of_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[1].list_resource_tags, KeyId=NO_SUCH_KEY)


# --------------------------------------------------------------------------------------------
# Encrypt


@pytest.mark.parametrize("size", [1, 4096])
def test_encrypt_then_decrypt_through_other_nodes(cluster, nodes, make_key, size):
    md = make_key(0)
    plaintext = os.urandom(size)
    enc = nodes[1].encrypt(KeyId=md["KeyId"], Plaintext=plaintext)
    assert enc["KeyId"] == md["Arn"]
    assert isinstance(enc["CiphertextBlob"], bytes)
    assert plaintext not in enc["CiphertextBlob"] or size == 1
    dec = nodes[2].decrypt(CiphertextBlob=enc["CiphertextBlob"])
    assert dec["Plaintext"] == plaintext
    assert dec["KeyId"] == md["Arn"]


@pytest.mark.moto_gap("moto's Encrypt, Decrypt and ReEncrypt responses name no algorithm")
def test_encrypt_and_decrypt_answer_the_algorithm(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    enc = nodes[1].encrypt(KeyId=key_id, Plaintext=b"algo")
    assert enc["EncryptionAlgorithm"] == SYMMETRIC_DEFAULT
    dec = nodes[2].decrypt(CiphertextBlob=enc["CiphertextBlob"])
    assert dec["EncryptionAlgorithm"] == SYMMETRIC_DEFAULT


def test_encrypt_is_randomized(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    assert encrypt(nodes[1], key_id, b"same") != encrypt(nodes[2], key_id, b"same")


@pytest.mark.parametrize("form", ["key id", "key ARN", "alias name", "alias ARN"])
def test_encrypt_answers_with_the_key_arn_for_every_identifier_form(
    cluster, nodes, make_key, alias_name, form
):
    md = make_key(0)
    alias = alias_name("form")
    nodes[1].create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    identifier = {
        "key id": md["KeyId"],
        "key ARN": md["Arn"],
        "alias name": alias,
        "alias ARN": cluster.alias_arn(alias),
    }[form]
    assert nodes[2].encrypt(KeyId=identifier, Plaintext=b"x")["KeyId"] == md["Arn"]


def test_encrypt_of_an_empty_plaintext_is_refused(cluster, make_key):
    key_id = make_key(0)["KeyId"]
    # botocore 1.44 does not check a blob's minimum length, but a later one might: the raw
    # client (no parameter validation) makes sure that the server is what refuses it.
    expect_error("ValidationException", cluster.raw(1).encrypt, KeyId=key_id, Plaintext=b"")


def test_encrypt_of_4097_bytes_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    expect_error("ValidationException", nodes[1].encrypt, KeyId=key_id, Plaintext=b"x" * 4097)


def test_encrypt_with_an_unknown_key_is_not_found(nodes):
    expect_error("NotFoundException", nodes[0].encrypt, KeyId=NO_SUCH_KEY, Plaintext=b"x")


def test_encrypt_with_an_unknown_alias_is_not_found(nodes):
    expect_error(
        "NotFoundException", nodes[1].encrypt, KeyId="alias/trent-interop/none", Plaintext=b"x"
    )


def test_encrypt_with_a_malformed_key_id_is_not_found(nodes):
    expect_error("NotFoundException", nodes[2].encrypt, KeyId="not-a-key-id", Plaintext=b"x")


def test_encrypt_with_a_malformed_key_arn_is_not_found(cluster, nodes):
    # Encrypt declares no InvalidArnException; AWS answers NotFoundException "Invalid arn".
    expect_error(
        "NotFoundException",
        nodes[0].encrypt,
        KeyId=f"arn:aws:kms:{cluster.region}:111122223333:key",
        Plaintext=b"x",
    )


@pytest.mark.moto_gap("moto ignores the region in a key ARN")
def test_encrypt_with_the_key_arn_of_another_region_is_not_found(cluster, nodes, make_key):
    key_id = make_key(0)["KeyId"]
    other = "eu-west-1" if cluster.region != "eu-west-1" else "us-west-2"
    expect_error(
        "NotFoundException", nodes[1].encrypt, KeyId=cluster.key_arn(key_id, other), Plaintext=b"x"
    )


# --------------------------------------------------------------------------------------------
# Decrypt


def test_decrypt_with_the_right_key_id(cluster, nodes, make_key):
    md = make_key(0)
    blob = encrypt(nodes[1], md["KeyId"], b"right key")
    for identifier in (md["KeyId"], md["Arn"]):
        assert nodes[2].decrypt(CiphertextBlob=blob, KeyId=identifier)["Plaintext"] == b"right key"


@pytest.mark.moto_gap("moto answers AccessDeniedException, not IncorrectKeyException")
def test_decrypt_with_another_key_id_is_refused(nodes, make_key):
    key_id, other = make_key(0)["KeyId"], make_key(1)["KeyId"]
    blob = encrypt(nodes[2], key_id)
    expect_error("IncorrectKeyException", nodes[0].decrypt, CiphertextBlob=blob, KeyId=other)


def test_decrypt_with_the_encryption_context(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    context = {"purpose": "interop", "tenant": "t-1"}
    blob = encrypt(nodes[1], key_id, b"ctx", EncryptionContext=context)
    # Order of the pairs does not matter.
    reordered = dict(reversed(list(context.items())))
    assert nodes[2].decrypt(CiphertextBlob=blob, EncryptionContext=reordered)["Plaintext"] == b"ctx"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param({"purpose": "other"}, id="wrong value"),
        pytest.param({"Purpose": "interop"}, id="wrong key case"),
        pytest.param(None, id="missing"),
        pytest.param({"purpose": "interop", "extra": "1"}, id="extra pair"),
    ],
)
def test_decrypt_with_a_different_encryption_context_is_refused(nodes, make_key, given):
    key_id = make_key(0)["KeyId"]
    blob = encrypt(nodes[1], key_id, EncryptionContext={"purpose": "interop"})
    kwargs = {"CiphertextBlob": blob}
    if given is not None:
        kwargs["EncryptionContext"] = given
    expect_error("InvalidCiphertextException", nodes[2].decrypt, **kwargs)


def test_decrypt_with_a_context_when_none_was_used_is_refused(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    blob = encrypt(nodes[1], key_id)
    expect_error(
        "InvalidCiphertextException",
        nodes[2].decrypt,
        CiphertextBlob=blob,
        EncryptionContext={"a": "b"},
    )


@pytest.mark.parametrize(
    "position",
    [
        pytest.param(
            0,
            id="first byte",
            marks=pytest.mark.moto_gap(
                "moto's blob starts with the key id in clear: "
                "altering it gives AccessDeniedException"
            ),
        ),
        pytest.param(-1, id="last byte"),
    ],
)
def test_decrypt_of_a_tampered_blob_is_refused(nodes, make_key, position):
    key_id = make_key(0)["KeyId"]
    blob = bytearray(encrypt(nodes[1], key_id, b"tamper me"))
    blob[position] ^= 0x01
    expect_error("InvalidCiphertextException", nodes[2].decrypt, CiphertextBlob=bytes(blob))


@pytest.mark.parametrize("keep", ["all but the last byte", "half"])
def test_decrypt_of_a_truncated_blob_is_refused(nodes, make_key, keep):
    key_id = make_key(0)["KeyId"]
    blob = encrypt(nodes[1], key_id, b"truncate me")
    cut = blob[:-1] if keep == "all but the last byte" else blob[: len(blob) // 2]
    expect_error("InvalidCiphertextException", nodes[2].decrypt, CiphertextBlob=cut)


def test_decrypt_of_garbage_is_refused(nodes):
    expect_error("InvalidCiphertextException", nodes[0].decrypt, CiphertextBlob=os.urandom(150))


# --------------------------------------------------------------------------------------------
# ReEncrypt


def test_re_encrypt_to_another_key_with_a_new_context(cluster, nodes, make_key):
    source, dest = make_key(0), make_key(1)
    blob = encrypt(nodes[2], source["KeyId"], b"move me", EncryptionContext={"v": "1"})
    resp = nodes[0].re_encrypt(
        CiphertextBlob=blob,
        SourceEncryptionContext={"v": "1"},
        DestinationKeyId=dest["KeyId"],
        DestinationEncryptionContext={"v": "2"},
    )
    assert resp["SourceKeyId"] == source["Arn"]
    assert resp["KeyId"] == dest["Arn"]
    dec = nodes[1].decrypt(CiphertextBlob=resp["CiphertextBlob"], EncryptionContext={"v": "2"})
    assert (dec["Plaintext"], dec["KeyId"]) == (b"move me", dest["Arn"])
    expect_error(
        "InvalidCiphertextException",
        nodes[2].decrypt,
        CiphertextBlob=resp["CiphertextBlob"],
        EncryptionContext={"v": "1"},
    )


@pytest.mark.moto_gap("moto's Encrypt, Decrypt and ReEncrypt responses name no algorithm")
def test_re_encrypt_answers_the_algorithms(nodes, make_key):
    source, dest = make_key(0)["KeyId"], make_key(1)["KeyId"]
    resp = nodes[2].re_encrypt(CiphertextBlob=encrypt(nodes[1], source), DestinationKeyId=dest)
    assert resp["SourceEncryptionAlgorithm"] == SYMMETRIC_DEFAULT
    assert resp["DestinationEncryptionAlgorithm"] == SYMMETRIC_DEFAULT


def test_re_encrypt_with_the_wrong_source_context_is_refused(nodes, make_key):
    source, dest = make_key(0)["KeyId"], make_key(1)["KeyId"]
    blob = encrypt(nodes[2], source, EncryptionContext={"v": "1"})
    expect_error(
        "InvalidCiphertextException",
        nodes[0].re_encrypt,
        CiphertextBlob=blob,
        SourceEncryptionContext={"v": "wrong"},
        DestinationKeyId=dest,
    )


@pytest.mark.moto_gap("moto answers AccessDeniedException, not IncorrectKeyException")
def test_re_encrypt_with_the_wrong_source_key_is_refused(nodes, make_key):
    source, dest = make_key(0)["KeyId"], make_key(1)["KeyId"]
    blob = encrypt(nodes[2], source)
    expect_error(
        "IncorrectKeyException",
        nodes[0].re_encrypt,
        CiphertextBlob=blob,
        SourceKeyId=dest,
        DestinationKeyId=dest,
    )


@pytest.mark.moto_gap(DISABLED_GAP)
def test_re_encrypt_to_a_disabled_key_is_refused(nodes, make_key):
    source, dest = make_key(0)["KeyId"], make_key(1)["KeyId"]
    nodes[2].disable_key(KeyId=dest)
    blob = encrypt(nodes[0], source)
    expect_error(
        "DisabledException", nodes[1].re_encrypt, CiphertextBlob=blob, DestinationKeyId=dest
    )
    assert key_state(nodes[2], dest) == "Disabled"


# --------------------------------------------------------------------------------------------
# GenerateDataKey, GenerateDataKeyWithoutPlaintext


@pytest.mark.parametrize("spec,length", [("AES_256", 32), ("AES_128", 16)])
def test_generate_data_key_by_key_spec(nodes, make_key, spec, length):
    md = make_key(0)
    resp = nodes[1].generate_data_key(KeyId=md["KeyId"], KeySpec=spec)
    assert len(resp["Plaintext"]) == length
    assert resp["KeyId"] == md["Arn"]
    assert nodes[2].decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"] == resp["Plaintext"]


@pytest.mark.parametrize("count", [1, 1024])
def test_generate_data_key_by_number_of_bytes(nodes, make_key, count):
    md = make_key(0)
    resp = nodes[1].generate_data_key(KeyId=md["KeyId"], NumberOfBytes=count)
    assert len(resp["Plaintext"]) == count
    assert nodes[2].decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"] == resp["Plaintext"]


def test_generate_data_key_binds_the_encryption_context(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    resp = nodes[1].generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"f": "1"})
    expect_error(
        "InvalidCiphertextException", nodes[2].decrypt, CiphertextBlob=resp["CiphertextBlob"]
    )
    dec = nodes[0].decrypt(CiphertextBlob=resp["CiphertextBlob"], EncryptionContext={"f": "1"})
    assert dec["Plaintext"] == resp["Plaintext"]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"KeySpec": "AES_256", "NumberOfBytes": 32}, id="both"),
        pytest.param({}, id="neither"),
        pytest.param({"NumberOfBytes": 0}, id="0 bytes"),
        pytest.param({"NumberOfBytes": 1025}, id="1025 bytes"),
    ],
)
def test_generate_data_key_with_a_bad_length_is_refused(cluster, make_key, kwargs):
    key_id = make_key(0)["KeyId"]
    expect_error("ValidationException", cluster.raw(1).generate_data_key, KeyId=key_id, **kwargs)


def test_generate_data_key_with_an_unknown_key_is_not_found(nodes):
    expect_error(
        "NotFoundException", nodes[2].generate_data_key, KeyId=NO_SUCH_KEY, KeySpec="AES_256"
    )


def test_generate_data_key_without_plaintext(nodes, make_key):
    md = make_key(0)
    resp = nodes[1].generate_data_key_without_plaintext(KeyId=md["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in resp
    assert resp["KeyId"] == md["Arn"]
    dec = nodes[2].decrypt(CiphertextBlob=resp["CiphertextBlob"])
    assert len(dec["Plaintext"]) == 32
    assert dec["KeyId"] == md["Arn"]


def test_generate_data_key_without_plaintext_by_number_of_bytes(nodes, make_key):
    key_id = make_key(0)["KeyId"]
    resp = nodes[1].generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=64)
    assert len(nodes[2].decrypt(CiphertextBlob=resp["CiphertextBlob"])["Plaintext"]) == 64


def test_generate_data_key_without_plaintext_with_both_lengths_is_refused(cluster, make_key):
    key_id = make_key(0)["KeyId"]
    expect_error(
        "ValidationException",
        cluster.raw(2).generate_data_key_without_plaintext,
        KeyId=key_id,
        KeySpec="AES_128",
        NumberOfBytes=16,
    )


# --------------------------------------------------------------------------------------------
# GenerateRandom


@pytest.mark.parametrize("count", [1, 32, 1024])
def test_generate_random(nodes, count):
    first = nodes[count % 3].generate_random(NumberOfBytes=count)["Plaintext"]
    assert len(first) == count
    if count >= 32:
        assert first != nodes[(count + 1) % 3].generate_random(NumberOfBytes=count)["Plaintext"]


@pytest.mark.parametrize(
    "count",
    [pytest.param(0, marks=pytest.mark.moto_gap("moto accepts NumberOfBytes=0")), 1025],
)
def test_generate_random_with_a_bad_length_is_refused(cluster, count):
    expect_error("ValidationException", cluster.raw(count).generate_random, NumberOfBytes=count)


# --------------------------------------------------------------------------------------------
# Authentication

AUTH_GAP = "moto does not authenticate requests"


@pytest.mark.moto_gap(AUTH_GAP)
def test_an_unknown_access_key_is_unrecognized(cluster, nodes, make_key, alias_name):
    key_id = make_key(0)["KeyId"]
    stranger = cluster.client(
        cluster.endpoints[1 % len(cluster.endpoints)],
        access_key="AKIAUNKNOWNINTEROP01",
        secret_key="x" * 40,
    )
    expect_error("UnrecognizedClientException", stranger.list_keys)
    alias = alias_name("stranger")
    expect_error(
        "UnrecognizedClientException", stranger.create_alias, AliasName=alias, TargetKeyId=key_id
    )
    assert aliases_of(nodes[2], key_id) == set()


@pytest.mark.moto_gap(AUTH_GAP)
def test_a_wrong_secret_is_an_invalid_signature(cluster, nodes, make_key):
    key_id = make_key(0)["KeyId"]
    forger = cluster.client(
        cluster.endpoints[2 % len(cluster.endpoints)], secret_key=cluster.secret_key[::-1] + "x"
    )
    expect_error("InvalidSignatureException", forger.disable_key, KeyId=key_id)
    assert key_state(nodes[0], key_id) == "Enabled"
    keys_before = all_keys(nodes[1])
    expect_error("InvalidSignatureException", forger.create_key, Description="must not exist")
    assert all_keys(nodes[0]) == keys_before


@pytest.mark.moto_gap("moto words several of these errors its own way")
def test_boto3_sees_the_messages_aws_sends(cluster, nodes, make_key):
    """The texts LocalStack recorded against AWS (tests/aws/services/kms/test_kms.snapshot.json),
    as boto3 parses them: the same Code, HTTP status and Message."""
    key_id = make_key(0)["KeyId"]
    raw = cluster.raw(1)

    def message(code, call, **kwargs):
        return expect_error(code, call, **kwargs).response["Error"]["Message"]

    assert message("ValidationException", raw.generate_random, NumberOfBytes=0) == (
        "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"
    )
    assert message("ValidationException", raw.generate_random) == "NumberOfBytes is required."
    assert message(
        "ValidationException", raw.encrypt, KeyId=key_id, Plaintext=b"x" * 4097
    ) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )
    unknown = "134f2428-cec1-4b25-a1ae-9048164dba47"
    assert message("NotFoundException", nodes[2].describe_key, KeyId=unknown) == (
        f"Key '{cluster.key_arn(unknown)}' does not exist"
    )
    assert message("NotFoundException", nodes[2].describe_key, KeyId="fake-key-id") == (
        "Invalid keyId 'fake-key-id'"
    )
    blob = nodes[0].encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"a": "b"})
    assert message(
        "InvalidCiphertextException", nodes[1].decrypt, CiphertextBlob=blob["CiphertextBlob"]
    ) == ""
    assert message(
        "TagException", nodes[1].tag_resource, KeyId=key_id,
        Tags=[{"TagKey": "AWS:x", "TagValue": "v"}],
    ) == "Tags beginning with aws: are reserved"
    assert message(
        "ValidationException", nodes[1].create_alias, AliasName="no-prefix", TargetKeyId=key_id
    ) == (
        'Alias must start with the prefix "alias/". Please see '
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
    )
