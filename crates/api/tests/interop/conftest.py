"""Fixtures, helpers and wire checks for trent's Python interop suite.

The suite talks to a running trent cluster exactly as AWS's own clients do (boto3, the AWS
CLI v1, the AWS Encryption SDK for Python), changing only the endpoint. What it reads from
the environment (the launcher's contract):

    TRENT_ENDPOINTS        comma-separated base URLs of the cluster's nodes; requests are
                           spread over all of them
    AWS_ACCESS_KEY_ID      the root principal of account 111122223333
    AWS_SECRET_ACCESS_KEY
    AWS_DEFAULT_REGION     us-east-1 unless set
    TRENT_INTEROP_TARGET   "trent" (default) or "moto": against moto (used to validate the
                           suite itself) tests marked moto_gap are skipped, with the reason

Every response that botocore receives, success or error, is also checked against the AWS
KMS service model that botocore ships (identical to shared/aws/kms-2014-11-01.service.json):
see WireCheck.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from dataclasses import dataclass, field
from typing import Callable

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

ACCOUNT_ID = "111122223333"
TARGET = os.environ.get("TRENT_INTEROP_TARGET", "trent")
RETRIES = {"max_attempts": 3, "mode": "standard"}

# Environment that would send a client somewhere other than the endpoint under test, or make
# it read a developer's ~/.aws: the suite passes endpoints and credentials explicitly.
_REDIRECTING_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)

# Errors any AWS JSON-protocol service may answer besides the ones an operation's model
# declares (AWS "Common Errors", plus the SigV4 ones that KMS uses).
COMMON_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "IncompleteSignatureException",
        "InternalFailure",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "NotAuthorizedException",
        "RequestExpired",
        "SerializationException",
        "ServiceUnavailable",
        "ThrottlingException",
        "UnknownOperationException",
        "UnrecognizedClientException",
        "ValidationException",
    }
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "moto_gap(reason): AWS behaviour that moto does not implement; "
        "skipped when TRENT_INTEROP_TARGET=moto",
    )
    if TARGET not in ("trent", "moto"):
        raise pytest.UsageError(f"TRENT_INTEROP_TARGET must be trent or moto, not {TARGET!r}")
    for name in _REDIRECTING_ENV:
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = "/nonexistent/trent-interop/aws-config"
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/trent-interop/aws-credentials"
    if config.option.collectonly:
        return
    missing = [
        name
        for name in ("TRENT_ENDPOINTS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        if not os.environ.get(name, "").strip()
    ]
    if missing:
        raise pytest.UsageError(
            "the interop suite needs a running cluster: set "
            + ", ".join(missing)
            + " (see crates/api/tests/interop/README.md)"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TARGET != "moto":
        return
    for item in items:
        marker = item.get_closest_marker("moto_gap")
        if marker is not None:
            item.add_marker(pytest.mark.skip(reason=f"moto gap: {marker.args[0]}"))


# --------------------------------------------------------------------------------------------
# Wire conformance: every response against the service model.


def _check_shape(shape, value, path: str, problems: list[str]) -> None:
    kind = shape.type_name
    if value is None:
        return
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({shape.name}), got {value!r:.80}")
            return
        for name, member_value in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: no such member in {shape.name}")
                continue
            _check_shape(shape.members[name], member_value, f"{path}.{name}", problems)
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({shape.name}), got {value!r:.80}")
            return
        for i, item in enumerate(value):
            _check_shape(shape.member, item, f"{path}[{i}]", problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({shape.name}), got {value!r:.80}")
            return
        for k, v in value.items():
            _check_shape(shape.key, k, f"{path} key", problems)
            _check_shape(shape.value, v, f"{path}[{k!r}]", problems)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string ({shape.name}), got {value!r:.80}")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.name}'s values")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, got {value!r:.80}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer, got {value!r:.80}")
    elif kind in ("float", "double", "timestamp"):
        # AWS JSON 1.1 sends timestamps as epoch seconds (a JSON number).
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: expected a number ({kind}), got {value!r:.80}")
    elif kind == "blob":
        try:
            if not isinstance(value, str):
                raise TypeError
            base64.b64decode(value, validate=True)
        except (TypeError, binascii.Error):
            problems.append(f"{path}: expected base64 text (blob), got {value!r:.80}")


class WireCheck:
    """Records responses that would surprise an AWS SDK other than boto3.

    botocore silently drops members it does not know and is lenient about types, so a field
    spelled or typed differently from the AWS model would pass a boto3-only test and still
    break the Java, Go or Rust SDKs. After each test, the `wire_conformance` fixture fails the
    test if any response it made did not match the model:
      * every response carries an x-amzn-RequestId header;
      * a success body is JSON whose members all exist in the operation's output shape,
        with the model's types (timestamps as numbers, blobs as base64, enums in range);
      * an error body is JSON with a __type naming an error the operation declares or a
        common AWS error.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, events) -> None:
        """Watches every KMS call of a client (client.meta.events) or session."""
        events.register("after-call.kms", self._after_call)

    def _after_call(self, http_response, parsed, model, **_kwargs) -> None:
        op = model.name
        status = http_response.status_code
        if not http_response.headers.get("x-amzn-RequestId"):
            self.problems.append(f"{op} ({status}): no x-amzn-RequestId header")
        body = http_response.content or b""
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            self.problems.append(f"{op} ({status}): body is not JSON: {body[:120]!r}")
            return
        if status < 300:
            if model.output_shape is None:
                if data:
                    self.problems.append(f"{op}: expected an empty body, got {body[:120]!r}")
            else:
                _check_shape(model.output_shape, data, op, self.problems)
            return
        error_type = data.get("__type") if isinstance(data, dict) else None
        if not error_type:
            self.problems.append(f"{op} ({status}): error body without __type: {body[:120]!r}")
            return
        code = error_type.split("#")[-1].split(":")[0]
        declared = {shape.name for shape in model.error_shapes}
        if code not in declared | COMMON_ERRORS:
            self.problems.append(
                f"{op} ({status}): error {code} is neither declared for {op} "
                f"({', '.join(sorted(declared))}) nor a common AWS error"
            )


