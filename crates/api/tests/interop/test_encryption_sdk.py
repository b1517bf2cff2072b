"""The AWS Encryption SDK for Python against trent: envelope encryption of a 1 MB message
with AWS KMS master key providers whose KMS clients point at the cluster's nodes.

The ESDK calls GenerateDataKey (NumberOfBytes, EncryptionContext) to encrypt, Encrypt for
each additional master key, and Decrypt (with KeyId) to decrypt; it checks that the KeyId in
each response is the key ARN it asked for.
"""

from __future__ import annotations

import os

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.exceptions import DecryptKeyError, GenerateKeyError
from aws_encryption_sdk.key_providers.kms import (
    DiscoveryAwsKmsMasterKeyProvider,
    DiscoveryFilter,
    StrictAwsKmsMasterKeyProvider,
)

from conftest import WIRE, esdk_botocore_session

CONTEXT = {"purpose": "trent-interop", "tenant": "t-42"}


@pytest.fixture(scope="module")
def esdk():
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )


@pytest.fixture(scope="module")
def message() -> bytes:
    return os.urandom(1024 * 1024)


@pytest.fixture
def session_for(cluster, tmp_path):
    """session_for(i): a botocore session whose KMS clients talk to node i."""
    return lambda i: esdk_botocore_session(
        cluster, cluster.endpoints[i % len(cluster.endpoints)], tmp_path
    )


def strict(session, *arns):
    return StrictAwsKmsMasterKeyProvider(key_ids=list(arns), botocore_session=session)


def test_esdk_round_trip_of_1mb_with_an_encryption_context(esdk, message, session_for, make_key):
    arn = make_key(0)["Arn"]
    ciphertext, enc_header = esdk.encrypt(
        source=message, key_provider=strict(session_for(1), arn), encryption_context=CONTEXT
    )
    assert message not in ciphertext
    assert [k.key_provider.key_info for k in enc_header.encrypted_data_keys] == [arn.encode()]
    plaintext, dec_header = esdk.decrypt(
        source=ciphertext, key_provider=strict(session_for(2), arn)
    )
    assert plaintext == message
    # The ESDK adds its own pairs (the signing key of the default suite); ours come back intact.
    assert CONTEXT.items() <= dec_header.encryption_context.items()
    assert dec_header.encryption_context == enc_header.encryption_context


def test_esdk_decrypt_with_a_provider_for_another_key_fails(esdk, message, session_for, make_key):
    arn, other = make_key(0)["Arn"], make_key(1)["Arn"]
    ciphertext, _ = esdk.encrypt(
        source=message, key_provider=strict(session_for(2), arn), encryption_context=CONTEXT
    )
    with pytest.raises(DecryptKeyError):
        esdk.decrypt(source=ciphertext, key_provider=strict(session_for(0), other))


def test_esdk_discovery_provider_decrypts_with_the_key_named_in_the_message(
    cluster, esdk, message, session_for, make_key
):
    arn = make_key(0)["Arn"]
    ciphertext, _ = esdk.encrypt(
        source=message, key_provider=strict(session_for(0), arn), encryption_context=CONTEXT
    )
    discovery = DiscoveryAwsKmsMasterKeyProvider(
        botocore_session=session_for(1),
        discovery_filter=DiscoveryFilter(account_ids=[cluster.account_id], partition="aws"),
    )
    plaintext, header = esdk.decrypt(source=ciphertext, key_provider=discovery)
    assert plaintext == message
    assert CONTEXT.items() <= header.encryption_context.items()


def test_esdk_message_for_two_keys_decrypts_with_either(esdk, message, session_for, make_key):
    first, second = make_key(0)["Arn"], make_key(1)["Arn"]
    # The first key makes the data key (GenerateDataKey), the second wraps it (Encrypt).
    ciphertext, header = esdk.encrypt(
        source=message,
        key_provider=strict(session_for(2), first, second),
        encryption_context=CONTEXT,
    )
    assert sorted(k.key_provider.key_info for k in header.encrypted_data_keys) == sorted(
        [first.encode(), second.encode()]
    )
    for i, arn in enumerate((first, second)):
        plaintext, _ = esdk.decrypt(source=ciphertext, key_provider=strict(session_for(i), arn))
        assert plaintext == message


@pytest.mark.moto_gap("moto does not refuse a disabled key in cryptographic operations")
def test_esdk_encrypt_with_a_disabled_key_fails(esdk, nodes, session_for, make_key):
    md = make_key(0)
    nodes[1].disable_key(KeyId=md["KeyId"])
    with pytest.raises(GenerateKeyError):
        esdk.encrypt(source=b"x", key_provider=strict(session_for(2), md["Arn"]))


def test_esdk_finds_the_endpoint_in_aws_endpoint_url_kms(
    cluster, esdk, message, monkeypatch, make_key
):
    """The other documented way to point the ESDK at trent: the environment variable, read
    by botocore (>= 1.31) when the ESDK creates its client on first use."""
    arn = make_key(0)["Arn"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", cluster.endpoints[2 % len(cluster.endpoints)])
    session = botocore.session.Session()
    session.set_credentials(cluster.access_key, cluster.secret_key)
    WIRE.attach(session)
    provider = strict(session, arn)
    ciphertext, _ = esdk.encrypt(source=message, key_provider=provider, encryption_context=CONTEXT)
    plaintext, _ = esdk.decrypt(source=ciphertext, key_provider=strict(session, arn))
    assert plaintext == message
