"""Steady KMS load through boto3 with its standard retries, behind an emulated load balancer.

Used by rolling_restart.rs while it restarts every node in turn. The load balancer is what
one in front of trent does: it probes every node's /readyz every PROBE_INTERVAL seconds
(timeout 1 s), sends each call to a node whose last probe answered 200 (round robin), and
stops sending to a node at its first failed probe (a 503, or no answer). Nothing else is
assumed: no client-side knowledge of the leader, no retries beyond boto3's own
(`retries={"mode": "standard"}`: 3 attempts, exponential backoff, on 5xx, throttling and
connection errors), and each attempt of a call goes to the node the balancer chose for it.

Environment: TRENT_ENDPOINTS (comma-separated base URLs), TRENT_STOP_FILE (the load stops
once it exists), TRENT_PROGRESS_FILE (the number of calls done, rewritten as they happen),
TRENT_WORKERS (threads, default 4), AWS credentials and region. Prints one JSON line:
calls, retries (extra attempts boto3 made), calls_retried, errors (each call that failed
after boto3's retries: the client-visible errors), ready_waits (calls that found no ready
node and waited for one), max_call_ms.
"""

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

PROBE_INTERVAL = 0.1
ENDPOINTS = os.environ["TRENT_ENDPOINTS"].split(",")
STOP_FILE = os.environ["TRENT_STOP_FILE"]
PROGRESS_FILE = os.environ["TRENT_PROGRESS_FILE"]
WORKERS = int(os.environ.get("TRENT_WORKERS", "4"))


def stopped():
    return os.path.exists(STOP_FILE)


def probe(endpoint):
    try:
        with urllib.request.urlopen(endpoint + "/readyz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Balancer:
    def __init__(self):
        self.ready = {e: False for e in ENDPOINTS}
        self.lock = threading.Lock()
        self.next = 0
        self.changed = threading.Condition(self.lock)

    def probe_forever(self):
        while not stopped():
            for endpoint in ENDPOINTS:
                ok = probe(endpoint)
                with self.lock:
                    self.ready[endpoint] = ok
                    self.changed.notify_all()
            time.sleep(PROBE_INTERVAL)

    def pick(self):
        """A ready node, round robin; waits (counted) while none is ready."""
        waited = False
        with self.lock:
            while True:
                ready = [e for e in ENDPOINTS if self.ready[e]]
                if ready:
                    self.next += 1
                    return ready[self.next % len(ready)], waited
                waited = True
                self.changed.wait(timeout=1)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.retries = 0
        self.calls_retried = 0
        self.errors = []
        self.ready_waits = 0
        self.max_call_ms = 0.0

    def record(self, retries, started, waited, error=None):
        elapsed = (time.monotonic() - started) * 1000
        with self.lock:
            self.calls += 1
            self.retries += retries
            self.calls_retried += 1 if retries else 0
            self.ready_waits += 1 if waited else 0
            self.max_call_ms = max(self.max_call_ms, elapsed)
            if error is not None:
                self.errors.append(error)
            # Under the lock: two threads writing one temporary file raced its rename.
            if self.calls % 10 == 0:
                tmp = PROGRESS_FILE + ".tmp"
                with open(tmp, "w") as f:
                    f.write(str(self.calls))
                os.replace(tmp, PROGRESS_FILE)


def retries_of(error):
    return error.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) if hasattr(error, "response") else 0


def main():
    config = Config(retries={"mode": "standard"}, connect_timeout=2, read_timeout=20)
    clients = {e: boto3.client("kms", endpoint_url=e, config=config) for e in ENDPOINTS}
    balancer = Balancer()
    threading.Thread(target=balancer.probe_forever, daemon=True).start()
    endpoint, _ = balancer.pick()
    key = clients[endpoint].create_key(Description="rolling restart")["KeyMetadata"]["KeyId"]
    stats = Stats()

    def work(worker):
        i = 0
        plaintext = base64.b64encode(b"worker %d" % worker)
        while not stopped():
            i += 1
            endpoint, waited = balancer.pick()
            client = clients[endpoint]
            started = time.monotonic()
            try:
                if i % 10 == 0:
                    # A write: it goes through Raft (and is applied once across retries).
                    answer = client.create_key(Description="rolling restart %d/%d" % (worker, i))
                elif i % 2 == 0:
                    answer = client.encrypt(KeyId=key, Plaintext=plaintext)
                    blob = answer["CiphertextBlob"]
                    stats.record(answer["ResponseMetadata"]["RetryAttempts"], started, waited)
                    endpoint, waited = balancer.pick()
                    client = clients[endpoint]
                    started = time.monotonic()
                    answer = client.decrypt(CiphertextBlob=blob)
                    assert answer["Plaintext"] == plaintext, "decrypt answered another plaintext"
                else:
                    answer = client.describe_key(KeyId=key)
                stats.record(answer["ResponseMetadata"]["RetryAttempts"], started, waited)
            except Exception as error:  # every client-visible failure is counted, none hidden
                stats.record(retries_of(error), started, waited, f"{endpoint}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(
        json.dumps(
            {
                "calls": stats.calls,
                "retries": stats.retries,
                "calls_retried": stats.calls_retried,
                "errors": stats.errors,
                "ready_waits": stats.ready_waits,
                "max_call_ms": round(stats.max_call_ms),
            }
        )
    )


if __name__ == "__main__":
    main()
