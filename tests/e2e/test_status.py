"""The status callback webhook end to end: signed by RequestValidator, over HTTP, into DynamoDB Local."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from carrier_core.settings import LOCAL_AUTH_TOKEN
from carrier_core.status.store import HISTORY_KEEP, HISTORY_TRIM_AT
from tests.support.callbacks import DLR_DONE, status_callback
from tests.support.forms import BUSINESS, CUSTOMER, Pairs, drop, encode, new_sid, replace, sign
from tests.support.stack import FORM_HEADERS, RunningStack

UPDATE_ITEM = "DynamoDB_20120810.UpdateItem"


def stored(stack: RunningStack, sid: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = stack.table().get_item(Key={"sid": sid}, ConsistentRead=True).get("Item")
    return item


def records_for(stack: RunningStack, sid: str) -> list[dict[str, Any]]:
    """The stream records of `sid`, as DynamoDB Local streams them (one per change)."""
    return [r for r in stack.stream_records() if r["dynamodb"]["Keys"]["sid"]["S"] == sid]


def post(stack: RunningStack, pairs: Pairs) -> requests.Response:
    response = stack.post_webhook("status", pairs)
    assert response.status_code == 204, response.text
    assert response.content == b""
    return response


@pytest.mark.parametrize("query", ["?flag", "?flag=", "?tenant=acme&flag", "?flag&tenant=acme"])
def test_a_callback_url_with_a_query_of_its_own_validates_as_twilio_signed_it(stack: RunningStack, query: str) -> None:
    """The StatusCallback is STATUS_WEBHOOK_URL plus a query; Twilio signs it as given, a bare
    flag without its `=`."""
    sid = new_sid()
    response = stack.post_webhook("status", status_callback("delivered", sid=sid), query=query)
    assert response.status_code == 204, response.text
    assert stack.get_message(sid).json()["status"] == "delivered"


def test_delivered_then_sent_then_queued_ends_delivered_with_all_three(stack: RunningStack) -> None:
    sid = new_sid()
    for status in ("delivered", "sent", "queued"):
        post(stack, status_callback(status, sid=sid))
    message = stack.get_message(sid).json()
    assert message["status"] == "delivered"
    assert [h["status"] for h in message["history"]] == ["delivered", "sent", "queued"]
    assert [h["raw_dlr_done_date"] for h in message["history"]] == [DLR_DONE, None, None]
    assert all(h["source"] == "callback" and h["at"].endswith("Z") for h in message["history"])
    assert message["error_code"] is None and message["error"] is None
    item = stored(stack, sid)
    assert item is not None and item["status_rank"] == 90 and len(item["event_ids"]) == 3
    # One INSERT for the first callback, one MODIFY for each late one that only adds history.
    assert [r["eventName"] for r in records_for(stack, sid)] == ["INSERT", "MODIFY", "MODIFY"]


def test_sent_then_undelivered_keeps_error_30003_through_a_late_sent(stack: RunningStack) -> None:
    sid = new_sid()
    post(stack, status_callback("sent", sid=sid))
    post(stack, status_callback("undelivered", sid=sid, error_code=30003))
    post(stack, status_callback("sending", sid=sid))
    message = stack.get_message(sid).json()
    assert message["status"] == "undelivered"
    assert message["error_code"] == 30003
    assert message["error"] == {"code": "carrier_unreachable", "retryable": False}
    assert [(h["status"], h["error_code"]) for h in message["history"]] == [("sent", None), ("undelivered", 30003), ("sending", None)]


def test_whatsapp_read_follows_delivered_and_keeps_the_channel(stack: RunningStack) -> None:
    sid = new_sid()
    for status in ("sent", "read", "delivered"):
        post(stack, status_callback(status, sid=sid, whatsapp=True))
    message = stack.get_message(sid).json()
    assert message["status"] == "read"
    assert message["channel"] == "whatsapp"
    assert [h["status"] for h in message["history"]] == ["sent", "read", "delivered"]


def test_callback_for_an_unknown_sid_is_stored_as_an_outbound_message(stack: RunningStack) -> None:
    sid = new_sid()
    form = status_callback("sent", sid=sid, MessagingServiceSid=new_sid("MG"))
    post(stack, form)
    message = stack.get_message(sid).json()
    assert message["direction"] == "outbound"
    assert (message["from"], message["to"], message["channel"]) == (BUSINESS, CUSTOMER, "sms")
    assert message["messaging_service_sid"] == dict(form)["MessagingServiceSid"]
    assert message["status"] == "sent" and message["body"] is None
    assert message["created_at"] == message["updated_at"] == message["history"][0]["at"]
    item = stored(stack, sid)
    assert item is not None and item["account_sid"] == dict(form)["AccountSid"] and "expires_at" in item
    assert [r["eventName"] for r in records_for(stack, sid)] == ["INSERT"]


def test_same_callback_twice_is_recorded_once_and_writes_nothing_the_second_time(stack: RunningStack) -> None:
    sid = new_sid()
    form = status_callback("undelivered", sid=sid, error_code=30005)
    post(stack, form)
    before = stored(stack, sid)
    post(stack, form)
    assert stored(stack, sid) == before
    message = stack.get_message(sid).json()
    assert [(h["status"], h["error_code"]) for h in message["history"]] == [("undelivered", 30005)]
    assert message["error"] == {"code": "unknown_destination", "retryable": False}
    assert [r["eventName"] for r in records_for(stack, sid)] == ["INSERT"]


def test_unknown_status_is_kept_in_history_and_moves_nothing(stack: RunningStack) -> None:
    sid = new_sid()
    post(stack, status_callback("sent", sid=sid))
    post(stack, status_callback("carrier_accepted", sid=sid))
    message = stack.get_message(sid).json()
    assert message["status"] == "sent"
    assert [h["status"] for h in message["history"]] == ["sent", "carrier_accepted"]


def test_unknown_status_for_an_unknown_sid_creates_it_below_every_known_status(stack: RunningStack) -> None:
    sid = new_sid()
    post(stack, status_callback("carrier_accepted", sid=sid))
    assert stack.get_message(sid).json()["status"] == "carrier_accepted"
    post(stack, status_callback("accepted", sid=sid))
    message = stack.get_message(sid).json()
    assert message["status"] == "accepted"
    assert [h["status"] for h in message["history"]] == ["carrier_accepted", "accepted"]


def _tampered(stack: RunningStack, form: Pairs) -> requests.Response:
    url = stack.webhook_url("status")
    headers = {**FORM_HEADERS, "X-Twilio-Signature": sign(url, form, LOCAL_AUTH_TOKEN)}
    return stack.http.post(url, data=encode(replace(form, MessageStatus="read")).encode(), headers=headers, timeout=10)


BAD_SIGNATURES: dict[str, Callable[[RunningStack, Pairs], requests.Response]] = {
    "missing": lambda stack, form: stack.post_webhook("status", form, signature=""),
    "other token": lambda stack, form: stack.post_webhook("status", form, token="someone-elses-token"),
    "other url": lambda stack, form: stack.post_webhook("status", form, signed_url=stack.webhook_url("inbound")),
    "tampered": _tampered,
}


@pytest.mark.parametrize("case", sorted(BAD_SIGNATURES))
def test_bad_signature_is_403_and_stores_nothing(stack: RunningStack, case: str) -> None:
    form = status_callback("delivered")
    response = BAD_SIGNATURES[case](stack, form)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "invalid_signature",
        "message": response.json()["error"]["message"],
        "twilio_code": None,
        "retryable": False,
    }
    assert stored(stack, dict(form)["MessageSid"]) is None


MALFORMED: dict[str, tuple[Callable[[str], Pairs], str]] = {
    "no MessageSid": (lambda sid: drop(status_callback("sent", sid=sid), "MessageSid", "SmsSid"), "missing_field"),
    "no MessageStatus": (lambda sid: drop(status_callback("sent", sid=sid), "MessageStatus", "SmsStatus"), "missing_field"),
    "empty MessageStatus": (lambda sid: replace(status_callback("sent", sid=sid), MessageStatus="", SmsStatus=""), "missing_field"),
    "ErrorCode not a number": (lambda sid: status_callback("failed", sid=sid, ErrorCode="thirty"), "invalid_field"),
}


@pytest.mark.parametrize("label", sorted(MALFORMED))
def test_malformed_callback_is_400_with_a_stable_code(stack: RunningStack, label: str) -> None:
    build, code = MALFORMED[label]
    sid = new_sid()
    response = stack.post_webhook("status", build(sid))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert stored(stack, sid) is None


def test_one_dynamodb_request_per_in_order_callback(stack: RunningStack) -> None:
    sid = new_sid()
    stack.start_count()
    for status in ("queued", "sent", "delivered"):
        post(stack, status_callback(status, sid=sid))
    in_order = stack.dynamodb_requests(reset=True)
    post(stack, status_callback("sending", sid=sid))
    late = stack.dynamodb_requests(reset=True)
    post(stack, status_callback("sending", sid=sid))
    duplicate = stack.dynamodb_requests(reset=True)
    post(stack, status_callback("carrier_accepted", sid=sid))
    unknown_status = stack.dynamodb_requests(reset=True)
    assert in_order == {UPDATE_ITEM: 3}
    assert late == {UPDATE_ITEM: 2}
    assert duplicate == {UPDATE_ITEM: 2}
    assert unknown_status == {UPDATE_ITEM: 1}
    history = stack.get_message(sid).json()["history"]
    assert [h["status"] for h in history] == ["queued", "sent", "delivered", "sending", "carrier_accepted"]


def test_logs_hold_no_numbers_or_token(stack: RunningStack) -> None:
    sid = new_sid()
    post(stack, status_callback("sent", sid=sid, From="+15005559871", To="+15005559872"))
    stack.post_webhook("status", status_callback("sent", To="+15005559873"), token="wrong-token")
    log = stack.log_text()
    assert sid in log
    for forbidden in ("5005559871", "5005559872", "5005559873", LOCAL_AUTH_TOKEN):
        assert forbidden not in log


def test_a_thousand_callbacks_at_one_sid_keep_the_item_small(stack: RunningStack) -> None:
    """The history is capped well under DynamoDB's 400 KB item limit: the first entry and the
    latest ones stay, the rest are counted. Each callback carries the longest free text one
    may bring, so every entry is as large as it gets."""
    sid = new_sid()
    long_text = "carrier said: " + "x" * 2000
    session = requests.Session()
    url = stack.webhook_url("status")
    for i in range(1000):
        # After the first, a status Twilio may add tomorrow: recorded with one write each.
        form = status_callback("sent" if i == 0 else "carrier_retrying", sid=sid, ChannelStatusMessage=f"{i} {long_text}")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(url, form, LOCAL_AUTH_TOKEN)}
        assert session.post(url, data=encode(form).encode(), headers=headers, timeout=30).status_code == 204
    message = stack.get_message(sid).json()
    history = message["history"]
    assert HISTORY_KEEP <= len(history) <= HISTORY_TRIM_AT
    assert message["status"] == "sent" and history[0]["status"] == "sent"
    assert message["history_dropped"] + len(history) == 1000
    item = stored(stack, sid)
    assert item is not None
    assert len(json.dumps(item, default=str).encode()) < 400 * 1024 / 4
    # The kept entries after the first are the latest, in order.
    numbers = [int(entry["channel_status_message"].split()[0]) for entry in item["history"][1:]]
    assert numbers == list(range(1000 - len(numbers), 1000))