WIRE = WireCheck()


@pytest.fixture(autouse=True)
def wire_conformance():
    WIRE.problems.clear()
    yield
    problems, WIRE.problems[:] = list(WIRE.problems), []
    assert not problems, "responses that do not match the AWS KMS model:\n  " + "\n  ".join(
        problems
    )


# --------------------------------------------------------------------------------------------
# The cluster.


@dataclass
class Cluster:
    endpoints: list[str]
    region: str
    access_key: str
    secret_key: str
    account_id: str = ACCOUNT_ID
    _clients: dict = field(default_factory=dict)

    def client(
        self,
        endpoint: str,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        validate: bool = True,
    ):
        """A boto3 KMS client for one node, made the way the launcher's contract says."""
        client = boto3.client(
            "kms",
            endpoint_url=endpoint,
            region_name=self.region,
            aws_access_key_id=access_key if access_key is not None else self.access_key,
            aws_secret_access_key=secret_key if secret_key is not None else self.secret_key,
            config=Config(retries=RETRIES, parameter_validation=validate),
        )
        WIRE.attach(client.meta.events)
        return client

    def node(self, i: int):
        """The boto3 client of node i (modulo the cluster size), made once."""
        endpoint = self.endpoints[i % len(self.endpoints)]
        key = ("node", endpoint)
        if key not in self._clients:
            self._clients[key] = self.client(endpoint)
        return self._clients[key]

    def raw(self, i: int):
        """A client of node i without botocore's parameter validation, so that values the
        model forbids (NumberOfBytes=0, ...) reach the server and are refused by it."""
        endpoint = self.endpoints[i % len(self.endpoints)]
        key = ("raw", endpoint)
        if key not in self._clients:
            self._clients[key] = self.client(endpoint, validate=False)
        return self._clients[key]

    def key_arn(self, key_id: str, region: str | None = None) -> str:
        return f"arn:aws:kms:{region or self.region}:{self.account_id}:key/{key_id}"

    def alias_arn(self, alias_name: str) -> str:
        return f"arn:aws:kms:{self.region}:{self.account_id}:{alias_name}"


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    endpoints = [e.strip().rstrip("/") for e in os.environ["TRENT_ENDPOINTS"].split(",")]
    endpoints = [e for e in endpoints if e]
    return Cluster(
        endpoints=endpoints,
        region=os.environ.get("AWS_DEFAULT_REGION", "").strip() or "us-east-1",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="session")
