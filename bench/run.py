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
from urllib.parse import urlencode, urlsplit
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
    # The endpoint is the local emulator's http URL that bench itself started.
    with urlopen(request, timeout=10) as response:  # nosec B310
        counts: dict[str, int] = json.loads(response.read())
    return counts


def webhook_event(url: str, pairs: list[tuple[str, str]], token: str) -> dict[str, Any]:
    from twilio.request_validator import RequestValidator

    from tests.support.forms import MultiForm

    signature = RequestValidator(token).compute_signature(url, MultiForm(pairs))
    return {
        "requestContext": {"httpMethod": "POST", "resourcePath": urlsplit(url).path, "path": urlsplit(url).path,
                           "identity": {"sourceIp": "127.0.0.1"}, "requestId": str(uuid.uuid4())},
        "headers": {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": {},
        "body": urlencode(pairs),
        "isBase64Encoded": False,
    }


def load_service(service: str, endpoint: str) -> Any:
    os.environ.update(SERVICE_ENV, DYNAMODB_ENDPOINT=endpoint, STAGE="local")
    os.environ.pop("AWS_CHALICE_CLI_MODE", None)
    from tests.support.apps import load_app

    return load_app(service)


def p50(run: Callable[[int], None], count: int) -> float:
    samples = []
    for i in range(count):
        start = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - start)
    return median_of(samples) * 1000


def raw_put_of(client: Any, table: str, item: dict[str, Any] | None = None) -> Callable[[int], None]:
    """One raw conditional PutItem of a new item (`item`, low-level, with a fresh sid):
    the reference for a warm handler. The emulator's cost grows with the item, so the
    handler is compared with a put of the item it writes, when one is given."""
    template = item or {"status": {"S": "x"}}

    def raw_put(i: int) -> None:
        client.put_item(TableName=table, Item={**template, "sid": {"S": "SM" + uuid.uuid4().hex}},
                        ConditionExpression="attribute_not_exists(sid)")

    return raw_put


def compare_p50(handle: Callable[[int], None], reference: Callable[[int], None], count: int) -> tuple[float, float]:
    """p50 of `handle` and of `reference`, interleaved in blocks of 50 so drift hits both."""
    reference(0)
    handler_ms, reference_ms = [], []
    for block in range(0, count, 50):
        handler_ms.append(p50(lambda i: handle(block + i), min(50, count - block)))
        reference_ms.append(p50(reference, 50))
    return median_of(handler_ms), median_of(reference_ms)


def warm_inbound(endpoint: str, count: int = 300) -> list[Result]:
    """Warm p50 of the inbound handler vs one raw conditional PutItem, and requests per event."""
    import botocore.session

    from tests.support.forms import sms

    module = load_service("inbound", endpoint)
    settings = module.runtime.settings
    url = settings.inbound_webhook_url
    token = settings.auth_token
    events = [webhook_event(url, sms(), token) for _ in range(count)]
    handler = module.app
    handler(webhook_event(url, sms(), token), None)  # warm: connection pool, imports
    client = botocore.session.get_session().create_client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")

    from chalicelib.message import InboundMessage  # the module load_service imported
    from chalicelib.store import build_item

    stored = build_item(InboundMessage.from_form(sms()), settings).serialize()
    raw_put = raw_put_of(client, settings.messages_table, stored)

    def handle(i: int) -> None:
        response = handler(events[i], None)
        assert response["statusCode"] == 200, response

    handler_p50, raw_p50 = compare_p50(handle, raw_put, count)
    ratio = handler_p50 / raw_p50
    results = [Result("warm inbound handler p50 (ms, vs raw PutItem of its item)", handler_p50, raw_p50, "ms", f"ratio {ratio:.2f} <= 1.3", ratio <= 1.3)]

    stop = sms(body="STOP")
    counts = []
    for form in (sms(), stop):
        for _ in range(2):  # first delivery, then a duplicate
            emulator_requests(endpoint, reset=True)
            assert handler(webhook_event(url, form, token), None)["statusCode"] == 200
            counts.append(sum(emulator_requests(endpoint).values()))
    results.append(Result("DynamoDB requests per inbound webhook (max)", max(counts), None, "requests", "new, duplicate, STOP: 1", max(counts) == 1))
    return results


