"""The local parts a benchmark runs against, and the services loaded in this process."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "19000"))
HOST = "127.0.0.1"

# The services run in this process as in the local stage, with credentials of the bench's own.
SERVICE_ENV = {
    "STAGE": "local",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "bench-token",
    "INBOUND_WEBHOOK_URL": "https://bench.example/twilio/inbound",
    "STATUS_WEBHOOK_URL": "https://bench.example/twilio/status",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    # Status callbacks from the sandbox would land on nobody and only load the machine.
    "SANDBOX_CALLBACK_DELAY": "3600",
}


@dataclass(frozen=True)
class DynamoDB:
    """DynamoDB Local: `direct` is the jar itself (timings), `counted` its counting proxy."""

    direct: str
    counted: str

    def requests(self, reset: bool = False) -> dict[str, int]:
        request = Request(self.counted + "/_devstack/requests", method="DELETE" if reset else "GET")
        # counted is http://127.0.0.1:<port>, built by the bench itself, never from input.
        with urlopen(request, timeout=10) as response:  # nosec B310
            counts: dict[str, int] = json.loads(response.read())
        return counts

    def client(self) -> Any:
        """A plain botocore client on DynamoDB Local, configured as PynamoDB configures the
        services' own (no client-side parameter validation, the same timeouts and retries)."""
        import botocore.session
        from botocore.config import Config

        from carrier_core.storage import CONNECT_TIMEOUT_SECONDS, MAX_RETRY_ATTEMPTS, READ_TIMEOUT_SECONDS

        config = Config(
            parameter_validation=False,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": 1 + MAX_RETRY_ATTEMPTS, "mode": "standard"},
        )
        return botocore.session.get_session().create_client("dynamodb", endpoint_url=self.direct, region_name="us-east-1", config=config)


def child(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, **SERVICE_ENV, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for_url(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            # The bench's own http://127.0.0.1 addresses only.
            with urlopen(url, timeout=2) as response:  # nosec B310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:g}s")


@contextmanager
def running(*procs: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            os.killpg(proc.pid, 15)
        for proc in procs:
            proc.wait(timeout=15)


@contextmanager
def dynamodb(base: int = PORT_BASE) -> Iterator[DynamoDB]:
    """DynamoDB Local in memory with the local tables, on `base` (proxy) and `base + 9` (jar)."""
    from devstack.tables import create_tables

    os.environ.update({k: v for k, v in SERVICE_ENV.items() if k.startswith("AWS_")})
    proc = child([sys.executable, "-m", "devstack.dynamodb", "--port", str(base), "--upstream-port", str(base + 9)])
    with running(proc):
        ddb = DynamoDB(direct=f"http://{HOST}:{base + 9}", counted=f"http://{HOST}:{base}")
        wait_for_url(ddb.counted + "/_devstack/health")
        create_tables(ddb.counted)
        yield ddb


@contextmanager
def sandbox(port: int) -> Iterator[str]:
    """The Twilio sandbox on `port`, its status callbacks held back for the whole run."""
    proc = child([sys.executable, "-m", "devstack.sandbox", "--port", str(port)])
    with running(proc):
        url = f"http://{HOST}:{port}"
        wait_for_url(url + "/health")
        yield url


def sandbox_auth() -> str:
    token = f"{SERVICE_ENV['TWILIO_ACCOUNT_SID']}:{SERVICE_ENV['TWILIO_AUTH_TOKEN']}"
    return "Basic " + base64.b64encode(token.encode()).decode()


def load_service(service: str, endpoint: str, **extra: str) -> Any:
    """Import services/<service>/app.py in this process, bound to `endpoint`."""
    os.environ.update(SERVICE_ENV, DYNAMODB_ENDPOINT=endpoint, **extra)
    os.environ.pop("AWS_CHALICE_CLI_MODE", None)
    from tests.support.apps import load_app

    return load_app(service)


def http_event(
    method: str, path: str, body: str, headers: dict[str, str], resource: str | None = None, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """The API Gateway proxy event Chalice's handler receives for one request (`resource`: the
    route's template, `params` its path parameters, when it has any)."""
    return {
        "requestContext": {
            "httpMethod": method,
            "resourcePath": resource or path,
            "path": path,
            "identity": {"sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
        },
        "headers": headers,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": {},
        "body": body,
        "isBase64Encoded": False,
    }


def webhook_event(
    url: str, pairs: list[tuple[str, str]], token: str, resource: str | None = None, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Twilio webhook POST to `url`, signed with `token` by Twilio's own RequestValidator."""
    from twilio.request_validator import RequestValidator

    from tests.support.forms import MultiForm

    signature = RequestValidator(token).compute_signature(url, MultiForm(pairs))
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature}
    return http_event("POST", urlsplit(url).path, urlencode(pairs), headers, resource, params)
