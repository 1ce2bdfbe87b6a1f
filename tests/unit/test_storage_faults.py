"""Storage failures: each kind answered with the right status, and a frozen store within budget."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from chalice.test import Client
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError

from carrier_core import storage
from carrier_core.models import MessageModel, OptOutModel
from tests.support.apps import load_app, project_dir
from tests.support.callbacks import status_callback
from tests.support.faults import fail_dynamodb
from tests.support.forms import sms
from tests.support.inbound_app import INBOUND_URL, TOKEN, UNIT_ENV, InboundHarness, inbound_harness
from tests.support.webhooks import post_webhook
from tests.unit.test_status_app import status_harness


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutItem")


@dataclass(frozen=True)
class Fault:
    label: str
    cause: Exception
    status: int
    code: str


FAULTS = [
    # PynamoDB 6.1's cause_response_code raises AttributeError on this one (response=None).
    Fault("read timeout", ReadTimeoutError(endpoint_url="http://db"), 503, "storage_unavailable"),
    Fault("connect timeout", ConnectTimeoutError(endpoint_url="http://db"), 503, "storage_unavailable"),
    Fault("connection refused", EndpointConnectionError(endpoint_url="http://db"), 503, "storage_unavailable"),
    Fault("throttled", client_error("ProvisionedThroughputExceededException"), 503, "storage_unavailable"),
    Fault("throttling", client_error("ThrottlingException"), 503, "storage_unavailable"),
    Fault("dynamodb 500", client_error("InternalServerError"), 503, "storage_unavailable"),
    Fault(
        "key too large",
        client_error("ValidationException", "Size of hashkey has exceeded the maximum size limit of 2048 bytes"),
        400,
        "value_not_storable",
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.label)
def test_classification(fault: Fault) -> None:
    for wrapper in (PutError, UpdateError, TransactWriteError):
        error = storage.storage_error(wrapper("failed", cause=fault.cause))
        assert (error.http_status, error.code) == (fault.status, fault.code)
        assert error.retryable is (fault.status == 503)
    assert not storage.is_condition_failure(PutError("failed", cause=fault.cause))


def test_condition_failure_is_told_apart_from_faults() -> None:
    assert storage.is_condition_failure(PutError("failed", cause=client_error("ConditionalCheckFailedException")))
    assert storage.response_code(PutError("failed", cause=ReadTimeoutError(endpoint_url="http://db"))) is None


# Through the apps, one row per answer (the table above covers every kind): the timeout that
# used to be a 500, an outage, and a value DynamoDB can never store.
APP_FAULTS = [f for f in FAULTS if f.label in ("read timeout", "throttled", "key too large")]


@pytest.fixture
def harness() -> Iterator[InboundHarness]:
    with inbound_harness() as h:
        yield h


@pytest.mark.parametrize("fault", APP_FAULTS, ids=lambda f: f.label)
def test_inbound_answers_each_fault_with_its_status(fault: Fault, harness: InboundHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_dynamodb(monkeypatch, fault.cause, "PutItem")
    response = harness.post(sms())
    error = json.loads(response.body)["error"]
    assert (response.status_code, error["code"], error["retryable"]) == (fault.status, fault.code, fault.status == 503)


@pytest.mark.parametrize("fault", APP_FAULTS, ids=lambda f: f.label)
def test_status_answers_each_fault_with_its_status(fault: Fault, monkeypatch: pytest.MonkeyPatch) -> None:
    with status_harness() as harness:
        fail_dynamodb(monkeypatch, fault.cause, "UpdateItem")
        response = harness.post(status_callback("delivered"))
    error = json.loads(response.body)["error"]
    assert (response.status_code, error["code"]) == (fault.status, fault.code)


@pytest.mark.parametrize(("field", "size"), [("From", 3000), ("To", 1500)])
def test_stop_with_a_number_too_large_for_a_key_is_400_and_nothing_written(harness: InboundHarness, field: str, size: int) -> None:
    """DynamoDB refuses a hash key over 2048 bytes (From) or a range key over 1024 (To, the
    sender) on every try: Twilio must not retry it."""
    huge = "+1" + "5" * size
    response = harness.post(sms(body="STOP", **{field: huge}))
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["code"] == "value_not_storable"
    assert MessageModel.count() == 0 and OptOutModel.count() == 0


class FrozenServer:
    """A TCP server that accepts every connection and never answers: a hung DynamoDB."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.stopped = True
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def frozen() -> Iterator[FrozenServer]:
    server = FrozenServer()
    yield server
    server.close()


def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_budget_fits_inside_twilios_timeout() -> None:
    assert storage.worst_case_seconds() <= storage.WEBHOOK_BUDGET_SECONDS < storage.TWILIO_TIMEOUT_SECONDS - 4


@pytest.mark.parametrize("service", ["inbound", "status"])
def test_frozen_store_answers_503_inside_the_budget(service: str, frozen: FrozenServer, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**UNIT_ENV, "STAGE": "local", "DYNAMODB_ENDPOINT": frozen.url, "STATUS_WEBHOOK_URL": "https://carrier.example.com/twilio/status"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = load_app(service)
    url = INBOUND_URL if service == "inbound" else env["STATUS_WEBHOOK_URL"]
    form = sms() if service == "inbound" else status_callback("delivered")
    with Client(app.app, stage_name="local", project_dir=project_dir(service)) as client:
        response, seconds = timed(lambda: post_webhook(client, service, url, form, TOKEN))
    assert response.status_code == 503, response.body
    assert json.loads(response.body)["error"]["retryable"] is True
    assert seconds < storage.WEBHOOK_BUDGET_SECONDS
    assert len(frozen.held) >= 1  # it did reach the frozen store
