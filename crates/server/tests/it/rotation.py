"""Key rotation through boto3, against the leader and a follower of a 3-node cluster: every
operation (EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
ListKeyRotations) and its refusals, with AWS's codes and messages; ciphertexts made under
each material version decrypt through either node, and Decrypt/ReEncrypt name the material
that sealed them.

Environment: TRENT_ENDPOINTS (the leader first, then a follower), TRENT_REGION, the root
credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. Every case runs, whatever the ones
before it did; the script exits 1 if any failed. The last line on success is
"all rotation cases passed". It prints the key it rotated and its ciphertexts as
"key <id>" and "ciphertext <base64>" lines, for the Rust test to decrypt again after
restarts.
"""

from __future__ import annotations

import base64

from kms_cases import FOLLOWER, LEADER, REGION, UNCHECKED, case, refused, run


def new_key(**kwargs):
    return LEADER.create_key(**kwargs)["KeyMetadata"]


def rotations_and_decryption():
    key = new_key(Description="rotated by rotation.py")
    key_id, arn = key["KeyId"], key["Arn"]
    made = []  # (plaintext, ciphertext, material id)
    for round_ in range(4):
        if round_:
            client = LEADER if round_ % 2 else FOLLOWER
            with case(f"RotateKeyOnDemand #{round_} answers the key ARN"):
                assert client.rotate_key_on_demand(KeyId=key_id)["KeyId"] == arn
        current = FOLLOWER.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        plaintext = bytes([round_]) * 24
        blob = LEADER.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        made.append((plaintext, blob, current))
    with case("each rotation makes a new current material"):
        assert len({m for _, _, m in made}) == 4, made
    for name, client in [("leader", LEADER), ("follower", FOLLOWER)]:
        with case(f"every version decrypts through the {name} and names its material"):
            for plaintext, blob, material in made:
                out = client.decrypt(CiphertextBlob=blob)
                assert out["Plaintext"] == plaintext
                assert out["KeyMaterialId"] == material, (out["KeyMaterialId"], material)
    with case("ReEncrypt names the source and destination materials"):
        out = FOLLOWER.re_encrypt(CiphertextBlob=made[0][1], DestinationKeyId=key_id)
        assert out["SourceKeyMaterialId"] == made[0][2]
        assert out["DestinationKeyMaterialId"] == made[3][2]
    with case("ListKeyRotations lists the three rotations, oldest first"):
        out = FOLLOWER.list_key_rotations(KeyId=arn)
        rotations = out["Rotations"]
        assert [r["KeyMaterialId"] for r in rotations] == [m for _, _, m in made[1:]], out
        assert [r["RotationType"] for r in rotations] == ["ON_DEMAND"] * 3
        assert [r["KeyMaterialState"] for r in rotations] == ["NON_CURRENT"] * 2 + ["CURRENT"]
        assert all(r["KeyId"] == key_id for r in rotations)
        assert out["Truncated"] is False and "NextMarker" not in out
    with case("ListKeyRotations pages, with the first material under ALL_KEY_MATERIAL"):
        paginator = LEADER.get_paginator("list_key_rotations")
        pages = list(paginator.paginate(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL",
                                        PaginationConfig={"PageSize": 1}))
        listed = [r for p in pages for r in p["Rotations"]]
        assert [r["KeyMaterialId"] for r in listed] == [m for _, _, m in made], pages
        assert "RotationType" not in listed[0] and "RotationDate" not in listed[0]
        assert len(pages) == 4
    print(f"key {key_id}")
    for plaintext, blob, _ in made:
        print(f"ciphertext {base64.b64encode(blob).decode()} {base64.b64encode(plaintext).decode()}")