def nodes(cluster: Cluster) -> list:
    """One boto3 client per node. Tests use nodes[0], nodes[1], nodes[2] for successive
    steps, so that a key made through one node is used through another (with fewer than
    three endpoints, indices wrap around)."""
    return [cluster.node(i) for i in range(max(3, len(cluster.endpoints)))]


@pytest.fixture
def make_key(cluster: Cluster, request):
    """Creates a symmetric key through node `node` (default 0); schedules it for deletion
    (7 days, the minimum) when the test ends, unless the test already did. The description
    names the test, unless Description is given (None: no Description in the request)."""
    created: list[str] = []

    def make(node: int = 0, **kwargs) -> dict:
        kwargs.setdefault("Description", f"trent interop: {request.node.name}")
        if kwargs["Description"] is None:
            del kwargs["Description"]
        metadata = cluster.node(node).create_key(**kwargs)["KeyMetadata"]
        created.append(metadata["KeyId"])
        return metadata

    yield make
    for key_id in created:
        try:
            cluster.node(0).schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        except ClientError:
            pass


@pytest.fixture
def alias_name(cluster: Cluster, request):
    """Makes unique alias names (random suffix) and deletes those that exist at the end."""
    made: list[str] = []

    def make(label: str = "a") -> str:
        name = f"alias/trent-interop/{label}-{secrets.token_hex(6)}"
        made.append(name)
        return name

    yield make
    for name in made:
        try:
            cluster.node(0).delete_alias(AliasName=name)
        except ClientError:
            pass


# --------------------------------------------------------------------------------------------
# Helpers for test modules (imported with `from conftest import ...`).


def expect_error(code: str, call: Callable, /, **kwargs) -> ClientError:
    """Makes the call, which must fail with AWS error `code` and HTTP status 400 (the status
    AWS KMS gives every client-side error). Returns the ClientError."""
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    error = excinfo.value.response["Error"]
    status = excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert error["Code"] == code, (
        f"expected {code}, got {error['Code']} ({status}): {error.get('Message')}"
    )
    assert status == 400, f"{code} came with HTTP {status}, AWS sends 400"
    return excinfo.value


def all_keys(client) -> set[str]:
    """Every KeyId that ListKeys returns, following NextMarker."""
    keys: set[str] = set()
    kwargs: dict = {}
    while True:
        page = client.list_keys(**kwargs)
        keys.update(k["KeyId"] for k in page["Keys"])
        if not page.get("Truncated"):
            return keys
        kwargs = {"Marker": page["NextMarker"]}


def aliases_of(client, key_id: str) -> set[str]:
    """The alias names that ListAliases(KeyId=key_id) returns, following NextMarker."""
    names: set[str] = set()
    kwargs: dict = {"KeyId": key_id}
    while True:
        page = client.list_aliases(**kwargs)
        names.update(a["AliasName"] for a in page["Aliases"])
        if not page.get("Truncated"):
            return names
        kwargs = {"KeyId": key_id, "Marker": page["NextMarker"]}


def key_state(client, key_id: str) -> str:
    return client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def esdk_botocore_session(cluster: Cluster, endpoint: str, config_dir) -> botocore.session.Session:
    """A botocore session whose KMS clients go to `endpoint`.

    The AWS Encryption SDK builds its own boto3 client per region from the botocore session
    it is given, so the endpoint cannot be passed to it directly. botocore (>= 1.31) reads a
    configured endpoint when it creates a client: from AWS_ENDPOINT_URL_KMS/AWS_ENDPOINT_URL
    in the environment, else from `endpoint_url` in the profile of the shared config file.
    This session gets a config file of its own, so that each session can point at a
    different node without touching the process environment.
    """
    config_file = config_dir / f"aws-config-{secrets.token_hex(4)}"
    config_file.write_text(
        f"[profile trent-interop]\nregion = {cluster.region}\nendpoint_url = {endpoint}\n"
    )
    session = botocore.session.Session()
    session.set_config_variable("config_file", str(config_file))
    session.set_config_variable("credentials_file", str(config_dir / "no-credentials"))
    session.set_config_variable("profile", "trent-interop")
    session.set_credentials(cluster.access_key, cluster.secret_key)
    WIRE.attach(session)
    return session
