"""`make bench`: the speed and size targets of DESIGN.md, measured in one run.

Every figure is a median over repeated samples taken in the same run, reported beside the
reference it is compared with, so a noisy shared machine slows both sides alike.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "19000"))


@dataclass
class Result:
    name: str
    value: float
    reference: float | None
    unit: str
    target: str
    ok: bool

    def line(self) -> str:
        ref = f"{self.reference:.4g}" if self.reference is not None else "-"
        verdict = "ok" if self.ok else "MISSED"
        return f"{self.name:<44} {self.value:>10.4g} {ref:>10} {self.unit:<8} {self.target:<28} {verdict}"


def median_of(samples: list[float]) -> float:
    return statistics.median(samples)


def time_process(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


SERVICE_ENV = {
    "STAGE": "dev",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "bench-token",
    "INBOUND_WEBHOOK_URL": "https://bench.example/twilio/inbound",
    "STATUS_WEBHOOK_URL": "https://bench.example/twilio/status",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

COLD_BASELINES = {
    "inbound": "import pynamodb.models",
    "status": "import pynamodb.models",
    "outbound": "import pynamodb.models, twilio.rest",
}


def cold_init(service: str, runs: int = 15) -> Result:
    """Whole-process time to import the app (settings read, models bound) vs the baseline import."""
    cwd = ROOT / "services" / service
    # carrier_core as a plain directory on the path, as in the Lambda zip, rather than
    # through the editable install's import hook, which costs a cold start Lambda never pays.
    env = {**os.environ, **SERVICE_ENV, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT / 'libs' / 'carrier_core'}"}
    app_argv = [PYTHON, "-c", "import app"]
    base_argv = [PYTHON, "-c", COLD_BASELINES[service]]
    time_process(app_argv, env, cwd)  # warm the bytecode caches of both sides once
    time_process(base_argv, env, cwd)
    app_times, base_times = [], []
    for _ in range(runs):  # interleaved, so load on the machine hits both sides alike
        app_times.append(time_process(app_argv, env, cwd))
        base_times.append(time_process(base_argv, env, cwd))
    app_ms, base_ms = median_of(app_times) * 1000, median_of(base_times) * 1000
    ratio = app_ms / base_ms
    return Result(f"cold init {service} (ms, vs `{COLD_BASELINES[service]}`)", app_ms, base_ms, "ms", f"ratio {ratio:.2f} <= 1.25", ratio <= 1.25)


@contextmanager
def emulator() -> Iterator[str]:
    """moto server on BENCH_PORT_BASE with the local tables, stopped afterwards."""
    from devstack.stack import Layout, Stack, wait_healthy
    from devstack.tables import create_tables

    layout = Layout(PORT_BASE)
    stack = Stack(layout, output=open(os.devnull, "wb"))
    part = layout.emulator
    stack.spawn(part)
    try:
        wait_healthy(part, time.monotonic() + 60)
        os.environ.update({k: v for k, v in SERVICE_ENV.items() if k.startswith("AWS_")})
        create_tables(part.url)
        yield part.url
    finally:
        stack.stop()


def emulator_requests(endpoint: str, reset: bool = False) -> dict[str, int]:
    request = Request(endpoint + "/_devstack/requests", method="DELETE" if reset else "GET")
    with urlopen(request, timeout=10) as response:
        counts: dict[str, int] = json.loads(response.read())
    return counts


def inbound_event(url: str, pairs: list[tuple[str, str]], token: str) -> dict[str, Any]:
    from twilio.request_validator import RequestValidator

    from tests.support.forms import MultiForm

    signature = RequestValidator(token).compute_signature(url, MultiForm(pairs))
    return {
        "requestContext": {"httpMethod": "POST", "resourcePath": "/twilio/inbound", "path": "/twilio/inbound",
                           "identity": {"sourceIp": "127.0.0.1"}, "requestId": str(uuid.uuid4())},
        "headers": {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": {},
        "body": urlencode(pairs),
        "isBase64Encoded": False,
    }


def load_inbound(endpoint: str) -> Any:
    os.environ.update(SERVICE_ENV, DYNAMODB_ENDPOINT=endpoint, STAGE="local")
    os.environ.pop("AWS_CHALICE_CLI_MODE", None)
    from tests.support.apps import load_app

    return load_app("inbound")


def p50(run: Callable[[int], None], count: int) -> float:
    samples = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - start)
    return median_of(samples) * 1000


def warm_inbound(endpoint: str, count: int = 300) -> list[Result]:
    """Warm p50 of the inbound handler vs one raw conditional PutItem, and requests per event."""
    import botocore.session

    from tests.support.forms import sms

    module = load_inbound(endpoint)
    settings = module.runtime.settings
    url = settings.inbound_webhook_url
    token = settings.auth_token
    events = [inbound_event(url, sms(), token) for _ in range(count)]
    handler = module.app
    handler(inbound_event(url, sms(), token), None)  # warm: connection pool, imports
    client = botocore.session.get_session().create_client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")

    def raw_put(i: int) -> None:
        client.put_item(TableName=settings.messages_table, Item={"sid": {"S": "SM" + uuid.uuid4().hex}, "status": {"S": "x"}},
                        ConditionExpression="attribute_not_exists(sid)")

    def handle(i: int) -> None:
        response = handler(events[i], None)
        assert response["statusCode"] == 200, response

    raw_put(0)
    # Interleave in blocks so drift on a shared machine affects both series.
    handler_ms, raw_ms = [], []
    for block in range(0, count, 50):
        handler_ms.append(p50(lambda i: handle(block + i), min(50, count - block)))
        raw_ms.append(p50(raw_put, 50))
    handler_p50, raw_p50 = median_of(handler_ms), median_of(raw_ms)
    ratio = handler_p50 / raw_p50
    results = [Result("warm inbound handler p50 (ms, vs raw PutItem)", handler_p50, raw_p50, "ms", f"ratio {ratio:.2f} <= 1.3", ratio <= 1.3)]

    stop = sms(body="STOP")
    counts = []
    for form in (sms(), stop):
        for _ in range(2):  # first delivery, then a duplicate
            emulator_requests(endpoint, reset=True)
            assert handler(inbound_event(url, form, token), None)["statusCode"] == 200
            counts.append(sum(emulator_requests(endpoint).values()))
    results.append(Result("DynamoDB requests per inbound webhook (max)", max(counts), None, "requests", "new, duplicate, STOP: 1", max(counts) == 1))
    return results


def main() -> int:
    sys.path.insert(0, str(ROOT))
    results = [cold_init(service) for service in ("inbound", "status", "outbound")]
    with emulator() as endpoint, open(os.devnull, "w") as quiet, redirect_stdout(quiet):
        results += warm_inbound(endpoint)
    print(f"{'measure':<44} {'median':>10} {'reference':>10} {'unit':<8} {'target':<28} verdict")
    for result in results:
        print(result.line())
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
