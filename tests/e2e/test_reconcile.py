"""The reconciler through the local stack: a webhook that never arrived, one our storage failed
(answered 503), a status callback that never arrived, each recovered by `omni-twilio
reconcile`, exactly once, with one message.received; the webhook's later retry a duplicate."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from tests.support.handoff import Queue
from tests.support.outbound_stack import clear_dynamodb_fault, dynamodb_fault, post_message
from tests.support.stack import RunningStack, wait_for

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).parent / "omni-twilio"
CUSTOMER, NUMBER = "+15005550010", "+15005550006"


@pytest.fixture(scope="module")
def queue(stack: RunningStack) -> Queue:
    return Queue(stack)


@pytest.fixture
def start() -> str:
    """When the test began, a little before: what `reconcile --since` reads from."""
    return (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()


def reconcile(stack: RunningStack, *args: str) -> str:
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "COLUMNS": "200"}
    result = subprocess.run([str(CLI), "reconcile", *args], env=env, capture_output=True, text=True, timeout=150, check=False)
    assert result.returncode == 0, result.stderr
    assert CUSTOMER not in result.stdout and "where is my parcel" not in result.stdout
    return result.stdout


def customer_sends(stack: RunningStack, body: str, deliver: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"from": CUSTOMER, "to": NUMBER, "body": body, "deliver": deliver}
    response = stack.http.post(stack.url("sandbox", "/_sandbox/inbound"), json=spec, timeout=60)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def redeliver(stack: RunningStack, sid: str) -> dict[str, Any]:
    response = stack.http.post(stack.url("sandbox", f"/_sandbox/inbound/{sid}/deliver"), timeout=60)
    assert response.status_code == 200, response.text
    webhook: dict[str, Any] = response.json()["webhook"]
    return webhook


def item(stack: RunningStack, sid: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = stack.table().get_item(Key={"sid": sid}, ConsistentRead=True).get("Item")
    return found


def received_events(queue: Queue, sid: str) -> list[dict[str, Any]]:
    return [e for e in queue.of_sid(sid) if e["detail-type"] == "message.received"]


def assert_recovered_once(stack: RunningStack, queue: Queue, sid: str, body: str) -> None:
    stored = item(stack, sid)
    assert stored is not None and stored["body"] == body and stored["direction"] == "inbound"
    assert [(h["status"], h["source"]) for h in stored["history"]] == [("received", "reconciled")]
    queue.settle(stack)
    assert len(received_events(queue, sid)) == 1


def test_a_webhook_that_never_arrived_is_recovered_once_and_its_late_delivery_is_a_duplicate(
    stack: RunningStack, queue: Queue, start: str
) -> None:
    sid = customer_sends(stack, "where is my parcel", deliver=False)["sid"]
    assert item(stack, sid) is None
    out = reconcile(stack, "--since", start, "--tenant", "default")
    assert "default: listed" in out and "stored 1 inbound" in out
    assert_recovered_once(stack, queue, sid, "where is my parcel")
    # Nothing left to recover: a second run stores nothing.
    assert "stored 0 inbound" in reconcile(stack, "--since", start, "--tenant", "default")
    # The webhook arrives after all: a duplicate, answered 200, nothing written or published.
    assert redeliver(stack, sid)["status"] == 200
    assert len(item(stack, sid)["history"]) == 1  # type: ignore[index]
    queue.settle(stack)
    assert len(received_events(queue, sid)) == 1


@pytest.fixture
def messages_put_fails(stack: RunningStack) -> Iterator[None]:
    # Every PutItem on the messages table fails (botocore's own retries and Twilio's included)
    # until the fault is cleared.
    dynamodb_fault(stack, "PutItem", "messages", count=1000, delay=0)
    try:
        yield
    finally:
        clear_dynamodb_fault(stack)


def test_a_webhook_our_storage_failed_is_answered_503_then_recovered_once_and_its_retry_is_a_duplicate(
    stack: RunningStack, queue: Queue, start: str, messages_put_fails: None
) -> None:
    answer = customer_sends(stack, "my order never came", deliver=True)
    sid = answer["sid"]
    # Answered 503 storage_unavailable on each of the sandbox's tries: Twilio gives up.
    assert answer["webhook"]["status"] == 503 and answer["webhook"]["attempts"] >= 1
    assert item(stack, sid) is None
    clear_dynamodb_fault(stack)
    out = reconcile(stack, "--since", start, "--tenant", "default")
    assert "stored 1 inbound" in out
    assert_recovered_once(stack, queue, sid, "my order never came")
    # Twilio's retry of the failed webhook: a duplicate.
    assert redeliver(stack, sid)["status"] == 200
    assert len(item(stack, sid)["history"]) == 1  # type: ignore[index]
    queue.settle(stack)
    assert len(received_events(queue, sid)) == 1


@pytest.fixture
def callbacks_refused(stack: RunningStack) -> Iterator[None]:
    """The sandbox signs the first account's callbacks with a token the status service does
    not know, so it refuses each (403) and Twilio never sends it again: callbacks lost.
    The REST calls authenticate with the API key, which is kept."""
    url = stack.url("sandbox", f"/_sandbox/accounts/{LOCAL_ACCOUNT_SID}")
    stack.http.put(url, json={"auth_token": "a-token-the-status-service-never-saw"}, timeout=10).raise_for_status()
    try:
        yield
    finally:
        stack.http.put(url, json={"auth_token": LOCAL_AUTH_TOKEN}, timeout=10).raise_for_status()


def test_a_status_callback_that_never_arrived_is_recovered(stack: RunningStack, start: str, callbacks_refused: None) -> None:
    response = post_message(stack, {"to": CUSTOMER, "body": "your table is ready"})
    assert response.status_code == 202, response.text
    sid = response.json()["sid"]

    def lost() -> bool:
        records = stack.http.get(stack.url("sandbox", "/_sandbox/callbacks"), timeout=10).json()
        return any(r["params"].get("MessageSid") == sid and r["params"].get("MessageStatus") == "delivered" for r in records)

    assert wait_for(lost, timeout=30), "the sandbox did not finish the message"
    assert item(stack, sid)["status"] == "queued"  # type: ignore[index]
    out = reconcile(stack, "--since", start, "--tenant", "default")
    assert "advanced" in out
    stored = item(stack, sid)
    assert stored is not None and stored["status"] == "delivered"
    assert (stored["history"][-1]["status"], stored["history"][-1]["source"]) == ("delivered", "reconciled")
    # Nothing further to move: the next run leaves it as it is.
    reconcile(stack, "--since", start, "--tenant", "default")
    assert len(item(stack, sid)["history"]) == len(stored["history"])  # type: ignore[index]


def test_reconcile_from_the_checkpoint_and_its_refusals(stack: RunningStack) -> None:
    out = reconcile(stack)
    assert out.startswith("reconciled ") and "default: listed" in out
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)}
    for args in (["--since", "yesterday"], ["--tenant", "#reconcile"], ["--tenant", "no-such-tenant"]):
        result = subprocess.run([str(CLI), "reconcile", *args], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 1 and result.stderr.startswith("Error: "), (args, result.stderr)
