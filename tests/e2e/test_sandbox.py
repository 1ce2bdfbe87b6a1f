"""The Twilio sandbox as the local stack runs it (`python -m devstack.sandbox`), driven by the SDK."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from tests.support.forms import MultiForm
from tests.support.sandbox import CallbackReceiver, callback_receiver, twilio_client
from tests.support.stack import RunningStack, wait_for

# The stack hands its children the environment's credentials, else the local defaults.
SID = os.environ.get("TWILIO_ACCOUNT_SID") or LOCAL_ACCOUNT_SID
TOKEN = os.environ.get("TWILIO_AUTH_TOKEN") or LOCAL_AUTH_TOKEN
SENDER, CUSTOMER = "+15005550006", "+15005550010"


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


@pytest.fixture
def client(stack: RunningStack) -> Client:
    return twilio_client(stack.url("sandbox"), SID, TOKEN)


def test_stack_sandbox_sends_signed_callbacks_in_order(stack: RunningStack, client: Client, receiver: CallbackReceiver) -> None:
    url = receiver.base_url + "/twilio/status"
    message = client.messages.create(to=CUSTOMER, from_=SENDER, body="From the stack", status_callback=url)
    assert message.sid is not None and message.status == "queued"
    sid = message.sid
    assert wait_for(lambda: len(receiver.for_sid(sid)) >= 3, timeout=15)
    callbacks = receiver.for_sid(sid)
    assert [c.form["MessageStatus"] for c in callbacks] == ["queued", "sent", "delivered"]
    assert all(RequestValidator(TOKEN).validate(url, MultiForm(c.pairs), c.headers["X-Twilio-Signature"]) for c in callbacks)
    assert client.messages(message.sid).fetch().status == "delivered"


def test_stack_sandbox_fault_reaches_the_sdk_and_the_request_log(stack: RunningStack, client: Client) -> None:
    stack.http.delete(stack.url("sandbox", "/_sandbox/requests"), timeout=5)
    armed = stack.http.post(stack.url("sandbox", "/_sandbox/faults"), json={"status": 500, "count": 1}, timeout=5)
    assert armed.status_code == 200
    try:
        with pytest.raises(TwilioRestException) as raised:
            client.messages.create(to=CUSTOMER, from_=SENDER, body="hits the fault")
        assert (raised.value.status, raised.value.code) == (500, 20500)
        assert client.messages.create(to=CUSTOMER, from_=SENDER, body="after the fault").status == "queued"
    finally:
        stack.http.delete(stack.url("sandbox", "/_sandbox/faults"), timeout=5)
    log = stack.http.get(stack.url("sandbox", "/_sandbox/requests"), timeout=5).json()
    assert [(e["status"], e["form"]["Body"]) for e in log] == [(500, ["hits the fault"]), (201, ["after the fault"])]


def test_stack_sandbox_rejects_a_magic_number_and_wrong_credentials(stack: RunningStack, client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="+15005550004", from_=SENDER, body="opted out")
    assert (raised.value.status, raised.value.code) == (400, 21610)
    with pytest.raises(TwilioRestException) as raised:
        twilio_client(stack.url("sandbox"), SID, TOKEN + "x").messages.create(to=CUSTOMER, from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (401, 20003)
