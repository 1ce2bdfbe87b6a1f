"""Never twice, through the running stack: lost answers, a write that times out after Twilio
accepted, opt-outs Twilio reports, and the API key the sandbox sees.

Every case ends with exactly one message at the sandbox and the caller holding its SID.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN
from tests.support.forms import BUSINESS, new_sid, sms
from tests.support.outbound_stack import (
    an_hour_from_now,
    clear_dynamodb_fault,
    clear_sandbox,
    dynamodb_fault,
    post_message,
    run_retry_worker,
    sandbox_fault,
    sandbox_log,
    sandbox_messages,
    sandbox_requests,
)
from tests.support.stack import RunningStack, wait_for

AUTH = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
# A status callback nobody serves: the status service's writes stay out of these cases.
QUIET = "http://127.0.0.1:9/nowhere"


@pytest.fixture(autouse=True)
def clean_sandbox(stack: RunningStack) -> Iterator[None]:
    clear_sandbox(stack)
    yield
    clear_sandbox(stack)
    clear_dynamodb_fault(stack)


def a_customer() -> str:
    """A recipient of its own per test (sandbox lists are filtered by To)."""
    return "+1500555" + str(int(new_sid("")[:6], 16) % 9000 + 1000)


def only_message(stack: RunningStack, to: str) -> dict[str, Any]:
    (message,) = sandbox_messages(stack, to, AUTH)
    return message


@pytest.mark.parametrize("key", [False, True], ids=["no key", "with key"])
def test_500_after_the_create_is_adopted_not_sent_again(stack: RunningStack, key: bool) -> None:
    to = a_customer()
    idempotency_key = new_sid("K") if key else None
    sandbox_fault(stack, 500, count=1, after_create=True)
    response = post_message(stack, {"to": to, "body": "exactly once"}, key=idempotency_key)
    assert response.status_code == 202
    created = only_message(stack, to)
    assert response.json()["sid"] == created["sid"]
    assert [entry["status"] for entry in sandbox_log(stack)] == [500]
    if idempotency_key is not None:
        replay = post_message(stack, {"to": to, "body": "exactly once"}, key=idempotency_key)
        assert replay.json()["sid"] == created["sid"] and replay.headers.get("Idempotent-Replayed") == "true"
    assert len(sandbox_requests(stack)) == 1
    assert stack.get_message(created["sid"]).json()["body"] == "exactly once"


def check_kept_unknown(stack: RunningStack, answer: dict[str, Any]) -> None:
    """A send of unknown outcome: kept for a reconciler, outside the worker's due index."""
    assert answer["sid"].startswith("RQ") and answer["status"] == "unknown"
    failed = stack.table("failed-messages").get_item(Key={"id": answer["sid"]}, ConsistentRead=True)["Item"]
    assert failed["state"] == "unknown" and failed["maybe_created"] is True and "retry_state" not in failed
    assert stack.get_message(answer["sid"]).json()["status"] == "unknown"


@pytest.mark.parametrize("keys", [(None, None), ("A", "B")], ids=["no keys", "two keys"])
def test_a_500_that_created_nothing_never_takes_the_sid_of_an_identical_send(
    stack: RunningStack, keys: tuple[str | None, str | None]
) -> None:
    to = a_customer()
    payload = {"to": to, "body": "the same text twice", "status_callback": QUIET}
    first = post_message(stack, payload, key=keys[0] and new_sid(keys[0]))
    assert first.status_code == 202
    sandbox_fault(stack, 500, count=1)  # refused before creating: Twilio holds only the first
    second = post_message(stack, payload, key=keys[1] and new_sid(keys[1]))
    assert second.status_code == 202
    assert second.json()["sid"] != first.json()["sid"] == only_message(stack, to)["sid"]
    check_kept_unknown(stack, second.json())
    run_retry_worker(stack, at=an_hour_from_now())
    assert len(sandbox_requests(stack)) == 2 and len(sandbox_messages(stack, to, AUTH)) == 1


def test_eight_identical_sends_with_four_500s_after_creating_share_no_sid(stack: RunningStack) -> None:
    """Eight at once, the first four creates answering 500 after creating: every message
    Twilio holds is answered to at most one caller, and every other caller is told its
    outcome is unknown (never another's SID, never an error to retry)."""
    to = a_customer()
    payload = {"to": to, "body": "eight of the same", "status_callback": QUIET}
    sandbox_fault(stack, 500, count=4, after_create=True)
    barrier = threading.Barrier(8)

    def post(_: int) -> requests.Response:
        with requests.Session() as session:
            barrier.wait()
            return post_message(stack, payload, session=session)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    assert [r.status_code for r in responses] == [202] * 8
    held = {m["sid"] for m in sandbox_messages(stack, to, AUTH)}
    assert len(held) == 8
    sids = [r.json()["sid"] for r in responses if r.json()["sid"].startswith("SM")]
    unknown = [r.json() for r in responses if r.json()["status"] == "unknown"]
    assert len(sids) == len(set(sids)) and set(sids) <= held
    assert len(sids) + len(unknown) == 8
    for answer in unknown:
        check_kept_unknown(stack, answer)
    owners = [stack.table().get_item(Key={"sid": sid}, ConsistentRead=True).get("Item", {}).get("send_id") for sid in held]
    assert sum(owner is not None for owner in owners) == len(sids) == len(set(filter(None, owners)))
    run_retry_worker(stack, at=an_hour_from_now())
    assert len(sandbox_requests(stack)) == 8