def warm_status(endpoint: str, count: int = 300) -> list[Result]:
    """Warm p50 of an in-order status callback (queued on a new SID) vs a raw PutItem."""
    import botocore.session

    from tests.support.callbacks import status_callback

    module = load_service("status", endpoint)
    settings = module.runtime.settings
    url, token = settings.status_webhook_url, settings.auth_token
    events = [webhook_event(url, status_callback("queued"), token) for _ in range(count)]
    handler = module.app
    handler(webhook_event(url, status_callback("queued"), token), None)
    client = botocore.session.get_session().create_client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")

    def handle(i: int) -> None:
        assert handler(events[i], None)["statusCode"] == 204

    handler_p50, raw_p50 = compare_p50(handle, raw_put_of(client, settings.messages_table), count)
    ratio = handler_p50 / raw_p50
    sid = "SM" + uuid.uuid4().hex
    counts = []
    for status in ("queued", "sent", "delivered"):
        emulator_requests(endpoint, reset=True)
        assert handler(webhook_event(url, status_callback(status, sid=sid), token), None)["statusCode"] == 204
        counts.append(sum(emulator_requests(endpoint).values()))
    return [
        Result("warm status callback p50 (ms, vs raw PutItem)", handler_p50, raw_p50, "ms", f"ratio {ratio:.2f} <= 1.3", ratio <= 1.3),
        Result("DynamoDB requests per in-order callback (max)", max(counts), None, "requests", "queued, sent, delivered: 1", max(counts) == 1),
    ]


def zip_sizes() -> list[Result]:
    """Build each deployment zip as `make package-<svc>` does and compare with its limit."""
    limits = {"inbound": 3_000_000, "status": 3_000_000, "outbound": 15_000_000}
    results = []
    for service, limit in limits.items():
        subprocess.run([PYTHON, str(ROOT / "infra" / "package.py"), service], check=True, stdout=subprocess.DEVNULL)
        size = (ROOT / "build" / f"{service}.zip").stat().st_size / 1e6
        results.append(Result(f"deployment zip {service} (MB)", size, limit / 1e6, "MB", f"<= {limit / 1e6:.0f} MB", size * 1e6 <= limit))
    return results


def outbound_throughput(sends: int = 240, threads: int = 8) -> list[Result]:
    """Sends/s through POST /messages (validation, opt-out read, Twilio call, write) vs raw
    Messages.json POSTs/s to the same sandbox, both from `threads` threads on the full stack."""
    import base64
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
    from devstack.stack import Layout, Stack

    layout = Layout(PORT_BASE + 10)
    stack = Stack(layout, output=open(os.devnull, "wb"))
    local = threading.local()
    # The stack's children, the sandbox among them, read the credentials from this environment.
    account = os.environ.get("TWILIO_ACCOUNT_SID", LOCAL_ACCOUNT_SID)
    token = os.environ.get("TWILIO_AUTH_TOKEN", LOCAL_AUTH_TOKEN)
    auth = "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()
    raw_url = layout.url("sandbox") + f"/2010-04-01/Accounts/{account}/Messages.json"
    send_url = layout.url("outbound") + "/messages"

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session  # type: ignore[no-any-return]

    def send(i: int) -> int:
        body = json.dumps({"to": f"+1500555{1000 + i:04d}", "body": f"bench {i}"})
        return session().post(send_url, data=body, headers={"Content-Type": "application/json"}, timeout=30).status_code

    def raw(i: int) -> int:
        form = {"To": f"+1500555{1000 + i:04d}", "From": "+15005550006", "Body": f"raw {i}"}
        return session().post(raw_url, data=form, headers={"Authorization": auth}, timeout=30).status_code

    def rate(run: Callable[[int], int], expected: int) -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            statuses = list(pool.map(run, range(sends)))
        elapsed = time.perf_counter() - start
        assert statuses == [expected] * sends, sorted(set(statuses))
        return sends / elapsed

    try:
        stack.start()
        rate(send, 202), rate(raw, 201)  # warm both paths
        ours, reference = [], []
        for _ in range(3):
            ours.append(rate(send, 202))
            reference.append(rate(raw, 201))
    finally:
        stack.stop()
    ours_rate, raw_rate = median_of(ours), median_of(reference)
    ratio = ours_rate / raw_rate
    return [Result("outbound sends/s (vs raw POSTs/s to sandbox)", ours_rate, raw_rate, "per s", f"ratio {ratio:.2f} >= 0.8", ratio >= 0.8)]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    print(f"{'measure':<44} {'median':>10} {'reference':>10} {'unit':<8} {'target':<28} verdict", flush=True)
    results: list[Result] = []

    def report(batch: list[Result]) -> None:
        for result in batch:
            print(result.line(), flush=True)
        results.extend(batch)

    report([cold_init(service) for service in ("inbound", "status", "outbound")])
    with emulator() as endpoint:
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet):
            warm = warm_inbound(endpoint) + warm_status(endpoint)
        report(warm)
    report(zip_sizes())
    report(outbound_throughput())
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