def automatic_rotation_settings():
    key_id = new_key()["KeyId"]
    with case("a new key does not rotate"):
        out = FOLLOWER.get_key_rotation_status(KeyId=key_id)
        assert out["KeyRotationEnabled"] is False and "NextRotationDate" not in out, out
    with case("EnableKeyRotation with the default period (365 days)"):
        LEADER.enable_key_rotation(KeyId=key_id)
        out = FOLLOWER.get_key_rotation_status(KeyId=key_id)
        assert out["KeyRotationEnabled"] is True and out["RotationPeriodInDays"] == 365, out
        assert out["KeyId"].endswith(key_id) and out["KeyId"].startswith("arn:")
        assert "OnDemandRotationStartDate" not in out
    with case("EnableKeyRotation again changes the period"):
        FOLLOWER.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        assert LEADER.get_key_rotation_status(KeyId=key_id)["RotationPeriodInDays"] == 90
    with case("DisableKeyRotation"):
        FOLLOWER.disable_key_rotation(KeyId=key_id)
        out = LEADER.get_key_rotation_status(KeyId=key_id)
        assert out["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in out, out
    for days in (89, 2561):
        with case(f"RotationPeriodInDays {days} is refused"):
            refused(UNCHECKED.enable_key_rotation, "ValidationException",
                    f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' "
                    "failed to satisfy constraint: Member must have value "
                    + ("greater than or equal to 90" if days < 90 else "less than or equal to 2560"),
                    KeyId=key_id, RotationPeriodInDays=days)
    with case("refusals changed nothing"):
        assert LEADER.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def refusals():
    rsa = new_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    hmac = new_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    for spec, key_id in [("RSA_2048", rsa), ("HMAC_256", hmac)]:
        for op in ["enable_key_rotation", "disable_key_rotation", "get_key_rotation_status",
                   "rotate_key_on_demand", "list_key_rotations"]:
            with case(f"{op} on a {spec} key: UnsupportedOperationException, no message"):
                refused(getattr(FOLLOWER, op), "UnsupportedOperationException", "", KeyId=key_id)
    disabled = new_key()
    LEADER.disable_key(KeyId=disabled["KeyId"])
    for op in ["enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"]:
        with case(f"{op} on a disabled key: DisabledException"):
            refused(getattr(LEADER, op), "DisabledException", f"{disabled['Arn']} is disabled.",
                    KeyId=disabled["KeyId"])
    pending = new_key()
    LEADER.schedule_key_deletion(KeyId=pending["KeyId"], PendingWindowInDays=7)
    for op in ["enable_key_rotation", "disable_key_rotation", "rotate_key_on_demand"]:
        with case(f"{op} on a key pending deletion: KMSInvalidStateException"):
            refused(getattr(FOLLOWER, op), "KMSInvalidStateException",
                    f"{pending['Arn']} is pending deletion.", KeyId=pending["KeyId"])
    missing = "arn:aws:kms:%s:%s:key/11111111-2222-3333-4444-555555555555" % (
        REGION, pending["AWSAccountId"])
    for op in ["enable_key_rotation", "disable_key_rotation", "get_key_rotation_status",
               "rotate_key_on_demand", "list_key_rotations"]:
        with case(f"{op} on a key that does not exist: NotFoundException"):
            refused(getattr(LEADER, op), "NotFoundException", f"Key '{missing}' does not exist",
                    KeyId=missing)
        with case(f"{op} by alias: refused"):
            refused(getattr(LEADER, op), "NotFoundException", KeyId="alias/nothing-here")
    key_id = new_key()["KeyId"]
    with case("ListKeyRotations: a bad marker, a bad Limit, a bad IncludeKeyMaterial"):
        refused(LEADER.list_key_rotations, "InvalidMarkerException", KeyId=key_id, Marker="zz")
        refused(UNCHECKED.list_key_rotations, "ValidationException", KeyId=key_id, Limit=1001)
        refused(UNCHECKED.list_key_rotations, "ValidationException", KeyId=key_id,
                IncludeKeyMaterial="EVERYTHING")
    with case("the 26th on-demand rotation: LimitExceededException in AWS's words"):
        limited = new_key()
        for _ in range(25):
            LEADER.rotate_key_on_demand(KeyId=limited["KeyId"])
        refused(FOLLOWER.rotate_key_on_demand, "LimitExceededException",
                "The on-demand rotations limit has been reached for the given keyId. No more "
                f"on-demand rotations can be performed for this key: {limited['Arn']}",
                KeyId=limited["KeyId"])
        listed = LEADER.list_key_rotations(KeyId=limited["KeyId"], Limit=1000)["Rotations"]
        assert len(listed) == 25, len(listed)


def main():
    run([rotations_and_decryption, automatic_rotation_settings, refusals], "rotation")


if __name__ == "__main__":
    main()