def test_an_answer_lost_past_the_read_timeout_is_found_by_the_worker(stack: RunningStack) -> None:
    to, key = a_customer(), new_sid("K")
    payload = {"to": to, "body": "late but once", "status_callback": QUIET}
    # Held past the service's 10 s read timeout: no time is left for a search in the
    # request, so the send is stored with its doubt and the worker searches first.
    sandbox_fault(stack, None, count=1, delay=11)
    response = post_message(stack, payload, key=key)
    assert response.status_code == 202
    retry_id = response.json()["sid"]
    assert retry_id.startswith("RQ") and response.json()["status"] == "retrying"
    created = only_message(stack, to)
    assert post_message(stack, payload, key=key).json()["sid"] == retry_id  # a retry with the key
    report = run_retry_worker(stack, at=an_hour_from_now())
    assert retry_id in report["sent"]
    assert stack.get_message(retry_id).json()["sid"] == created["sid"]
    run_retry_worker(stack, at=an_hour_from_now() + 24 * 3600)
    assert len(sandbox_requests(stack)) == 1 and len(sandbox_messages(stack, to, AUTH)) == 1


def test_a_message_write_that_times_out_after_twilio_accepted(stack: RunningStack) -> None:
    to, key = a_customer(), new_sid("K")
    payload = {"to": to, "body": "accepted, write lost", "status_callback": QUIET}
    # Past the services' 5 s DynamoDB read timeout, on each of botocore's three tries. With
    # a key, the message write is a transaction that also completes the claim.
    dynamodb_fault(stack, "TransactWriteItems", "messages", count=3, delay=6)
    try:
        response = post_message(stack, payload, key=key)
    finally:
        clear_dynamodb_fault(stack)
    assert response.status_code == 202
    created = only_message(stack, to)
    assert response.json()["sid"] == created["sid"]
    claim = stack.table("idempotency").get_item(Key={"key": key}, ConsistentRead=True)["Item"]
    assert (claim["state"], claim["message_sid"]) == ("done", created["sid"])
    replay = post_message(stack, payload, key=key)
    assert replay.status_code == 202 and replay.json()["sid"] == created["sid"]
    assert len(sandbox_requests(stack)) == 1


def test_429_twice_ends_sent_once(stack: RunningStack) -> None:
    to = a_customer()
    sandbox_fault(stack, 429, count=2)
    response = post_message(stack, {"to": to, "body": "rate limited"})
    assert response.status_code == 202
    assert response.json()["sid"] == only_message(stack, to)["sid"]
    assert [entry["status"] for entry in sandbox_log(stack)] == [429, 429, 201]


def test_rest_calls_use_the_api_key_never_the_auth_token(stack: RunningStack) -> None:
    to = a_customer()
    sandbox_fault(stack, 503, count=1, after_create=True)  # a create and a search
    assert post_message(stack, {"to": to, "body": "with the key"}).status_code == 202
    assert [entry["auth_user"] for entry in sandbox_log(stack)] == [LOCAL_API_KEY_SID]
    # The sandbox refuses a key it does not know, as Twilio does.
    stranger = stack.http.post(
        stack.url("sandbox", f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/Messages.json"),
        data={"To": to, "From": BUSINESS, "Body": "x"},
        auth=("SK" + "9" * 32, "guess"),
        timeout=10,
    )
    assert (stranger.status_code, stranger.json()["code"]) == (401, 20003)


def optout_of(stack: RunningStack, phone: str, sender: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = stack.table("optouts").get_item(Key={"phone": phone, "sender": sender}, ConsistentRead=True).get("Item")
    return item


def test_21610_at_send_refuses_the_next_send_before_the_sandbox(stack: RunningStack) -> None:
    opted_out = "+15005550004"  # Twilio's magic number: 21610
    sender = a_customer()  # a sender of its own: other tests still reach Twilio with 0004
    first = post_message(stack, {"to": opted_out, "from": sender, "body": "hello"})
    assert first.status_code == 403 and first.json()["error"]["twilio_code"] == 21610
    assert len(sandbox_requests(stack, reset=True)) == 1
    record = optout_of(stack, opted_out, sender)
    assert record is not None and (record["opted_out"], record["source"]) == (True, "twilio_21610")
    second = post_message(stack, {"to": opted_out, "from": sender, "body": "hello again"})
    assert (second.status_code, second.json()["error"]["code"]) == (403, "recipient_opted_out")
    assert sandbox_requests(stack) == []


def test_21610_in_a_status_callback_refuses_the_next_send(stack: RunningStack) -> None:
    opted_out = "+15005550016"  # the sandbox's recipient that fails with 21610 after queued
    first = post_message(stack, {"to": opted_out, "body": "accepted, then refused"})
    assert first.status_code == 202
    assert wait_for(lambda: optout_of(stack, opted_out, BUSINESS), timeout=20)
    assert wait_for(lambda: stack.get_message(first.json()["sid"]).json()["status"] == "failed", timeout=20)
    sandbox_requests(stack, reset=True)
    second = post_message(stack, {"to": opted_out, "body": "again"})
    assert (second.status_code, second.json()["error"]["code"]) == (403, "recipient_opted_out")
    assert sandbox_requests(stack) == []


@pytest.mark.parametrize("keyword", ["REVOKE", "optout"])
def test_revoke_and_optout_opt_out(stack: RunningStack, keyword: str) -> None:
    customer = a_customer()
    assert stack.post_webhook("inbound", sms(body=keyword, From=customer)).status_code == 200
    record = optout_of(stack, customer, BUSINESS)
    assert record is not None and record["opted_out"] is True and record["keyword"] == keyword.upper()
    refused = post_message(stack, {"to": customer, "body": "still there?"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "recipient_opted_out")
    assert sandbox_requests(stack) == []
