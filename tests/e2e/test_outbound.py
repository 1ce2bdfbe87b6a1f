"""Outbound end to end, the parts that never reach Twilio: validation, opt-outs, reads, health."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.forms import BUSINESS, new_sid, sms
from tests.support.outbound_stack import post_message, run_retry_worker
from tests.support.stack import RunningStack


@pytest.mark.parametrize(
    ("label", "payload", "code"),
    [
        ("1601 characters", {"to": "+15005550010", "body": "a" * 1601}, "message_too_long"),
        ("11 media", {"to": "+15005550010", "media_urls": [f"https://example.com/{i}.jpg" for i in range(11)]}, "too_many_media"),
        ("+1555", {"to": "+1555", "body": "hi"}, "invalid_phone_number"),
        ("bad sender", {"to": "+15005550010", "from": "+1555", "body": "hi"}, "invalid_sender"),
        ("ftp media", {"to": "+15005550010", "media_urls": ["ftp://example.com/a.jpg"]}, "invalid_media_url"),
        ("validity 0", {"to": "+15005550010", "body": "hi", "validity_period": 0}, "invalid_field"),
        ("nothing to send", {"to": "+15005550010"}, "missing_field"),
        ("not json", "{", "malformed_body"),
    ],
)
def test_invalid_send_is_400_and_touches_nothing(stack: RunningStack, label: str, payload: Any, code: str) -> None:
    stack.start_count()
    response = post_message(stack, payload)
    assert response.status_code == 400, label
    error = response.json()["error"]
    assert (error["code"], error["retryable"], error["twilio_code"]) == (code, False, None)
    assert error["message"]
    assert stack.dynamodb_requests() == {}  # refused before the opt-out read, let alone Twilio


def test_recipient_who_texted_stop_is_refused_with_21610(stack: RunningStack) -> None:
    customer = "+15005550321"
    assert stack.post_webhook("inbound", sms(body="STOP", From=customer)).status_code == 200
    stack.start_count()
    response = post_message(stack, {"to": customer, "body": "Last chance: 20% off"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["code"], error["twilio_code"], error["retryable"]) == ("recipient_opted_out", 21610, False)
    assert stack.dynamodb_requests() == {"DynamoDB_20120810.GetItem": 1}
    keyed = post_message(stack, {"to": customer, "body": "Last chance: 20% off"}, key=new_sid("K"))
    assert keyed.status_code == 403 and keyed.json()["error"]["twilio_code"] == 21610
    # START lifts it: the send is no longer refused for the opt-out (what Twilio says is another test).
    assert stack.post_webhook("inbound", sms(body="START", From=customer)).status_code == 200
    assert post_message(stack, {"to": customer, "from": BUSINESS, "body": "welcome back"}).status_code != 403


def test_wrong_content_type_is_415_in_our_error_shape(stack: RunningStack) -> None:
    response = stack.http.post(
        stack.url("outbound", "/messages"),
        data="to=%2B15005550010",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_content_type"


def test_unknown_retrying_id_is_404(stack: RunningStack) -> None:
    response = stack.get_message(new_sid("RQ"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "message_not_found"


def test_outbound_health_covers_its_four_tables(stack: RunningStack) -> None:
    tables = stack.http.get(stack.url("outbound", "/health"), timeout=10).json()["tables"]
    assert sorted(tables) == sorted(f"omni-twilio-local-{t}" for t in ("messages", "failed-messages", "optouts", "idempotency"))


def test_retry_worker_runs_on_demand_in_the_local_stage(stack: RunningStack) -> None:
    report = run_retry_worker(stack, at=0)  # nothing can be due at the epoch
    assert report == {"due": 0, "sent": [], "rescheduled": [], "dead": [], "unknown": [], "skipped": []}
