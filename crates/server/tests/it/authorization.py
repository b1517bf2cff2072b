"""Key policies and grants through boto3, against every node of a 3-node trent cluster.

Principals come from the environment as ACCESS_KEY_ID:SECRET: the owner (account A's root),
alice (a user of A allowed kms:* by her identity policy), bob (a user of A with no policy)
and carol (a user of account B allowed kms:* by hers). Each call goes to the next node, so
every decision is also a proof that what one node acknowledged holds on the others.
"""

import itertools
import json
import os
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINTS = os.environ["TRENT_ENDPOINTS"].split(",")
REGION = os.environ["TRENT_REGION"]
A = os.environ["TRENT_ACCOUNT"]
B = os.environ["TRENT_ACCOUNT_B"]
NEXT = itertools.cycle(range(len(ENDPOINTS)))


def client(who):
    key_id, secret = os.environ[who].split(":", 1)
    clients = [
        boto3.client(
            "kms",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"mode": "standard"}),
        )
        for endpoint in ENDPOINTS
    ]

    class RoundRobin:
        def __getattr__(self, name):
            return getattr(clients[next(NEXT)], name)

    return RoundRobin()


owner, alice, bob, carol = (client(w) for w in ("TRENT_OWNER", "TRENT_ALICE", "TRENT_BOB", "TRENT_CAROL"))
ALICE = f"arn:aws:iam::{A}:user/alice"
BOB = f"arn:aws:iam::{A}:user/bob"
CAROL = f"arn:aws:iam::{B}:user/carol"


def refused(call, code, contains=None, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        got = e.response["Error"]
        assert got["Code"] == code, (call, got)
        if contains:
            assert contains in got.get("Message", ""), (contains, got)
        return got.get("Message", "")
    raise AssertionError(f"{call} with {kwargs} succeeded; expected {code}")


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal, actions, **extra):
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*", **extra}


def deny(principal, actions, **extra):
    return {"Effect": "Deny", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*", **extra}


OWNER_ALL = allow(f"arn:aws:iam::{A}:root", "kms:*")

# 1. The default policy: the account's root, and its users through their identity policies.
key = owner.create_key()["KeyMetadata"]
arn, key_id = key["Arn"], key["KeyId"]
default = owner.get_key_policy(KeyId=key_id)
assert default["PolicyName"] == "default"
assert json.loads(default["Policy"])["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{A}:root"}
assert owner.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]
blob = alice.encrypt(KeyId=key_id, Plaintext=b"a")["CiphertextBlob"]
refused(
    bob.encrypt, "AccessDeniedException",
    f"User: {BOB} is not authorized to perform: kms:Encrypt on resource: {arn} "
    "because no identity-based policy allows the kms:Encrypt action",
    KeyId=key_id, Plaintext=b"b",
)
refused(
    carol.encrypt, "AccessDeniedException",
    "because no resource-based policy allows the kms:Encrypt action",
    KeyId=arn, Plaintext=b"c",
)

# 2. A custom policy granting one action across accounts; GetKeyPolicy answers it exactly.
custom = policy(OWNER_ALL, allow(f"arn:aws:iam::{B}:root", "kms:Encrypt"))
owner.put_key_policy(KeyId=key_id, PolicyName="default", Policy=custom)
assert owner.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == custom
carol.encrypt(KeyId=arn, Plaintext=b"c")
refused(carol.decrypt, "AccessDeniedException", "kms:Decrypt", CiphertextBlob=blob)
refused(carol.describe_key, "AccessDeniedException", "kms:DescribeKey", KeyId=arn)

# 3. An explicit deny overrides every allow, the account root's own included.
owner.put_key_policy(KeyId=key_id, Policy=policy(OWNER_ALL, deny(ALICE, "kms:Decrypt")))
refused(
    alice.decrypt, "AccessDeniedException",
    f"User: {ALICE} is not authorized to perform: kms:Decrypt on resource: {arn} "
    "with an explicit deny in a resource-based policy",
    CiphertextBlob=blob,
)
alice.encrypt(KeyId=key_id, Plaintext=b"still")
owner.decrypt(CiphertextBlob=blob)

# 4. A condition on the encryption context, for the other account.
ctx_policy = policy(
    OWNER_ALL,
    allow(
        f"arn:aws:iam::{B}:root", ["kms:Encrypt", "kms:Decrypt"],
        Condition={"StringEquals": {"kms:EncryptionContext:dept": "it"}},
    ),
)
owner.put_key_policy(KeyId=key_id, Policy=ctx_policy)
it_blob = carol.encrypt(KeyId=arn, Plaintext=b"it", EncryptionContext={"dept": "it"})["CiphertextBlob"]
assert carol.decrypt(CiphertextBlob=it_blob, EncryptionContext={"dept": "it"})["Plaintext"] == b"it"
refused(carol.encrypt, "AccessDeniedException", KeyId=arn, Plaintext=b"x", EncryptionContext={"dept": "hr"})
refused(carol.encrypt, "AccessDeniedException", KeyId=arn, Plaintext=b"x")

