"""Template sends (content_sid) are checked against Twilio's Content API before the Messages
API hears of them: WhatsApp approval, the declared variables, an unknown template; what the
Content API answered is cached per account and template for a bounded time."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest

from carrier_core import failed_sends
from carrier_core.errors import TemplateNotApproved, TwilioUnavailable
from carrier_core.models import FailedMessageModel, MessageModel
from tests.support.outbound import SENDER, Outbound, outbound, outbound_module, twilio  # noqa: F401

WA_SENDER = "whatsapp:" + SENDER
NEVER_WROTE = "whatsapp:+15005550077"  # no inbound message: the window is closed


def body_of(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(response.body)
    return payload


def send(outbound: Outbound, content_sid: str, variables: dict[str, str] | None = None, to: str = NEVER_WROTE, **extra: Any) -> Any:
    payload: dict[str, Any] = {"to": to, "from": WA_SENDER if to.startswith("whatsapp:") else SENDER, "content_sid": content_sid}
    if variables is not None:
        payload["content_variables"] = variables
    return outbound.post({**payload, **extra})


def test_an_approved_template_reaches_a_customer_who_never_wrote(outbound: Outbound) -> None:
    sid = outbound.twilio.add_template(variables={"1": "Zoë", "order": "A-1"})
    response = send(outbound, sid, {"1": "Ada", "order": "B-7"})
    assert response.status_code == 202, response.body
    sent = body_of(response)
    # What a re-send needs is kept with the message: the template and its variables.
    assert sent["whatsapp"] == {"content_sid": sid, "content_variables": '{"1":"Ada","order":"B-7"}'}
    assert sent["channel"] == "whatsapp"
    (form,) = outbound.twilio.forms()
    assert (form["ContentSid"], json.loads(form["ContentVariables"])) == (sid, {"1": "Ada", "order": "B-7"})
    assert "Body" not in form
    assert sorted(outbound.twilio.content_reads) == sorted([f"/v1/Content/{sid}", f"/v1/Content/{sid}/ApprovalRequests"])


@pytest.mark.parametrize(
    ("status", "twilio_code"),
    [("paused", 63041), ("rejected", 63040), ("disabled", 63042), ("pending", None), ("received", None), ("unsubmitted", None)],
)
def test_a_template_not_approved_for_whatsapp_is_refused_naming_its_status(
    outbound: Outbound, status: str, twilio_code: int | None
) -> None:
    sid = outbound.twilio.add_template(whatsapp={"status": status})
    response = send(outbound, sid)
    assert response.status_code == 400
    error = body_of(response)["error"]
    assert (error["code"], error["twilio_code"], error["retryable"]) == ("template_not_approved", twilio_code, False)
    assert f"is {status} for WhatsApp" in error["message"]
    assert outbound.twilio.requests == []  # Twilio's Messages API never heard of it
    assert MessageModel.count() == 0 and FailedMessageModel.count() == 0


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"1": "Ada", "order": "B-7", "coupon": "SECRET-10"}, "not declared by the template: coupon"),
        ({"1": "Ada"}, "declared and missing: order"),
        (None, "declared and missing: 1, order"),
        ({"2": "Ada", "order": "B-7"}, "not declared by the template: 2; declared and missing: 1"),
    ],
)
def test_variables_must_be_exactly_the_declared_ones(outbound: Outbound, given: dict[str, str] | None, says: str) -> None:
    sid = outbound.twilio.add_template(variables={"1": "Zoë", "order": "A-1"})
    response = send(outbound, sid, given)
    assert response.status_code == 400
    error = body_of(response)["error"]
    assert (error["code"], error["retryable"]) == ("template_variables_invalid", False)
    assert error["message"].endswith(says)
    assert "Ada" not in error["message"] and "SECRET" not in error["message"]  # names, never values
    assert outbound.twilio.requests == []
    assert MessageModel.count() == 0


def test_a_template_without_variables_takes_none(outbound: Outbound) -> None:
    sid = outbound.twilio.add_template()
    assert send(outbound, sid).status_code == 202
    assert body_of(send(outbound, sid, {"1": "x"}))["error"]["code"] == "template_variables_invalid"


def test_an_unknown_template_is_refused(outbound: Outbound) -> None:
    response = send(outbound, "HX" + "0" * 32)
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "template_not_found"
    assert outbound.twilio.requests == []


def test_an_sms_template_needs_no_whatsapp_approval(outbound: Outbound) -> None:
    sid = outbound.twilio.add_template(whatsapp={"status": "paused"}, variables={"1": "x"})
    response = send(outbound, sid, {"1": "Ada"}, to="+15005550010")
    assert response.status_code == 202, response.body
    assert outbound.twilio.content_reads == [f"/v1/Content/{sid}"]  # the variables only


def test_what_the_content_api_said_is_reused_within_its_bound(outbound: Outbound) -> None:
    sid = outbound.twilio.add_template(variables={"1": "x"})
    assert send(outbound, sid, {"1": "a"}).status_code == 202
    reads = len(outbound.twilio.content_reads)
    outbound.twilio.set_template_status(sid, "paused")
    # Approved is kept 5 minutes: the pause is not seen yet, and nothing is read again.
    assert send(outbound, sid, {"1": "b"}).status_code == 202
    assert len(outbound.twilio.content_reads) == reads
    assert len(outbound.twilio.requests) == 2


def test_the_cache_keeps_approved_5_minutes_any_other_status_30_seconds_and_is_bounded() -> None:
    templates = outbound_module("templates")
    now = [1000.0]
    cache = templates.TtlCache(limit=2, clock=lambda: now[0])
    cache.put(("approval", "AC1", "HX1"), "approved", templates.APPROVED_SECONDS)
    cache.put(("approval", "AC1", "HX2"), "paused", templates.UNAPPROVED_SECONDS)
    now[0] += 29
    assert (cache.get(("approval", "AC1", "HX1")), cache.get(("approval", "AC1", "HX2"))) == ("approved", "paused")
    now[0] += 2
    assert cache.get(("approval", "AC1", "HX2")) is None
    now[0] += 268
    assert cache.get(("approval", "AC1", "HX1")) == "approved"
    now[0] += 2
    assert cache.get(("approval", "AC1", "HX1")) is None
    for n in range(3):
        cache.put(("variables", "AC1", f"HX{n}"), n, 60)
    assert cache.get(("variables", "AC1", "HX0")) is None  # the least recently used went
    assert (templates.APPROVED_SECONDS, templates.UNAPPROVED_SECONDS, templates.MAX_TEMPLATES) == (300.0, 30.0, 1024)


def test_a_status_not_approved_is_read_again_after_30_seconds(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = __import__("chalicelib.templates", fromlist=["_cache"])
    sid = outbound.twilio.add_template(whatsapp={"status": "pending"})
    assert send(outbound, sid).status_code == 400
    outbound.twilio.set_template_status(sid, "approved")
    assert send(outbound, sid).status_code == 400  # still the cached pending
    later = time.monotonic() + templates.UNAPPROVED_SECONDS + 1
    monkeypatch.setattr(templates._cache, "_clock", lambda: later)
    assert send(outbound, sid).status_code == 202


def test_the_cache_is_per_account(outbound: Outbound) -> None:
    templates = __import__("chalicelib.templates", fromlist=["declared_variables"])
    sid = outbound.twilio.add_template(variables={"1": "x"})
    settings = outbound.settings()
    assert templates.declared_variables(settings, sid) == frozenset({"1"})
    other = replace(settings, account=replace(settings.account, account_sid="AC" + "f" * 32))
    with pytest.raises(Exception) as raised:
        templates.declared_variables(other, sid)  # another account: not served from the first's entry
    assert getattr(raised.value, "code", None) == "twilio_authentication_failed"


def test_a_content_api_that_does_not_answer_is_a_retryable_503_and_nothing_is_sent(outbound: Outbound) -> None:
    templates = __import__("chalicelib.templates", fromlist=["check_template"])
    request_module = __import__("chalicelib.request", fromlist=["OutboundRequest"])
    settings = replace(outbound.settings(), twilio_content_api_base_url="http://127.0.0.1:1")
    request = request_module.OutboundRequest.from_json(
        json.dumps({"to": NEVER_WROTE, "from": WA_SENDER, "content_sid": "HX" + "a" * 32}), settings
    )
    with pytest.raises(TwilioUnavailable) as raised:
        templates.check_template(request, settings)
    assert raised.value.retryable and raised.value.http_status == 503
    assert outbound.twilio.requests == []


def test_the_worker_refuses_a_stored_send_whose_template_was_paused_since(outbound: Outbound) -> None:
    sid = outbound.twilio.add_template(variables={"1": "x"})
    outbound.twilio.fail(500, count=-1)
    retry_id = body_of(send(outbound, sid, {"1": "Ada"}))["sid"]
    assert retry_id.startswith("RQ")
    outbound.twilio.clear()
    outbound_templates = __import__("chalicelib.templates", fromlist=["reset"])
    outbound_templates.reset()  # a later container: nothing cached
    outbound.twilio.set_template_status(sid, "paused")
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    report = worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=time.time() + 3600).as_dict()
    assert report["dead"] == [retry_id]
    assert outbound.twilio.requests == []
    assert FailedMessageModel.get(retry_id).category == TemplateNotApproved.code


def test_the_worker_reschedules_when_the_content_api_does_not_answer(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = outbound.twilio.add_template()
    outbound.twilio.fail(500, count=-1)
    retry_id = body_of(send(outbound, sid))["sid"]
    outbound.twilio.clear()
    templates = __import__("chalicelib.templates", fromlist=["reset"])
    templates.reset()
    monkeypatch.setattr(templates, "content_base_url", lambda settings: "http://127.0.0.1:1")
    attempts = int(FailedMessageModel.get(retry_id).attempts)
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    report = worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=time.time() + 3600).as_dict()
    assert report["rescheduled"] == [retry_id]
    item = FailedMessageModel.get(retry_id)
    assert (item.state, item.retry_state, int(item.attempts), item.category) == (
        "retrying",
        failed_sends.DUE,
        attempts + 1,
        "twilio_unavailable",
    )
    assert item.next_attempt_at > time.time()
    assert outbound.twilio.requests == []


def test_a_send_put_back_after_whatsapps_rate_limit_is_sent_again_as_a_new_message_naming_the_first(outbound: Outbound) -> None:
    """What the status service stores on a 63018 (its chalicelib/requeue.py), as the worker runs it."""
    sid = outbound.twilio.add_template(variables={"1": "x"})
    first = "SM" + "9" * 32
    request: dict[str, Any] = {
        "to": NEVER_WROTE,
        "from_number": WA_SENDER,
        "messaging_service_sid": None,
        "body": None,
        "media_urls": [],
        "status_callback": "https://status.example.com/twilio/status",
        "validity_period": None,
        "max_price": None,
        "content_sid": sid,
        "content_variables": '{"1":"Ada"}',
        "requeued_from": first,
    }
    kept = failed_sends.kept(request, {"code": "rate_limited", "twilio_code": 63018}, 1, time.time() - 1, outbound.settings())
    failed_sends.save(kept)
    worker = __import__("chalicelib.worker", fromlist=["retry_due"])
    assert worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0).as_dict()["sent"] == [kept.id]
    (form,) = outbound.twilio.forms()
    assert (form["To"], form["ContentSid"], form["ContentVariables"]) == (NEVER_WROTE, sid, '{"1":"Ada"}')
    again = body_of(outbound.get(kept.id))
    assert again["sid"] != first and again["whatsapp"]["requeued_from"] == first
