"""WhatsApp templates and WhatsApp's rate limit through the local stack: the outbound service
reads each template's approval and variables from the sandbox's Content API before any send,
a 63018 in a status callback puts the message back once through the failed-message store, and
message.received carries an inbound WhatsApp message's own fields."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import requests

from tests.support.forms import new_sid, whatsapp
from tests.support.handoff import Queue
from tests.support.outbound_stack import JSON_HEADERS, post_message, sandbox_requests
from tests.support.stack import RunningStack, wait_for

SENDER = "whatsapp:+15005550006"
# The sandbox fails every send to this number with 63018 (WhatsApp's rate limit).
RATE_LIMITED = "whatsapp:+15005550017"


def template(stack: RunningStack, status: str = "approved", **spec: Any) -> str:
    """A template of the stack's account at the sandbox, in `status` for WhatsApp; its SID."""
    body = {"friendly_name": "order_update", "variables": {"1": "Zoë", "order": "A-1"}, "whatsapp": {"status": status}, **spec}
    response = stack.http.post(stack.url("sandbox", "/_sandbox/content"), json=body, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def content_reads(stack: RunningStack, sid: str) -> list[str]:
    entries = stack.http.get(stack.url("sandbox", "/_sandbox/content-requests"), timeout=10).json()
    return [str(e["path"]) for e in entries if sid in e["path"]]


def send_template(stack: RunningStack, to: str, content_sid: str, variables: dict[str, str] | None) -> requests.Response:
    payload: dict[str, Any] = {"to": to, "from": SENDER, "content_sid": content_sid}
    if variables is not None:
        payload["content_variables"] = variables
    return post_message(stack, payload)


def sent_to(stack: RunningStack, to: str) -> list[dict[str, Any]]:
    return [form for form in sandbox_requests(stack) if form.get("To") == to]


def test_an_approved_template_reaches_a_customer_who_never_wrote(stack: RunningStack) -> None:
    to = "whatsapp:+15005550301"
    sid = template(stack)
    response = send_template(stack, to, sid, {"1": "Ada", "order": "B-7"})
    assert response.status_code == 202, response.text
    message = response.json()
    assert (message["channel"], message["whatsapp"]["content_sid"]) == ("whatsapp", sid)
    (form,) = sent_to(stack, to)
    assert (form["ContentSid"], form["ContentVariables"], form["From"]) == (sid, '{"1":"Ada","order":"B-7"}', SENDER)
    assert "Body" not in form
    assert sorted(content_reads(stack, sid)) == sorted([f"/v1/Content/{sid}", f"/v1/Content/{sid}/ApprovalRequests"])
    delivered = wait_for(lambda: stack.get_message(message["sid"]).json()["status"] == "delivered", timeout=20)
    assert delivered, stack.get_message(message["sid"]).json()["status"]


def test_a_paused_template_is_refused_and_twilio_never_hears_of_it(stack: RunningStack) -> None:
    to = "whatsapp:+15005550302"
    sid = template(stack, "paused")
    response = send_template(stack, to, sid, {"1": "Ada", "order": "B-7"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["twilio_code"], error["retryable"]) == ("template_not_approved", 63041, False)
    assert "paused" in error["message"]
    assert sent_to(stack, to) == []
    # Approved at Twilio since: a status other than approved is kept 30 s at most.
    stack.http.post(stack.url("sandbox", f"/_sandbox/content/{sid}"), json={"status": "approved"}, timeout=10).raise_for_status()
    assert send_template(stack, to, sid, {"1": "Ada", "order": "B-7"}).status_code == 400  # still the kept answer


def test_bad_variables_are_refused_naming_them_and_nothing_is_sent(stack: RunningStack) -> None:
    to = "whatsapp:+15005550303"
    sid = template(stack)
    extra = send_template(stack, to, sid, {"1": "Ada", "order": "B-7", "coupon": "TEN-OFF"})
    missing = send_template(stack, to, sid, {"1": "Ada"})
    unknown = send_template(stack, to, "HX" + "0" * 32, None)
    for response, says in ((extra, "coupon"), (missing, "order")):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "template_variables_invalid" and says in error["message"]
        assert "TEN-OFF" not in error["message"] and "Ada" not in error["message"]
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "template_not_found")
    assert sent_to(stack, to) == []


def requeue_id(message_sid: str) -> str:
    """The id the status service gives the send it puts back (its chalicelib/requeue.py)."""
    return "RQ" + hashlib.sha256(f"requeue|{message_sid}".encode()).hexdigest()[:32]


def run_worker(stack: RunningStack, at: float) -> dict[str, Any]:
    url = stack.url("outbound", "/_local/retry-failed")
    response = stack.http.post(url, json={"at": at}, headers=JSON_HEADERS, timeout=60)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def test_whatsapps_rate_limit_puts_the_message_back_once_and_a_second_one_fails_it(stack: RunningStack) -> None:
    sid = template(stack, variables={"1": "x"})
    response = send_template(stack, RATE_LIMITED, sid, {"1": "Ada"})
    assert response.status_code == 202, response.text
    first = response.json()["sid"]
    retry_id = requeue_id(first)

    def failed(sid: str) -> dict[str, Any] | None:
        message: dict[str, Any] = stack.get_message(sid).json()
        return message if message["status"] == "failed" else None

    assert wait_for(lambda: failed(first), timeout=20)
    assert failed(first)["error_code"] == 63018  # type: ignore[index]
    # The status service put the same send back, due in a minute or two.
    waiting = wait_for(lambda: stack.get_message(retry_id).json() if stack.get_message(retry_id).status_code == 200 else None)
    assert waiting and waiting["status"] == "retrying", waiting
    assert run_worker(stack, time.time())["sent"] == []  # not due yet: the backoff
    report = run_worker(stack, time.time() + 130)
    assert retry_id in report["sent"], report
    second = stack.get_message(retry_id).json()
    assert second["sid"] != first and second["whatsapp"]["requeued_from"] == first
    forms = sent_to(stack, RATE_LIMITED)
    assert [(f["ContentSid"], f["ContentVariables"]) for f in forms] == [(sid, '{"1":"Ada"}')] * 2  # the same content
    # WhatsApp's rate limit again: this time the message fails for good.
    assert wait_for(lambda: failed(second["sid"]), timeout=20)
    time.sleep(1)  # the callback's requeue, if any, would be written by now
    assert stack.get_message(requeue_id(second["sid"])).status_code == 404
    assert retry_id not in run_worker(stack, time.time() + 600)["sent"]
    assert len(sent_to(stack, RATE_LIMITED)) == 2


def test_message_received_carries_the_inbound_whatsapp_fields(stack: RunningStack) -> None:
    sid = new_sid()
    form = whatsapp(sid=sid) + [("ButtonPayload", "confirm-42"), ("ReferralCtwaClid", "ARAk")]
    assert stack.post_webhook("inbound", form).status_code == 200
    queue = Queue(stack)
    events = wait_for(lambda: queue.of_sid(sid), timeout=30)  # each validated against events.v1.json
    assert events, "message.received was not published"
    (received,) = events
    assert (received["detail-type"], received["detail"]["schema_version"]) == ("message.received", "1.5")
    fields = received["detail"]["whatsapp"]
    assert {k: fields[k] for k in ("profile_name", "wa_id", "button_payload", "referral_ctwa_clid")} == {
        "profile_name": "Zoë",
        "wa_id": "15005550010",
        "button_payload": "confirm-42",
        "referral_ctwa_clid": "ARAk",
    }
    assert fields["window_closes_at"] == stack.get_message(sid).json()["whatsapp"]["window_closes_at"]
