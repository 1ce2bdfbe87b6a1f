"""WhatsApp's rate limit (63018) in a status callback: the message is put back in the
failed-message store once, with the same content and a backoff; a repeat fails for good."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import logging

import pytest

from carrier_core import failed_sends
from carrier_core.failed_sends import DUE, RETRY_PREFIX, FailedState
from carrier_core.models import FailedMessageModel, MediaItem, MessageModel, iso, utc_now
from tests.support.callbacks import MOTO_ENDPOINT, status_callback
from tests.support.forms import BUSINESS, CUSTOMER, new_sid
from tests.support.webhooks import WebhookHarness, webhook_harness
from tests.unit.test_status_app import PRIMARY, PUBLIC_URL, environment

WA_SENDER, WA_CUSTOMER = f"whatsapp:{BUSINESS}", f"whatsapp:{CUSTOMER}"
CONTENT_SID = "HX" + "c" * 32


@pytest.fixture
def harness() -> Iterator[WebhookHarness]:
    env = environment(MOTO_ENDPOINT)
    with webhook_harness("status", env, PUBLIC_URL, PRIMARY, stage="local", tables=[MessageModel, FailedMessageModel]) as h:
        yield h


def sent_message(sid: str, channel: str = "whatsapp", send_id: str | None = "a" * 32, **fields: Any) -> None:
    """An outbound message as the outbound service stores the send Twilio accepted."""
    at = iso(utc_now())
    wa = channel == "whatsapp"
    values: dict[str, Any] = {
        "direction": "outbound",
        "channel": channel,
        "from_number": WA_SENDER if wa else BUSINESS,
        "to_number": WA_CUSTOMER if wa else CUSTOMER,
        "body": "Your order has shipped",
        "status": "queued",
        "send_id": send_id,
        "created_at": at,
        "updated_at": at,
    }
    values.update(fields)
    MessageModel(sid, **values).save()


def requeue_module() -> Any:
    return __import__("chalicelib.requeue", fromlist=["requeue_id"])


def rate_limited(harness: WebhookHarness, sid: str, status: str = "failed") -> None:
    assert harness.post(status_callback(status, sid=sid, error_code=63018, whatsapp=True)).status_code == 204


def test_a_rate_limited_whatsapp_message_is_put_back_once_with_the_same_content(
    harness: WebhookHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sid = new_sid()
    sent_message(sid, media=[MediaItem(url="https://example.com/a.jpg", content_type="image/jpeg")])
    before = time.time()
    rate_limited(harness, sid)
    item = FailedMessageModel.get(requeue_module().requeue_id(sid))
    assert item.id.startswith("RQ") and len(item.id) == 34
    assert (item.state, item.retry_state, int(item.attempts), item.category) == ("retrying", DUE, 1, "rate_limited")
    assert FailedState(item.state) is FailedState.RETRYING and item.id.startswith(RETRY_PREFIX)
    # The retry worker's own query finds it once it is due, and the API reads it as retrying.
    assert [found.id for found in failed_sends.due(int(item.next_attempt_at))] == [item.id]
    assert failed_sends.error_codes(item.twilio_error.as_dict()) == ("rate_limited", 63018)
    assert before + 60 <= item.next_attempt_at <= time.time() + 120  # one minute, plus up to one of jitter
    assert item.twilio_error.as_dict()["twilio_code"] == 63018
    request = item.request.as_dict()
    assert (request["to"], request["from_number"], request["body"], request["media_urls"]) == (
        WA_CUSTOMER,
        WA_SENDER,
        "Your order has shipped",
        ["https://example.com/a.jpg"],
    )
    assert request["requeued_from"] == sid
    assert request["status_callback"].startswith(PUBLIC_URL + "#")  # with the connection overrides
    assert MessageModel.get(sid).status == "failed"
    logged = [r for r in caplog.records if r.getMessage() == "rate limited message requeued"]
    assert len(logged) == 1 and "5005550010" not in str(vars(logged[0]))  # the customer masked
    # Twilio delivers the callback again: nothing more is written.
    rate_limited(harness, sid)
    assert FailedMessageModel.count() == 1
    assert len([r for r in caplog.records if r.getMessage() == "rate limited message requeued"]) == 1


def test_a_template_send_is_put_back_with_its_template_and_variables(harness: WebhookHarness) -> None:
    sid = new_sid()
    sent_message(sid, body=None, whatsapp={"content_sid": CONTENT_SID, "content_variables": '{"1":"Ada"}'}, tenant="acme")
    rate_limited(harness, sid, "undelivered")
    request = FailedMessageModel.get(requeue_module().requeue_id(sid)).request.as_dict()
    assert (request["content_sid"], request["content_variables"], request["tenant"]) == (CONTENT_SID, '{"1":"Ada"}', "acme")
    assert request["body"] is None


@pytest.mark.parametrize(
    "case",
    [
        {"whatsapp": {"requeued_from": "SM" + "1" * 32}},  # the repeat's own 63018: it fails
        {"send_id": None},  # created by callbacks alone: no content to send
        {"channel": "sms"},
    ],
    ids=["second 63018", "not sent here", "sms"],
)
def test_what_is_not_put_back(harness: WebhookHarness, case: dict[str, Any]) -> None:
    sid = new_sid()
    sent_message(sid, **case)
    rate_limited(harness, sid)
    assert FailedMessageModel.count() == 0
    assert MessageModel.get(sid).status == "failed"


def test_a_message_never_stored_and_other_errors_are_left_alone(harness: WebhookHarness) -> None:
    rate_limited(harness, new_sid())  # the callback alone creates it
    sid = new_sid()
    sent_message(sid)
    assert harness.post(status_callback("failed", sid=sid, error_code=63016, whatsapp=True)).status_code == 204
    other = new_sid()
    sent_message(other)
    assert harness.post(status_callback("sent", sid=other, error_code=63018, whatsapp=True)).status_code == 204  # not final
    assert FailedMessageModel.count() == 0


def test_only_the_rare_callback_pays_for_the_requeue(harness: WebhookHarness) -> None:
    sid = new_sid()
    sent_message(sid)
    harness.calls.clear()
    assert harness.post(status_callback("sent", sid=sid, whatsapp=True)).status_code == 204
    assert dict(harness.calls) == {"UpdateItem": 1}
    harness.calls.clear()
    rate_limited(harness, sid)
    assert dict(harness.calls) == {"UpdateItem": 1, "GetItem": 1, "PutItem": 1}