# 5. The lockout safety check, and a policy that is not one.
refused(
    owner.put_key_policy, "MalformedPolicyDocumentException",
    "The new key policy will not allow you to update the key policy in the future.",
    KeyId=key_id, Policy=policy(allow(ALICE, "kms:Encrypt")),
)
refused(owner.put_key_policy, "MalformedPolicyDocumentException", KeyId=key_id, Policy="{not json")
refused(owner.get_key_policy, "NotFoundException", KeyId=key_id, PolicyName="other")
assert owner.get_key_policy(KeyId=key_id)["Policy"] == ctx_policy, "a refused policy changes nothing"
locked = owner.create_key(
    Policy=policy(allow(ALICE, "kms:*")), BypassPolicyLockoutSafetyCheck=True
)["KeyMetadata"]["KeyId"]
refused(owner.describe_key, "AccessDeniedException", KeyId=locked)
alice.describe_key(KeyId=locked)
refused(
    owner.create_key, "MalformedPolicyDocumentException", Policy=policy(allow(ALICE, "kms:*"))
)

# 6. Grants: used by their grantee (with and without the token), retired by their retiring
#    principal, revoked by the key's owner, listed, and refused to everyone else.
owner.put_key_policy(KeyId=key_id, Policy=policy(OWNER_ALL))
grant = owner.create_grant(
    KeyId=key_id, GranteePrincipal=BOB, RetiringPrincipal=ALICE,
    Operations=["Encrypt", "Decrypt", "DescribeKey"], Name="bob-app",
)
again = owner.create_grant(
    KeyId=key_id, GranteePrincipal=BOB, RetiringPrincipal=ALICE,
    Operations=["Encrypt", "Decrypt", "DescribeKey"], Name="bob-app",
)
assert again["GrantId"] == grant["GrantId"], "the same name and terms are the same grant"
bob_blob = bob.encrypt(KeyId=key_id, Plaintext=b"b", GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
assert bob.decrypt(CiphertextBlob=bob_blob)["Plaintext"] == b"b"
bob.describe_key(KeyId=key_id)
refused(bob.generate_data_key, "AccessDeniedException", KeyId=key_id, KeySpec="AES_256")
refused(bob.revoke_grant, "AccessDeniedException", KeyId=key_id, GrantId=grant["GrantId"])
listed = owner.list_grants(KeyId=key_id)["Grants"]
assert [g["GrantId"] for g in listed] == [grant["GrantId"]], listed
entry = listed[0]
assert entry["GranteePrincipal"] == BOB and entry["RetiringPrincipal"] == ALICE, entry
assert entry["Name"] == "bob-app" and entry["KeyId"] == arn, entry
assert sorted(entry["Operations"]) == ["Decrypt", "DescribeKey", "Encrypt"], entry
assert entry["IssuingAccount"] == f"arn:aws:iam::{A}:root", entry
retirable = alice.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]
assert [g["GrantId"] for g in retirable] == [grant["GrantId"]], retirable
refused(carol.retire_grant, "AccessDeniedException", GrantToken=grant["GrantToken"])
alice.retire_grant(GrantToken=grant["GrantToken"])
refused(bob.encrypt, "AccessDeniedException", KeyId=key_id, Plaintext=b"b", GrantTokens=[grant["GrantToken"]])
refused(bob.decrypt, "AccessDeniedException", CiphertextBlob=bob_blob)
assert owner.list_grants(KeyId=key_id)["Grants"] == []
refused(alice.retire_grant, "NotFoundException", GrantToken=grant["GrantToken"])

# A cross-account grant: carol's account gets Decrypt by grant alone.
cross = owner.create_grant(KeyId=key_id, GranteePrincipal=CAROL, Operations=["Decrypt"])
assert carol.decrypt(CiphertextBlob=bob_blob)["Plaintext"] == b"b"
owner.revoke_grant(KeyId=key_id, GrantId=cross["GrantId"])
refused(carol.decrypt, "AccessDeniedException", CiphertextBlob=bob_blob)

# Bad grant input names what is wrong and creates nothing.
refused(owner.create_grant, "ValidationException", "GranteePrincipal", KeyId=key_id, GranteePrincipal="bob", Operations=["Encrypt"])
refused(owner.create_grant, "ValidationException", "Sign", KeyId=key_id, GranteePrincipal=BOB, Operations=["Sign"])
refused(
    owner.create_grant, "ValidationException", "DescribeKey",
    KeyId=key_id, GranteePrincipal=BOB, Operations=["DescribeKey"],
    Constraints={"EncryptionContextSubset": {"a": "b"}},
)
refused(owner.revoke_grant, "InvalidGrantIdException", KeyId=key_id, GrantId="nope")
refused(owner.revoke_grant, "NotFoundException", KeyId=key_id, GrantId="0" * 64)
refused(owner.retire_grant, "InvalidGrantTokenException", GrantToken="nope")
assert owner.list_grants(KeyId=key_id)["Grants"] == []

print("all authorization cases passed")
sys.exit(0)
