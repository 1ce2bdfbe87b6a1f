"""The sandbox's faults after a create, its Messages list, and API-key credentials."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30Validator
from twilio.base.exceptions import TwilioRestException

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import Sandbox, SandboxServer, start
from tests.support.sandbox import TWILIO_SPEC, twilio_client

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
KEY_SID, KEY_SECRET = "SK" + "3" * 32, "sandbox-api-key-secret"
SENDER, OTHER_SENDER = "+15005550006", "+15005550020"
CUSTOMER, OTHER_CUSTOMER = "+15005550010", "+15005550030"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    server = start(Sandbox(SID, TOKEN, callback_delay=0.01, api_keys={KEY_SID: KEY_SECRET}))
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def messages_url(server: SandboxServer) -> str:
    return f"{server.url}/2010-04-01/Accounts/{SID}/Messages.json"


def create(server: SandboxServer, to: str = CUSTOMER, sender: str = SENDER, body: str = "hello", timeout: float = 10) -> requests.Response:
    return requests.post(messages_url(server), data={"To": to, "From": sender, "Body": body}, auth=(SID, TOKEN), timeout=timeout)


def arm(server: SandboxServer, **fault: Any) -> None:
    requests.post(server.url + "/_sandbox/faults", json=fault, timeout=10).raise_for_status()


# --- faults after the create ----------------------------------------------------------------


def test_500_after_create_answers_the_error_yet_the_message_exists(server: SandboxServer) -> None:
    arm(server, status=500, after_create=True)
    response = create(server)
    assert (response.status_code, response.json()["code"]) == (500, 20500)
    (message,) = server.sandbox.messages.values()
    (entry,) = requests.get(server.url + "/_sandbox/requests", timeout=10).json()
    assert (entry["status"], entry["sid"], entry["error_code"], entry["auth_user"]) == (500, message.sid, 20500, SID)
    assert create(server).status_code == 201  # count 1: only the next create


def test_a_delayed_answer_is_lost_to_a_short_read_timeout_but_the_message_exists(server: SandboxServer) -> None:
    arm(server, delay=1)
    with pytest.raises(requests.ReadTimeout):
        create(server, timeout=0.3)
    assert len(server.sandbox.messages) == 1
    time.sleep(1)
    (entry,) = requests.get(server.url + "/_sandbox/requests", timeout=10).json()
    assert entry["status"] == 201 and entry["sid"] in server.sandbox.messages


def test_a_fault_before_the_create_creates_nothing(server: SandboxServer) -> None:
    arm(server, status=503, delay=0.2)
    started = time.monotonic()
    assert create(server).status_code == 503
    assert time.monotonic() - started >= 0.2
    assert server.sandbox.messages == {}


# --- the Messages list ----------------------------------------------------------------------


def test_the_list_filters_by_to_and_from_newest_first_and_matches_twilios_schema(server: SandboxServer) -> None:
    sids = [create(server, body=f"m{i}").json()["sid"] for i in range(3)]
    create(server, to=OTHER_CUSTOMER)
    create(server, sender=OTHER_SENDER)
    page = requests.get(messages_url(server), params={"To": CUSTOMER, "From": SENDER}, auth=(SID, TOKEN), timeout=10).json()
    assert [m["sid"] for m in page["messages"]] == sids[::-1]
    assert (page["page"], page["page_size"], page["start"], page["end"], page["next_page_uri"]) == (0, 50, 0, 2, None)
    spec = __import__("json").loads(TWILIO_SPEC.read_text())
    operation = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["get"]
    schema = {**operation["responses"]["200"]["content"]["application/json"]["schema"], "components": spec["components"]}
    OAS30Validator(schema).validate(page)


def test_the_sdk_pages_through_the_list(server: SandboxServer) -> None:
    for i in range(5):
        create(server, body=f"m{i}")
    client = twilio_client(server.url, SID, TOKEN)
    listed = client.messages.list(to=CUSTOMER, page_size=2)
    assert [m.body for m in listed] == [f"m{i}" for i in range(4, -1, -1)]
    first = client.messages.page(to=CUSTOMER, page_size=2)
    assert first.next_page_url is not None and "PageToken=" in first.next_page_url


@pytest.mark.parametrize(
    ("filters", "listed"),
    [
        ({"date_sent_after": timedelta(seconds=-60)}, 2),
        ({"date_sent_after": timedelta(seconds=60)}, 0),
        ({"date_sent_before": timedelta(seconds=60)}, 2),
        ({"date_sent_before": timedelta(seconds=-60)}, 0),
    ],
    ids=["after a minute ago", "after a minute from now", "before a minute from now", "before a minute ago"],
)
def test_the_sdk_filters_by_date_sent(server: SandboxServer, filters: dict[str, timedelta], listed: int) -> None:
    create(server)
    create(server)
    now = datetime.now(timezone.utc)
    client = twilio_client(server.url, SID, TOKEN)
    assert len(client.messages.list(to=CUSTOMER, **{name: now + delta for name, delta in filters.items()})) == listed


def test_date_sent_as_a_day_and_bad_values(server: SandboxServer) -> None:
    create(server)
    today = datetime.now(timezone.utc).date()
    for value, count in ((today.isoformat(), 1), ((today - timedelta(days=1)).isoformat(), 0)):
        page = requests.get(messages_url(server), params={"DateSent": value}, auth=(SID, TOKEN), timeout=10).json()
        assert len(page["messages"]) == count, value
    for bad in ({"DateSent>": "yesterday"}, {"PageSize": "0"}, {"PageSize": "1001"}, {"Page": "-1"}):
        response = requests.get(messages_url(server), params=bad, auth=(SID, TOKEN), timeout=10)
        assert (response.status_code, response.json()["code"]) == (400, 20001), bad


def test_the_list_needs_credentials(server: SandboxServer) -> None:
    response = requests.get(messages_url(server), auth=(SID, "wrong"), timeout=10)
    assert (response.status_code, response.json()["code"]) == (401, 20003)


# --- API keys -------------------------------------------------------------------------------


def test_a_configured_api_key_is_accepted_an_unknown_one_is_20003(server: SandboxServer) -> None:
    client = twilio_client(server.url, KEY_SID, KEY_SECRET)
    client.account_sid = SID  # as Client(key_sid, secret, account_sid=...) sets it
    created = client.api.v2010.accounts(SID).messages.create(to=CUSTOMER, from_=SENDER, body="via key")
    assert created.sid.startswith("SM")
    (entry,) = requests.get(server.url + "/_sandbox/requests", timeout=10).json()
    assert entry["auth_user"] == KEY_SID
    for user, password in ((KEY_SID, "wrong"), ("SK" + "4" * 32, KEY_SECRET), (KEY_SID, TOKEN)):
        stranger = twilio_client(server.url, user, password)
        with pytest.raises(TwilioRestException) as raised:
            stranger.api.v2010.accounts(SID).messages.create(to=CUSTOMER, from_=SENDER, body="x")
        assert (raised.value.status, raised.value.code) == (401, 20003)
