"""A tenant's inbound webhook: warm against its raw write, and a container's first request counted.

The tenant is registered as `omni-twilio tenants add` leaves one: its item in the tenants
table on DynamoDB Local, its token an SSM SecureString on a moto server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.local import HOST, DynamoDB, child, load_service, running, wait_for_url, webhook_event
from bench.measure import Result, at_most, captured_dynamodb_calls, compare_p50, new_sid, replayer
from bench.warm import HANDLER_LIMIT, WARM_UP, requests_per_event

TENANT = "bench-tenant"
ACCOUNT = "AC" + "b" * 32
TOKEN = "bench-tenant-token"
URL = f"https://bench.example/twilio/{TENANT}/inbound"
ROUTE = ("/twilio/{tenant}/inbound", {"tenant": TENANT})


@contextmanager
def ssm(port: int) -> Iterator[str]:
    """A moto server for SSM on `port`."""
    proc = child([sys.executable, "-m", "devstack.aws", "--port", str(port)])
    with running(proc):
        url = f"http://{HOST}:{port}"
        wait_for_url(url + "/moto-api/")
        yield url


def register(module: Any, ssm_url: str) -> None:
    import boto3

    from carrier_core.models import TenantModel

    settings = module.runtime.settings
    TenantModel(TENANT, account_sid=ACCOUNT, senders={"+15005550006"}, created_at="2026-01-01T00:00:00.000Z", updated_at="x").save()
    client = boto3.client("ssm", endpoint_url=ssm_url, region_name="us-east-1")
    client.put_parameter(Name=f"{settings.tenant_parameter_prefix}{TENANT}/auth-token", Value=TOKEN, Type="SecureString", Overwrite=True)


def tenant_form() -> list[tuple[str, str]]:
    from tests.support.forms import replace, sms

    return replace(sms(), AccountSid=ACCOUNT)


def warm_tenant_inbound(ddb: DynamoDB, ssm_url: str, count: int) -> list[Result]:
    module = load_service("inbound", ddb.direct, AWS_ENDPOINT_URL_SSM=ssm_url)
    register(module, ssm_url)
    handler = module.app

    def deliver(form: list[tuple[str, str]]) -> None:
        response = handler(webhook_event(URL, form, TOKEN, *ROUTE), None)
        assert response["statusCode"] == 200, response

    for _ in range(WARM_UP // 2):  # the tenant is cached from the first of these
        deliver(tenant_form())
    sample = tenant_form()
    with captured_dynamodb_calls() as calls:
        deliver(sample)
    assert [op for op, _ in calls] == ["PutItem"], calls
    replay = replayer(ddb.client(), calls, dict(sample)["MessageSid"], [new_sid() for _ in range(count + 1)])
    events = [webhook_event(URL, tenant_form(), TOKEN, *ROUTE) for _ in range(count)]

    def handle(i: int) -> None:
        assert handler(events[i], None)["statusCode"] == 200

    handler_ms, raw_ms = compare_p50(handle, replay, count)

    # A fresh container (a fresh import) whose first request is this tenant's.
    fresh = load_service("inbound", ddb.counted, AWS_ENDPOINT_URL_SSM=ssm_url)
    first = requests_per_event(ddb, lambda: deliver_with(fresh, tenant_form()))
    reads = fresh.runtime.tenants.reads
    warm = requests_per_event(ddb, lambda: deliver_with(fresh, tenant_form()))
    return [
        at_most("warm tenant inbound webhook p50 vs its raw PutItem", handler_ms, raw_ms, "ms", HANDLER_LIMIT),
        Result(
            "requests of a container's first tenant webhook: DynamoDB, SSM",
            first + reads,
            None,
            "requests",
            "2 + 1 (then 1)",
            (first, reads, warm, fresh.runtime.tenants.reads) == (2, 1, 1, 1),
        ),
    ]


def deliver_with(module: Any, form: list[tuple[str, str]]) -> None:
    response = module.app(webhook_event(URL, form, TOKEN, *ROUTE), None)
    assert response["statusCode"] == 200, response
