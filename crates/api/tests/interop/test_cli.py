"""The AWS CLI v1 (`aws`, from the suite's venv) against trent: the documented shell
pipelines for encrypting and decrypting a file, with the endpoint given by --endpoint-url
or by AWS_ENDPOINT_URL_KMS."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

AWS = Path(sys.executable).parent / "aws"


@pytest.fixture(scope="module")
def aws_cli() -> Path:
    if not AWS.exists():
        pytest.fail(f"{AWS} not found: run the suite with the python of scripts/interop-venv")
    return AWS


def cli_env(cluster, tmp_path, **extra) -> dict[str, str]:
    """Only what the CLI needs: the credentials, the region, no ~/.aws, no pager."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": cluster.access_key,
        "AWS_SECRET_ACCESS_KEY": cluster.secret_key,
        "AWS_DEFAULT_REGION": cluster.region,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "3",
        "AWS_RETRY_MODE": "standard",
    }
    env.update(extra)
    return env


def sh(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=60,
    )


def encrypt_decrypt_files(aws, key_id, enc_endpoint, dec_endpoint, env, tmp_path, context=""):
    """Runs the AWS docs' encrypt and decrypt pipelines; returns the decrypted bytes."""
    q = shlex.quote
    ep = lambda url: f"--endpoint-url {q(url)} " if url else ""  # noqa: E731
    ctx = f"--encryption-context {q(context)} " if context else ""
    encrypted = sh(
        f"{q(str(aws))} kms encrypt {ep(enc_endpoint)}--key-id {q(key_id)} {ctx}"
        "--plaintext fileb://secret.bin --output text --query CiphertextBlob"
        " | base64 -d > secret.bin.enc",
        env,
        tmp_path,
    )
    assert encrypted.returncode == 0, encrypted.stderr.decode()
    assert (tmp_path / "secret.bin.enc").stat().st_size > 0
    decrypted = sh(
        f"{q(str(aws))} kms decrypt {ep(dec_endpoint)}{ctx}"
        "--ciphertext-blob fileb://secret.bin.enc --output text --query Plaintext"
        " | base64 -d > secret.bin.dec",
        env,
        tmp_path,
    )
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    return (tmp_path / "secret.bin.dec").read_bytes()


def test_cli_encrypts_and_decrypts_a_binary_file(aws_cli, cluster, make_key, tmp_path):
    key_id = make_key(0)["KeyId"]
    original = os.urandom(4096)
    (tmp_path / "secret.bin").write_bytes(original)
    env = cli_env(cluster, tmp_path)
    got = encrypt_decrypt_files(
        aws_cli,
        key_id,
        cluster.endpoints[1 % len(cluster.endpoints)],
        cluster.endpoints[2 % len(cluster.endpoints)],
        env,
        tmp_path,
    )
    assert got == original
    assert original not in (tmp_path / "secret.bin.enc").read_bytes()


def test_cli_round_trip_with_an_encryption_context(aws_cli, cluster, make_key, tmp_path):
    key_id = make_key(0)["KeyId"]
    original = os.urandom(3000)
    (tmp_path / "secret.bin").write_bytes(original)
    env = cli_env(cluster, tmp_path)
    got = encrypt_decrypt_files(
        aws_cli,
        key_id,
        cluster.endpoints[2 % len(cluster.endpoints)],
        cluster.endpoints[0],
        env,
        tmp_path,
        context="purpose=cli,tenant=t-1",
    )
    assert got == original
    # Without the context, the CLI reports AWS's error and fails.
    refused = subprocess.run(
        [
            str(aws_cli),
            "kms",
            "decrypt",
            "--endpoint-url",
            cluster.endpoints[0],
            "--ciphertext-blob",
            "fileb://secret.bin.enc",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert b"InvalidCiphertextException" in refused.stderr, refused.stderr.decode()


def test_cli_uses_the_endpoint_from_aws_endpoint_url_kms(aws_cli, cluster, make_key, tmp_path):
    key_id = make_key(0)["KeyId"]
    original = os.urandom(2048)
    (tmp_path / "secret.bin").write_bytes(original)
    env = cli_env(
        cluster, tmp_path, AWS_ENDPOINT_URL_KMS=cluster.endpoints[1 % len(cluster.endpoints)]
    )
    got = encrypt_decrypt_files(aws_cli, key_id, None, None, env, tmp_path)
    assert got == original


def test_cli_reports_an_unknown_key(aws_cli, cluster, tmp_path):
    env = cli_env(cluster, tmp_path)
    result = subprocess.run(
        [
            str(aws_cli),
            "kms",
            "describe-key",
            "--endpoint-url",
            cluster.endpoints[0],
            "--key-id",
            "0b6f6c4e-3a1d-4c54-9d6f-000000000000",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    # AWS CLI v1 exits 255 on any error (v2 gives 254 for a service error).
    assert result.returncode != 0, result.stdout.decode()
    assert b"NotFoundException" in result.stderr, result.stderr.decode()
