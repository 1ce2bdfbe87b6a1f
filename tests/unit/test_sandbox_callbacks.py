"""The sandbox's status callbacks, checked by a local receiver with Twilio's RequestValidator."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from twilio.request_validator import RequestValidator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from tests.support.forms import MultiForm
from tests.support.sandbox import CallbackReceiver, Received, callback_receiver, running_sandbox

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
SENDER, CUSTOMER = "+15005550006", "+15005550010"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    yield from running_sandbox()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


def send(sandbox: SandboxServer, callback: str, **fields: str) -> str:
    form = {"To": CUSTOMER, "From": SENDER, "Body": "Ünïcode and plain", "StatusCallback": callback, **fields}
    form = {k: v for k, v in form.items() if v}
    response = requests.post(f"{sandbox.url}/2010-04-01/Accounts/{SID}/Messages.json", data=form, auth=(SID, TOKEN), timeout=10)
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


def wait_callbacks(receiver: CallbackReceiver, sid: str, count: int, timeout: float = 10) -> list[Received]:
    deadline = time.monotonic() + timeout
    while len(receiver.for_sid(sid)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # nothing more may arrive
    return receiver.for_sid(sid)


def assert_signed(url: str, callback: Received) -> None:
    signature = callback.headers["X-Twilio-Signature"]
    assert RequestValidator(TOKEN).validate(url, MultiForm(callback.pairs), signature)
    assert not RequestValidator("another-token").validate(url, MultiForm(callback.pairs), signature)


def test_delivered_message_sends_signed_queued_sent_delivered(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    url = receiver.base_url + "/twilio/status?tenant=acme&x=1"
    sid = send(sandbox, url)
    callbacks = wait_callbacks(receiver, sid, 3)
    assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
    for callback in callbacks:
        assert callback.path == "/twilio/status?tenant=acme&x=1"
        assert_signed(url, callback)
        assert callback.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        form = callback.form
        assert form["SmsSid"] == form["MessageSid"] == sid
        assert form["SmsStatus"] == form["MessageStatus"]
        assert (form["AccountSid"], form["From"], form["To"], form["ApiVersion"]) == (SID, SENDER, CUSTOMER, "2010-04-01")
        assert "ErrorCode" not in form and "MessagingServiceSid" not in form
    assert "RawDlrDoneDate" not in callbacks[0].form and "RawDlrDoneDate" not in callbacks[1].form
    assert re.fullmatch(r"\d{10}", callbacks[2].form["RawDlrDoneDate"])
    tokens = [c.headers["I-Twilio-Idempotency-Token"] for c in callbacks]
    assert len(set(tokens)) == 3 and all(tokens)


FAILURES = [
    ("+15005550011", ["queued", "sent", "undelivered"], "30003"),
    ("+15005550012", ["queued", "failed"], "30008"),
    ("+15005550013", ["queued", "sent", "undelivered"], "30005"),
    ("+15005550014", ["queued", "sent", "undelivered"], "30006"),
    ("+15005550015", ["queued", "sent", "undelivered"], "30007"),
    ("+15005550016", ["queued", "failed"], "21610"),
    ("+15005550017", ["queued", "failed"], "63018"),
]


@pytest.mark.parametrize(("to", "statuses", "code"), FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_recipients_end_with_their_error(
    sandbox: SandboxServer, receiver: CallbackReceiver, to: str, statuses: list[str], code: str
) -> None:
    url = receiver.base_url + "/twilio/status"
    sid = send(sandbox, url, To=to)
    callbacks = wait_callbacks(receiver, sid, len(statuses))
    assert [c.form["MessageStatus"] for c in callbacks] == statuses
    for callback in callbacks:
        assert_signed(url, callback)
    assert "ErrorCode" not in callbacks[0].form
    assert callbacks[-1].form["ErrorCode"] == code
    assert ("RawDlrDoneDate" in callbacks[-1].form) == (statuses[-1] == "undelivered")


def test_messaging_service_send_gets_a_sender_and_names_the_service(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    url = receiver.base_url + "/twilio/status"
    service = "MG" + "a" * 32
    sid = send(sandbox, url, From="", MessagingServiceSid=service)
    callbacks = wait_callbacks(receiver, sid, 3)
    assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
    assert all(c.form["MessagingServiceSid"] == service and c.form["From"] == SENDER for c in callbacks)
    for callback in callbacks:
        assert_signed(url, callback)


def test_failed_callback_is_retried_with_the_same_token(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    receiver.fail_first = 2
    sid = send(sandbox, receiver.base_url + "/twilio/status")
    callbacks = wait_callbacks(receiver, sid, 5)
    assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "queued", "queued", "sent", "delivered"]
    assert len({c.headers["I-Twilio-Idempotency-Token"] for c in callbacks[:3]}) == 1
    records = requests.get(sandbox.url + "/_sandbox/callbacks", timeout=5).json()
    assert [(r["params"]["MessageStatus"], r["status"], r["attempts"]) for r in records] == [
        ("queued", 200, 3),
        ("sent", 200, 1),
        ("delivered", 200, 1),
    ]


def test_unreachable_callback_is_logged_after_retries_never_dropped_silently(
    sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once this block ends: nothing listens there
    caplog.set_level(logging.WARNING, logger="devstack.sandbox.lifecycle")
    sid = send(sandbox, f"http://127.0.0.1:{port}/twilio/status", To="+15005550012")
    deadline = time.monotonic() + 10
    while len(requests.get(sandbox.url + "/_sandbox/callbacks", timeout=5).json()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    records = requests.get(sandbox.url + "/_sandbox/callbacks", timeout=5).json()
    assert [(r["params"]["MessageStatus"], r["status"], r["attempts"]) for r in records] == [("queued", None, 4), ("failed", None, 4)]
    assert all(r["error"] for r in records)
    warnings = [r for r in caplog.records if r.getMessage() == "status callback not accepted"]
    assert [(w.message_sid, w.attempts) for w in warnings] == [(sid, 4), (sid, 4)]  # type: ignore[attr-defined]
    assert all(CUSTOMER not in r.getMessage() and "+15005550012" not in str(vars(r)) for r in caplog.records)


def test_no_status_callback_sends_nothing_but_status_still_moves(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    sid = send(sandbox, "")
    deadline = time.monotonic() + 5
    while sandbox.sandbox.messages[sid].status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.sandbox.messages[sid].status == "delivered"
    assert requests.get(sandbox.url + "/_sandbox/callbacks", timeout=5).json() == []
