"""Twilio's own Python SDK against the sandbox: what the outbound service will do, end to end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from tests.support.sandbox import CallbackReceiver, running_sandbox, twilio_client

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
SENDER, CUSTOMER = "+15005550006", "+15005550010"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    yield from running_sandbox()


@pytest.fixture
def client(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Client:
    # Set in the environment, these would make the SDK rewrite 127.0.0.1 into a Twilio edge host.
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    return twilio_client(sandbox.url, SID, TOKEN)


def test_sdk_creates_and_fetches_a_message(client: Client, sandbox: SandboxServer) -> None:
    message = client.messages.create(to=CUSTOMER, from_=SENDER, body="Hello from the SDK")
    assert message.sid is not None and message.sid.startswith("SM")
    assert (message.status, message.to, message.from_, message.num_segments) == ("queued", CUSTOMER, SENDER, "1")
    assert message.date_created is not None and message.date_created.tzinfo is not None
    deadline = time.monotonic() + 5
    while (fetched := client.messages(message.sid).fetch()).status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fetched.status == "delivered"
    assert fetched.date_sent is not None
    [logged] = sandbox.sandbox.request_log()
    assert logged["form"] == {"To": [CUSTOMER], "From": [SENDER], "Body": ["Hello from the SDK"]}


def test_sdk_sends_every_option_the_outbound_service_uses(client: Client, sandbox: SandboxServer) -> None:
    receiver = CallbackReceiver()
    callback = receiver.base_url + "/twilio/status"
    media = ["https://example.com/a.jpg", "https://example.com/b.png"]
    message = client.messages.create(
        to=CUSTOMER,
        messaging_service_sid="MG" + "b" * 32,
        body="Two pictures",
        media_url=media,
        status_callback=callback,
        validity_period=600,
        max_price=0.05,
    )
    assert message.sid is not None and message.sid.startswith("MM")
    assert (message.status, message.num_media, message.messaging_service_sid) == ("accepted", "2", "MG" + "b" * 32)
    [logged] = sandbox.sandbox.request_log()
    assert logged["form"]["MediaUrl"] == media
    assert logged["form"]["ValidityPeriod"] == ["600"] and logged["form"]["MaxPrice"] == ["0.05"]
    assert logged["form"]["StatusCallback"] == [callback]
    deadline = time.monotonic() + 5
    while len(receiver.for_sid(message.sid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    receiver.close()
    assert [c.form["MessageStatus"] for c in receiver.for_sid(message.sid)] == ["queued", "sent", "delivered"]


@pytest.mark.parametrize(
    ("to", "from_", "code"),
    [("+15005550001", SENDER, 21211), ("+15005550009", SENDER, 21614), (CUSTOMER, "+15005550007", 21606)],
)
def test_sdk_raises_twilio_rest_exception_with_the_magic_code(client: Client, to: str, from_: str, code: int) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=to, from_=from_, body="never sent")
    assert (raised.value.status, raised.value.code) == (400, code)
    assert raised.value.msg


def test_sdk_sees_429_and_wrong_credentials(sandbox: SandboxServer) -> None:
    sandbox.sandbox.faults.set({"status": 429, "count": 1, "retry_after": 3})
    client = twilio_client(sandbox.url, SID, TOKEN)
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to=CUSTOMER, from_=SENDER, body="rate limited")
    assert (raised.value.status, raised.value.code) == (429, 20429)
    wrong = twilio_client(sandbox.url, SID, "not-the-token")
    with pytest.raises(TwilioRestException) as raised:
        wrong.messages.create(to=CUSTOMER, from_=SENDER, body="unauthenticated")
    assert (raised.value.status, raised.value.code) == (401, 20003)
