"""Outbound end to end through the Twilio sandbox: sends, Twilio's refusals, keys, retries.

These need the sandbox's Messages API and control API (/_sandbox/faults, /_sandbox/requests).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from carrier_core.webhook import with_overrides
from tests.support.forms import new_sid
from tests.support.outbound_stack import (
    an_hour_from_now,
    clear_sandbox,
    post_message,
    run_retry_worker,
    sandbox_fault,
    sandbox_requests,
)
from tests.support.stack import RunningStack, wait_for

CUSTOMER = "+15005550010"
SENDER = "+15005550006"


@pytest.fixture(autouse=True)
def clean_sandbox(stack: RunningStack) -> Iterator[None]:
    clear_sandbox(stack)
    yield
    clear_sandbox(stack)


def status_of(stack: RunningStack, sid: str) -> str | None:
    response = stack.get_message(sid)
    return str(response.json()["status"]) if response.status_code == 200 else None


def test_send_reaches_delivered_through_signed_callbacks(stack: RunningStack) -> None:
    response = post_message(stack, {"to": CUSTOMER, "body": "Your table is ready ✅"})
    assert response.status_code == 202
    message = response.json()
    assert message["sid"].startswith("SM") and message["status"] in ("queued", "accepted")
    assert (message["from"], message["to"], message["direction"]) == (SENDER, CUSTOMER, "outbound")
    assert (message["encoding"], message["num_segments"]) == ("UCS-2", 1)
    (sent,) = sandbox_requests(stack)
    assert sent["StatusCallback"] == with_overrides(stack.webhook_url("status"))
    assert wait_for(lambda: status_of(stack, message["sid"]) == "delivered", timeout=20)
    final = stack.get_message(message["sid"]).json()
    assert final["body"] == "Your table is ready ✅" and final["from"] == SENDER
    assert {"sent", "delivered"} <= {h["status"] for h in final["history"]}


@pytest.mark.parametrize(
    ("to", "status", "code", "twilio_code"),
    [
        ("+15005550001", 400, "invalid_phone_number", 21211),
        ("+15005550004", 403, "recipient_opted_out", 21610),
        ("+15005550009", 400, "not_mobile_number", 21614),
    ],
)
def test_twilio_refusal_is_4xx_with_its_code_and_not_retried(
    stack: RunningStack, to: str, status: int, code: str, twilio_code: int
) -> None:
    response = post_message(stack, {"to": to, "body": "hello"})
    assert response.status_code == status
    error = response.json()["error"]
    assert (error["code"], error["twilio_code"], error["retryable"]) == (code, twilio_code, False)
    assert len(sandbox_requests(stack)) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"to": CUSTOMER, "body": "a" * 1601},
        {"to": CUSTOMER, "media_urls": [f"https://example.com/{i}.jpg" for i in range(11)]},
        {"to": "+1555", "body": "hi"},
    ],
    ids=["1601 chars", "11 media", "+1555"],
)
def test_invalid_send_never_reaches_the_sandbox(stack: RunningStack, payload: dict[str, Any]) -> None:
    assert post_message(stack, payload).status_code == 400
    assert sandbox_requests(stack) == []


def test_same_key_twice_is_one_sid_and_one_sandbox_request(stack: RunningStack) -> None:
    key = new_sid("K")
    payload = {"to": CUSTOMER, "body": "sent once"}
    first, second = post_message(stack, payload, key=key), post_message(stack, payload, key=key)
    assert first.status_code == second.status_code == 202
    assert first.json()["sid"] == second.json()["sid"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len(sandbox_requests(stack)) == 1
    conflict = post_message(stack, {**payload, "body": "something else"}, key=key)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert len(sandbox_requests(stack)) == 1


def test_same_key_concurrently_is_one_sid_and_one_sandbox_request(stack: RunningStack) -> None:
    """16 requests with one key race for it against DynamoDB Local's own atomicity: the
    sandbox holds the one create for a second, so every request starts while it is open."""
    key = new_sid("K")
    payload = {"to": CUSTOMER, "body": "sent once, asked sixteen times"}
    sandbox_fault(stack, None, count=1, delay=1)
    barrier = threading.Barrier(16)
    started: list[float] = []
    answered: list[float] = []

    def post(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()  # released together, so all sixteen race for the key
            started.append(time.monotonic())
            response = post_message(stack, payload, key=key, session=session)
            answered.append(time.monotonic())
            return response

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(post, range(16)))
    assert [r.status_code for r in responses] == [202] * 16
    assert len({r.json()["sid"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 15
    assert len(sandbox_requests(stack)) == 1
    assert max(started) < min(answered)  # every request began before any was answered


def test_dynamodb_requests_per_send_two_with_or_without_a_key(stack: RunningStack) -> None:
    # A callback URL nobody serves, so the status service's writes do not mix into the count.
    quiet = {"to": CUSTOMER, "body": "counted", "status_callback": "http://127.0.0.1:9/nowhere"}
    stack.start_count()
    assert post_message(stack, quiet).status_code == 202
    assert stack.dynamodb_requests(reset=True) == {"DynamoDB_20120810.GetItem": 1, "DynamoDB_20120810.UpdateItem": 1}
    assert post_message(stack, quiet, key=new_sid("K")).status_code == 202
    # The claim rides in the opt-out check, its completion in the message write
    # (see chalicelib/idempotency.py).
    assert stack.dynamodb_requests(reset=True) == {"DynamoDB_20120810.TransactWriteItems": 2}


def test_429_twice_then_sent_after_waiting_retry_after(stack: RunningStack) -> None:
    sandbox_fault(stack, 429, count=2, retry_after=1)
    started = time.monotonic()
    response = post_message(stack, {"to": CUSTOMER, "body": "patience"})
    elapsed = time.monotonic() - started
    assert response.status_code == 202
    assert response.json()["sid"].startswith("SM")
    assert len(sandbox_requests(stack)) == 3
    assert elapsed >= 2.0
    assert wait_for(lambda: status_of(stack, response.json()["sid"]) == "delivered", timeout=20)


def test_500_forever_is_stored_then_sent_by_the_worker_once_the_sandbox_recovers(stack: RunningStack) -> None:
    sandbox_fault(stack, 500, count=-1)
    response = post_message(stack, {"to": CUSTOMER, "body": "do not lose me"}, key=new_sid("K"))
    assert response.status_code == 202
    message = response.json()
    assert message["status"] == "retrying" and message["sid"].startswith("RQ")
    attempts = len(sandbox_requests(stack, reset=True))
    assert attempts >= 2
    stored = stack.table("failed-messages").get_item(Key={"id": message["sid"]}, ConsistentRead=True)["Item"]
    assert (stored["retry_state"], stored["category"], int(stored["attempts"])) == ("pending", "twilio_unavailable", attempts)
    assert stored["twilio_error"]["http_status"] == 500
    assert stack.get_message(message["sid"]).json()["status"] == "retrying"

    # Still down: the worker tries, fails, and reschedules; nothing is lost.
    report = run_retry_worker(stack, at=an_hour_from_now())
    assert message["sid"] in report["rescheduled"]
    clear_sandbox(stack)
    report = run_retry_worker(stack, at=an_hour_from_now() + 24 * 3600)
    assert message["sid"] in report["sent"]
    (sent,) = [r for r in sandbox_requests(stack) if r.get("Body") == "do not lose me"]
    assert sent["To"] == CUSTOMER
    stored = stack.table("failed-messages").get_item(Key={"id": message["sid"]}, ConsistentRead=True)["Item"]
    assert stored["state"] == "sent" and "retry_state" not in stored
    became = stack.get_message(message["sid"]).json()
    assert became["sid"] == stored["message_sid"] and became["body"] == "do not lose me"
    assert wait_for(lambda: status_of(stack, stored["message_sid"]) == "delivered", timeout=20)
    # Running the worker again sends nothing more.
    run_retry_worker(stack, at=an_hour_from_now() + 48 * 3600)
    assert [r for r in sandbox_requests(stack) if r.get("Body") == "do not lose me"] == [sent]
