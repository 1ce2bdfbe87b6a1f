"""The sandbox's answers, through a validating Prism proxy: what it returns is what Twilio's spec says."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from devstack.sandbox.messages import Message
from tests.support.prism import OUTBOUND_SENDS, RecordingHttpClient, violations
from tests.support.sandbox import CallbackReceiver, callback_receiver, twilio_client

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


@pytest.mark.parametrize("label", sorted(OUTBOUND_SENDS))
def test_sandbox_answers_every_send_as_the_spec_says(
    prism_sandbox_url: str, contract_sandbox: SandboxServer, receiver: CallbackReceiver, label: str
) -> None:
    http = RecordingHttpClient()
    client = twilio_client(prism_sandbox_url, SID, TOKEN, http_client=http)
    send = dict(OUTBOUND_SENDS[label])
    if "status_callback" in send:  # the sandbox really posts callbacks: keep them on this machine
        send["status_callback"] = receiver.base_url + "/twilio/status"
    message = client.messages.create(**send)
    assert message.sid in contract_sandbox.sandbox.messages  # the sandbox answered, not a mock
    [(status, headers)] = http.answers
    assert status == 201 and violations(headers) == []


@pytest.mark.parametrize(("to", "status"), [("+15005550010", "delivered"), ("+15005550011", "undelivered"), ("+15005550012", "failed")])
def test_sandbox_fetch_in_every_final_status_matches_the_spec(prism_sandbox_url: str, to: str, status: str) -> None:
    base = f"{prism_sandbox_url}/2010-04-01/Accounts/{SID}/Messages"
    sid = requests.post(base + ".json", data={"To": to, "From": "+15005550006", "Body": "x"}, auth=(SID, TOKEN), timeout=10).json()["sid"]
    deadline = time.monotonic() + 5
    while (response := requests.get(f"{base}/{sid}.json", auth=(SID, TOKEN), timeout=10)).json()["status"] != status:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)
    assert response.status_code == 200
    assert violations(dict(response.headers)) == []


def test_proxy_check_bites_on_a_resource_off_the_schema(prism_sandbox_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Message.resource

    def off_schema(self: Message) -> dict[str, Any]:
        return {**real(self), "sid": "XX123", "error_code": "none", "date_created": "2026-11-24T13:55:21Z"}

    monkeypatch.setattr(Message, "resource", off_schema)
    response = requests.post(
        f"{prism_sandbox_url}/2010-04-01/Accounts/{SID}/Messages.json",
        data={"To": "+15005550010", "From": "+15005550006", "Body": "x"},
        auth=(SID, TOKEN),
        timeout=10,
    )
    # Prism does not know Twilio's date-time-rfc-2822 format; tests/unit/test_sandbox.py checks it.
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["type"].endswith("#VIOLATIONS")
    assert {tuple(v["location"]) for v in body["validation"]} == {("response", "body", "sid"), ("response", "body", "error_code")}
