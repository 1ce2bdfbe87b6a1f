"""The sandbox plays the customer: POST /_sandbox/inbound creates an inbound Message and posts
its signed webhook, as Twilio would, unless told not to (devstack/sandbox/inbound.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from twilio.request_validator import RequestValidator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from tests.support.sandbox import CallbackReceiver, callback_receiver, running_sandbox, twilio_client

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
OTHER_SID, OTHER_TOKEN = "AC" + "ab" * 16, "other-account-token-0000000000000"
CUSTOMER, NUMBER = "+15005550010", "+15005550006"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    yield from running_sandbox()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


def inbound(sandbox: SandboxServer, **spec: Any) -> requests.Response:
    return requests.post(f"{sandbox.url}/_sandbox/inbound", json=spec, timeout=30)


def test_an_inbound_message_is_listed_like_twilios_and_its_webhook_is_signed(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    url = receiver.base_url + "/twilio/inbound#rc=3&rp=5xx,ct,rt"
    response = inbound(sandbox, **{"from": CUSTOMER, "to": NUMBER, "body": "hello", "url": url})
    assert response.status_code == 201, response.text
    answer = response.json()
    sid = answer["sid"]
    assert sid.startswith("SM") and answer["webhook"] == {"status": 200, "attempts": 1, "error": None}
    [webhook] = receiver.for_sid(sid)
    form = webhook.form
    assert (form["From"], form["To"], form["Body"], form["AccountSid"], form["NumMedia"]) == (CUSTOMER, NUMBER, "hello", SID, "0")
    assert form["SmsStatus"] == "received"
    # Signed as Twilio signs: the URL without its fragment.
    signed = receiver.base_url + "/twilio/inbound"
    assert RequestValidator(TOKEN).validate(signed, webhook.form, webhook.headers["X-Twilio-Signature"])
    client = twilio_client(sandbox.url, SID, TOKEN)
    [listed] = [m for m in client.messages.list(date_sent_after=None) if m.sid == sid]
    assert (listed.direction, listed.status, listed.from_, listed.to, listed.body) == ("inbound", "received", CUSTOMER, NUMBER, "hello")
    assert listed.date_sent is not None


def test_deliver_false_only_creates_the_message_and_deliver_posts_it_later(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    url = receiver.base_url + "/twilio/inbound"
    answer = inbound(sandbox, **{"from": CUSTOMER, "to": NUMBER, "body": "lost", "url": url, "deliver": False}).json()
    assert answer["webhook"] is None
    time.sleep(0.1)
    assert receiver.for_sid(answer["sid"]) == []
    late = requests.post(f"{sandbox.url}/_sandbox/inbound/{answer['sid']}/deliver", timeout=30)
    assert late.status_code == 200 and late.json()["webhook"]["status"] == 200
    again = requests.post(f"{sandbox.url}/_sandbox/inbound/{answer['sid']}/deliver", timeout=30)
    assert again.status_code == 200
    first, second = receiver.for_sid(answer["sid"])
    # One event: the same idempotency token on every delivery of it.
    assert first.headers["I-Twilio-Idempotency-Token"] == second.headers["I-Twilio-Idempotency-Token"]
    records = requests.get(f"{sandbox.url}/_sandbox/inbound", timeout=10).json()
    assert [r["status"] for r in records] == [200, 200]


def test_a_failing_webhook_is_tried_again_then_given_up(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    receiver.fail_first = 100
    answer = inbound(sandbox, **{"from": CUSTOMER, "to": NUMBER, "body": "x", "url": receiver.base_url + "/twilio/inbound"}).json()
    assert answer["webhook"]["status"] == 500 and answer["webhook"]["attempts"] == 4


def test_another_accounts_message_is_its_own_and_signed_with_its_token(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    added = requests.post(f"{sandbox.url}/_sandbox/accounts", json={"account_sid": OTHER_SID, "auth_token": OTHER_TOKEN}, timeout=10)
    assert added.status_code == 201
    # No default URL for an account but the first: a tenant's path is not the sandbox's to guess.
    refused = inbound(sandbox, **{"from": CUSTOMER, "to": NUMBER, "account_sid": OTHER_SID})
    assert refused.status_code == 400
    url = receiver.base_url + "/twilio/acme/inbound"
    sid = inbound(sandbox, **{"from": CUSTOMER, "to": NUMBER, "body": "hi", "account_sid": OTHER_SID, "url": url}).json()["sid"]
    [webhook] = receiver.for_sid(sid)
    assert webhook.form["AccountSid"] == OTHER_SID
    assert RequestValidator(OTHER_TOKEN).validate(url, webhook.form, webhook.headers["X-Twilio-Signature"])
    assert sid not in {m.sid for m in twilio_client(sandbox.url, SID, TOKEN).messages.list()}
    assert sid in {m.sid for m in twilio_client(sandbox.url, OTHER_SID, OTHER_TOKEN).messages.list()}


def test_an_mms_carries_the_media_hosted_for_it(sandbox: SandboxServer, receiver: CallbackReceiver) -> None:
    sid = "MM" + "0f" * 16
    hosted = requests.post(
        f"{sandbox.url}/_sandbox/media?message_sid={sid}", data=b"\x89PNG...", headers={"Content-Type": "image/png"}, timeout=10
    ).json()
    answer = inbound(sandbox, **{"from": CUSTOMER, "to": NUMBER, "sid": sid, "url": receiver.base_url + "/twilio/inbound"}).json()
    assert answer["sid"] == sid
    [webhook] = receiver.for_sid(sid)
    assert (webhook.form["NumMedia"], webhook.form["MediaUrl0"], webhook.form["MediaContentType0"]) == ("1", hosted["url"], "image/png")
    client = twilio_client(sandbox.url, SID, TOKEN)
    [media] = client.messages(sid).media.list()
    assert (media.sid, media.content_type) == (hosted["sid"], "image/png")
    assert client.messages(sid).fetch().num_media == "1"


@pytest.mark.parametrize(
    "spec",
    [
        {"to": NUMBER},
        {"from": "12345", "to": NUMBER},
        {"from": CUSTOMER, "to": NUMBER, "deliver": "no"},
        {"from": CUSTOMER, "to": NUMBER, "colour": "blue"},
        {"from": CUSTOMER, "to": NUMBER, "body": "x" * 1601},
        {"from": CUSTOMER, "to": NUMBER, "sid": "SMnot"},
    ],
)
def test_a_bad_request_is_400(sandbox: SandboxServer, spec: dict[str, object]) -> None:
    assert inbound(sandbox, **spec).status_code == 400
