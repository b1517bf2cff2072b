"""What the boto3 case scripts of the integration tests share (rotation.py, import.py): the
clients, named cases that record a failure and go on, AWS refusals with their exact code and
message, and the closing report.

Environment: TRENT_ENDPOINTS (the leader first, then a follower), TRENT_REGION, and the root
credentials as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

import boto3
import botocore.config
from botocore.exceptions import ClientError

ENDPOINTS = [e for e in os.environ["TRENT_ENDPOINTS"].split(",") if e]
REGION = os.environ.get("TRENT_REGION", "us-east-1")
PASSED: list[str] = []
FAILED: list[tuple[str, str]] = []


def kms(endpoint, validate=True):
    """A boto3 KMS client of `endpoint`; `validate=False` sends what boto3 itself would
    refuse (out-of-range values), so that the service's answer shows."""
    return boto3.client("kms", endpoint_url=endpoint, region_name=REGION,
                        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3},
                                                      parameter_validation=validate, read_timeout=120))


LEADER = kms(ENDPOINTS[0])
FOLLOWER = kms(ENDPOINTS[-1])
UNCHECKED = kms(ENDPOINTS[-1], validate=False)


@contextlib.contextmanager
def case(name):
    """One named case: a failure is recorded, with the script's line, and the next case runs."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
        detail = "".join(traceback.format_exception_only(type(e), e)).strip()
        if isinstance(e, ClientError):
            detail += f"\n      {e.response.get('Error')}"
        here = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
        if here:
            detail += f"\n      at {os.path.basename(here[-1].filename)}:{here[-1].lineno}: {here[-1].line}"
        FAILED.append((name, detail))
        print(f"FAIL {name}: {detail}", flush=True)
    else:
        PASSED.append(name)
        print(f"ok   {name}", flush=True)


def refused(call, code, message=None, **kwargs):
    """`call(**kwargs)` fails with the AWS error `code`, and with exactly `message` if given."""
    try:
        got = call(**kwargs)
    except ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, f"expected {code}, got {err}"
        if message is not None:
            assert err.get("Message", "") == message, f"expected {message!r}, got {err}"
        return err
    raise AssertionError(f"succeeded ({got}), expected {code}")


def run(sections, label):
    """Runs every section as a case, prints the failures and counts, exits 1 if any failed;
    the last line on success is "all <label> cases passed"."""
    for section in sections:
        with case(f"[section {section.__name__}]"):
            section()
    for name, detail in FAILED:
        print(f"FAILED: {name}: {detail}")
    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    if FAILED:
        sys.exit(1)
    print(f"all {label} cases passed")
