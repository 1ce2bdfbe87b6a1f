"""POST /messages in process: moto for DynamoDB, the in-process Twilio sandbox for the REST API."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from carrier_core.webhook import with_overrides
from carrier_core.logs import JsonFormatter
from carrier_core.models import FailedMessageModel, IdempotencyModel, MessageModel, utc_now
from carrier_core.status.machine import MessageStatus, rule_of
from tests.support.outbound import CUSTOMER, SENDER, STATUS_URL, Outbound, opt_out, outbound, stored, twilio  # noqa: F401

SERVICE_SID = "MG" + "c" * 32


def body_of(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(response.body)
    return payload


def test_accepted_send_is_202_written_once_with_the_twilio_sid(outbound: Outbound) -> None:
    response = outbound.post({"to": CUSTOMER, "body": "Your order shipped €5 {ok}", "media_urls": ["https://example.com/a.jpg"]})
    assert response.status_code == 202
    message = body_of(response)
    assert message["sid"].startswith("MM")  # Twilio's SID for a message with media
    assert (message["status"], message["direction"], message["channel"]) == ("queued", "outbound", "mms")
    assert (message["from"], message["to"]) == (SENDER, CUSTOMER)
    assert (message["num_segments"], message["encoding"]) == (1, "GSM-7")
    assert message["media"] == [
        {
            "url": "https://example.com/a.jpg",
            "content_type": "image/jpeg",
            "stored_url": None,
            "size": 1024,
            "sha256": None,
            "status": None,
            "sniffed_content_type": None,
            "sent_content_type": None,
        }
    ]
    assert [h["status"] for h in message["history"]] == ["queued"]
    item = stored(message["sid"])
    assert item is not None and item.body == "Your order shipped €5 {ok}" and item.status_rank == rule_of(MessageStatus.QUEUED).rank
    assert body_of(outbound.get(message["sid"])) == message
    (form,) = outbound.twilio.forms()
    assert form["StatusCallback"] == with_overrides(STATUS_URL)  # Twilio retries our 503s only if asked


def test_ucs2_body_reports_its_segments(outbound: Outbound) -> None:
    message = body_of(outbound.post({"to": CUSTOMER, "body": "привет " * 12}))
    assert (message["encoding"], message["num_segments"]) == ("UCS-2", 2)


@pytest.mark.parametrize(
    ("payload", "status", "code", "twilio_code", "message"),
    [
        (
            {"to": "+15005550001", "body": "x"},
            400,
            "invalid_phone_number",
            21211,
            "The 'To' number +15005550001 is not a valid phone number.",
        ),
        ({"to": "+15005550004", "body": "x"}, 403, "recipient_opted_out", 21610, "Attempt to send to unsubscribed recipient"),
        ({"to": "+15005550009", "body": "x"}, 400, "not_mobile_number", 21614, "'To' number +15005550009 is not a valid mobile number"),
        (
            {"to": CUSTOMER, "from": "+15005550001", "body": "x"},
            400,
            "invalid_sender",
            21212,
            "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
        ),
    ],
)
def test_twilio_refusals_are_4xx_with_the_twilio_code_and_not_retried(
    outbound: Outbound, payload: dict[str, Any], status: int, code: str, twilio_code: int, message: str
) -> None:
    response = outbound.post(payload)
    assert response.status_code == status
    # Twilio's own message for the code is passed on.
    assert body_of(response)["error"] == {"code": code, "message": message, "twilio_code": twilio_code, "retryable": False}
    assert len(outbound.twilio.requests) == 1
    assert list(MessageModel.scan()) == []
    # Kept for the record, outside the due index: the worker never retries it.
    (kept,) = FailedMessageModel.scan()
    assert (kept.state, kept.retryable, kept.retry_state, kept.category) == ("rejected", False, None, code)
    assert kept.twilio_error.as_dict()["twilio_code"] == twilio_code and kept.request.as_dict()["to"] == payload["to"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"to": CUSTOMER, "body": "a" * 1601}, "message_too_long"),
        ({"to": CUSTOMER, "body": "x", "media_urls": [f"https://example.com/{i}" for i in range(11)]}, "too_many_media"),
        ({"to": "+1555", "body": "x"}, "invalid_phone_number"),
        ("not json", "malformed_body"),
    ],
)
def test_invalid_requests_never_reach_twilio(outbound: Outbound, payload: Any, code: str) -> None:
    response = outbound.post(payload)
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == code
    assert outbound.twilio.requests == []


def test_wrong_content_type_is_415_in_our_shape(outbound: Outbound) -> None:
    response = outbound.post("to=%2B15005550010", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert body_of(response)["error"]["code"] == "unsupported_content_type"


def test_opted_out_recipient_is_refused_before_twilio(outbound: Outbound) -> None:
    opt_out(CUSTOMER, SENDER)
    response = outbound.post({"to": CUSTOMER, "body": "promo"})
    assert response.status_code == 403
    assert body_of(response)["error"]["code"] == "recipient_opted_out"
    assert body_of(response)["error"]["twilio_code"] == 21610
    assert outbound.twilio.requests == []
    # With a key, the refusal gives the claimed key back.
    keyed = outbound.post({"to": CUSTOMER, "body": "promo"}, key="k-opted-out")
    assert keyed.status_code == 403 and outbound.twilio.requests == []
    assert list(IdempotencyModel.scan()) == []


def test_opt_out_of_the_messaging_service_is_honoured(outbound: Outbound) -> None:
    opt_out(CUSTOMER, SERVICE_SID)
    response = outbound.post({"to": CUSTOMER, "from": SENDER, "messaging_service_sid": SERVICE_SID, "body": "x"})
    assert response.status_code == 403 and outbound.twilio.requests == []


def test_start_after_stop_allows_sending_again(outbound: Outbound) -> None:
    opt_out(CUSTOMER, SENDER, opted_out=False)
    assert outbound.post({"to": CUSTOMER, "body": "welcome back"}).status_code == 202
    opt_out("+15005550011", "+15005550099")  # another sender's opt-out does not apply
    assert outbound.post({"to": "+15005550011", "body": "hi"}).status_code == 202


def test_same_key_same_request_is_one_message_one_twilio_call(outbound: Outbound) -> None:
    payload = {"to": CUSTOMER, "body": "once"}
    first = outbound.post(payload, key="order-1")
    second = outbound.post(payload, key="order-1")
    assert first.status_code == second.status_code == 202
    assert body_of(first)["sid"] == body_of(second)["sid"]
    assert second.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers
    assert len(outbound.twilio.requests) == 1
    claim = IdempotencyModel.get("order-1")
    assert (claim.state, claim.message_sid, claim.locked_until) == ("done", body_of(first)["sid"], None)


def test_same_key_different_request_is_409(outbound: Outbound) -> None:
    assert outbound.post({"to": CUSTOMER, "body": "one"}, key="order-2").status_code == 202
    response = outbound.post({"to": CUSTOMER, "body": "two"}, key="order-2")
    assert response.status_code == 409
    assert body_of(response)["error"]["code"] == "idempotency_conflict"
    assert len(outbound.twilio.requests) == 1


def test_permanent_refusal_releases_the_key(outbound: Outbound) -> None:
    payload = {"to": "+15005550001", "body": "x"}
    assert outbound.post(payload, key="bad-1").status_code == 400
    assert list(IdempotencyModel.scan()) == []
    assert outbound.post(payload, key="bad-1").status_code == 400
    assert len(outbound.twilio.requests) == 2


def test_invalid_idempotency_key_is_400(outbound: Outbound) -> None:
    response = outbound.post({"to": CUSTOMER, "body": "x"}, key="k" * 256)
    assert response.status_code == 400 and body_of(response)["error"]["code"] == "invalid_field"
    assert outbound.twilio.requests == []


def test_429_twice_then_accepted_waits_retry_after(outbound: Outbound) -> None:
    outbound.twilio.fail(429, count=2, retry_after="1")
    started = time.monotonic()
    response = outbound.post({"to": CUSTOMER, "body": "patience"})
    elapsed = time.monotonic() - started
    assert response.status_code == 202 and body_of(response)["status"] == "queued"
    assert len(outbound.twilio.requests) == 3
    assert elapsed >= 2.0
    assert list(FailedMessageModel.scan()) == []


def test_500_forever_is_stored_for_the_worker_and_202_retrying(outbound: Outbound) -> None:
    outbound.twilio.fail(500, count=-1)
    response = outbound.post({"to": CUSTOMER, "body": "later", "validity_period": 600}, key="later-1")
    assert response.status_code == 202
    message = body_of(response)
    assert message["sid"].startswith("RQ") and message["status"] == "retrying"
    assert (message["body"], message["to"], message["num_segments"]) == ("later", CUSTOMER, 1)
    assert len(outbound.twilio.requests) == 4  # the policy's in-request attempts
    failed = FailedMessageModel.get(message["sid"])
    assert (failed.retry_state, failed.state, failed.attempts, failed.category) == ("pending", "retrying", 4, "twilio_unavailable")
    assert failed.twilio_error.as_dict()["http_status"] == 500
    assert failed.request.as_dict()["validity_period"] == 600
    assert failed.next_attempt_at >= int(time.time())
    assert list(MessageModel.scan()) == []
    assert body_of(outbound.get(message["sid"]))["status"] == "retrying"
    # The same key answers with the same stored send, without calling Twilio again.
    replay = outbound.post({"to": CUSTOMER, "body": "later", "validity_period": 600}, key="later-1")
    assert body_of(replay)["sid"] == message["sid"] and len(outbound.twilio.requests) == 4


def test_when_even_the_store_fails_the_caller_gets_503(outbound: Outbound) -> None:
    FailedMessageModel.delete_table()
    outbound.twilio.fail(500, count=-1)
    response = outbound.post({"to": CUSTOMER, "body": "nowhere to keep it"})
    assert response.status_code == 503
    assert body_of(response)["error"]["code"] == "storage_unavailable"
    assert body_of(response)["error"]["retryable"] is True


DELIVERED_RANK = rule_of(MessageStatus.DELIVERED).rank


def test_a_status_callback_that_beat_the_write_keeps_its_status(outbound: Outbound) -> None:
    store = outbound_store()
    request_module = outbound_request()
    twilio_client = __import__("chalicelib.twilio_client", fromlist=["Accepted"])
    sid = "SM" + "d" * 32
    # What the status service stores for an unknown SID: a later status, no body.
    MessageModel(
        sid,
        direction="outbound",
        status="delivered",
        status_rank=DELIVERED_RANK,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:01.000Z",
        history=[{"status": "delivered", "at": "2026-01-01T00:00:01.000Z"}],
    ).save()
    request = request_module.OutboundRequest.from_json(json.dumps({"to": CUSTOMER, "body": "late write"}).encode(), outbound.settings())
    store.write_accepted(request, twilio_client.Accepted(sid, "queued", None), utc_now(), outbound.settings(), send_id=None)
    merged = MessageModel.get(sid)
    assert (merged.status, merged.status_rank, merged.body, merged.from_number) == ("delivered", DELIVERED_RANK, "late write", SENDER)
    assert [h.status for h in merged.history] == ["delivered", "queued"]
    assert merged.created_at == "2026-01-01T00:00:00.000Z"


def outbound_store() -> Any:
    return __import__("chalicelib.accepted", fromlist=["write_accepted"])


def outbound_request() -> Any:
    return __import__("chalicelib.request", fromlist=["OutboundRequest"])


def test_logs_hold_no_number_body_or_token(outbound: Outbound, caplog: pytest.LogCaptureFixture) -> None:
    secret = "my PIN is 4321"
    outbound.post({"to": "+15005550077", "body": secret})
    outbound.post({"to": "+15005550001", "body": secret})
    outbound.twilio.fail(500, count=-1)
    outbound.post({"to": "+15005550078", "body": secret})
    # `responses` is moto's HTTP mock, present only under test: it logs every URL it lets
    # through, including the list search's To filter. Nothing of ours logs a URL.
    text = "\n".join(JsonFormatter().format(record) for record in caplog.records if record.name != "responses")
    assert "twilio accepted" in text and "send stored for retry" in text
    for forbidden in (secret, "+15005550077", "5005550078", "fake-twilio-auth-token"):
        assert forbidden not in text
