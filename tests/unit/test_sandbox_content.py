"""The sandbox's Content API templates: made through the control API in any WhatsApp status,
read through Twilio's routes as each account's own, shaped as Twilio's Content v1 spec says,
every read in the sandbox's log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from tests.support.sandbox import TWILIO_SPECS, CallbackReceiver, callback_receiver, running_sandbox, spec_schema, twilio_client

CONTENT_SPEC = TWILIO_SPECS / "twilio_content_v1.json"
FIRST = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
OTHER_SID, OTHER_TOKEN = "AC" + "d" * 32, "other-auth-token"
OTHER = (OTHER_SID, OTHER_TOKEN)
SENDER, CUSTOMER = "whatsapp:+15005550006", "whatsapp:+15005550010"


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    for running in running_sandbox():
        response = requests.post(running.url + "/_sandbox/accounts", json={"account_sid": OTHER_SID, "auth_token": OTHER_TOKEN}, timeout=10)
        assert response.status_code == 201
        yield running


def add(server: SandboxServer, **spec: Any) -> dict[str, Any]:
    response = requests.post(server.url + "/_sandbox/content", json={"friendly_name": "order_update", **spec}, timeout=10)
    assert response.status_code == 201, response.text
    view: dict[str, Any] = response.json()
    return view


def get(server: SandboxServer, path: str, auth: tuple[str, str] = FIRST, **query: str) -> requests.Response:
    return requests.get(server.url + path, params=query, auth=auth, timeout=10)


def conforms(schema_name: str, body: dict[str, Any]) -> None:
    OAS30Validator(spec_schema(CONTENT_SPEC, schema_name), format_checker=FormatChecker()).validate(body)


def test_a_template_reads_as_twilio_shapes_it_with_its_declared_variables(server: SandboxServer) -> None:
    made = add(server, variables={"1": "Zoë", "order": "A-1"}, language="es", whatsapp={"status": "approved", "category": "UTILITY"})
    sid = made["sid"]
    assert sid.startswith("HX") and len(sid) == 34
    content = get(server, f"/v1/Content/{sid}")
    assert content.status_code == 200
    body = content.json()
    conforms("content.v1.content", body)
    assert (body["account_sid"], body["friendly_name"], body["language"]) == (LOCAL_ACCOUNT_SID, "order_update", "es")
    assert body["variables"] == {"1": "Zoë", "order": "A-1"}
    assert body["types"]["twilio/text"]["body"] == "{{1}} {{order}}"
    assert body["links"]["approval_fetch"] == f"{server.url}/v1/Content/{sid}/ApprovalRequests"
    approval = get(server, f"/v1/Content/{sid}/ApprovalRequests").json()
    conforms("content.v1.content.approval_fetch", approval)
    assert approval["whatsapp"]["status"] == "approved" and approval["whatsapp"]["name"] == "order_update"


@pytest.mark.parametrize("status", ["pending", "rejected", "paused", "disabled", "received"])
def test_a_template_is_made_in_any_status_and_moved_between_them(server: SandboxServer, status: str) -> None:
    sid = add(server, whatsapp={"status": status, "rejection_reason": "wording"})["sid"]
    assert get(server, f"/v1/Content/{sid}/ApprovalRequests").json()["whatsapp"]["status"] == status
    moved = requests.post(f"{server.url}/_sandbox/content/{sid}", json={"status": "approved"}, timeout=10)
    assert moved.status_code == 200 and moved.json()["whatsapp"]["status"] == "approved"
    assert get(server, f"/v1/Content/{sid}/ApprovalRequests").json()["whatsapp"]["status"] == "approved"


def test_a_template_never_submitted_reads_unsubmitted(server: SandboxServer) -> None:
    made = add(server, whatsapp=None)
    assert made["whatsapp"] is None
    assert get(server, f"/v1/Content/{made['sid']}/ApprovalRequests").json()["whatsapp"]["status"] == "unsubmitted"


def test_each_account_sees_its_own_templates_only(server: SandboxServer) -> None:
    mine = add(server)["sid"]
    theirs = add(server, account_sid=OTHER_SID, friendly_name="theirs")["sid"]
    listed = get(server, "/v1/Content").json()
    conforms_list(listed)
    assert [c["sid"] for c in listed["contents"]] == [mine]
    assert [c["sid"] for c in get(server, "/v1/Content", OTHER).json()["contents"]] == [theirs]
    for path in (f"/v1/Content/{theirs}", f"/v1/Content/{theirs}/ApprovalRequests", f"/v1/Content/HX{'0' * 32}"):
        answer = get(server, path)
        assert (answer.status_code, answer.json()["code"]) == (404, 20404)


def conforms_list(body: dict[str, Any]) -> None:
    assert set(body) == {"contents", "meta"} and body["meta"]["key"] == "contents"
    for item in body["contents"]:
        conforms("content.v1.content", item)


def test_the_list_pages(server: SandboxServer) -> None:
    sids = [add(server, friendly_name=f"t{n}")["sid"] for n in range(3)]
    first = get(server, "/v1/Content", PageSize="2").json()
    assert [c["sid"] for c in first["contents"]] == sids[:2]
    assert first["meta"]["next_page_url"] is not None
    second = requests.get(first["meta"]["next_page_url"], auth=FIRST, timeout=10).json()
    assert [c["sid"] for c in second["contents"]] == sids[2:] and second["meta"]["next_page_url"] is None


def test_wrong_credentials_and_writes_are_refused(server: SandboxServer) -> None:
    sid = add(server)["sid"]
    assert get(server, f"/v1/Content/{sid}", ("AC" + "e" * 32, "nope")).json()["code"] == 20003
    refused = requests.delete(f"{server.url}/v1/Content/{sid}", auth=FIRST, timeout=10)
    assert (refused.status_code, refused.json()["code"]) == (405, 20004)


@pytest.mark.parametrize(
    "spec",
    [
        {},  # no friendly_name
        {"friendly_name": "x", "whatsapp": {"status": "approvd"}},
        {"friendly_name": "x", "variables": {"a b": "x"}},
        {"friendly_name": "x", "variables": {"1": 2}},
        {"friendly_name": "x", "sid": "HX123"},
        {"friendly_name": "x", "colour": "red"},
        {"friendly_name": "x", "account_sid": "AC" + "9" * 32},  # not hosted
    ],
)
def test_a_bad_template_is_refused_and_nothing_is_made(server: SandboxServer, spec: dict[str, Any]) -> None:
    response = requests.post(server.url + "/_sandbox/content", json=spec, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, 20001)
    assert requests.get(server.url + "/_sandbox/content", timeout=10).json() == []


def test_every_read_is_logged_with_who_asked(server: SandboxServer) -> None:
    sid = add(server)["sid"]
    get(server, f"/v1/Content/{sid}")
    get(server, f"/v1/Content/{sid}/ApprovalRequests", ("AC" + "e" * 32, "nope"))
    log = requests.delete(server.url + "/_sandbox/content-requests", timeout=10).json()
    assert [(e["path"], e["status"], e["auth_user"]) for e in log] == [
        (f"/v1/Content/{sid}", 200, LOCAL_ACCOUNT_SID),
        (f"/v1/Content/{sid}/ApprovalRequests", 401, None),
    ]
    assert requests.get(server.url + "/_sandbox/content-requests", timeout=10).json() == []


def test_the_twilio_sdk_reads_templates_from_the_sandbox(server: SandboxServer) -> None:
    sid = add(server, variables={"1": "x"}, whatsapp={"status": "paused"})["sid"]
    client = twilio_client(server.url, *FIRST)
    client.content.base_url = server.url
    assert client.content.v1.contents(sid).fetch().variables == {"1": "x"}
    assert client.content.v1.contents(sid).approval_fetch().fetch().whatsapp["status"] == "paused"


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


@pytest.mark.parametrize(("status", "code"), [("approved", None), ("paused", "63041"), ("rejected", "63040"), ("disabled", "63042")])
def test_a_whatsapp_send_of_a_template_whatsapp_will_not_take_fails_after_its_create(
    server: SandboxServer, receiver: CallbackReceiver, status: str, code: str | None
) -> None:
    sid = add(server, whatsapp={"status": status})["sid"]
    form = {"To": CUSTOMER, "From": SENDER, "ContentSid": sid, "StatusCallback": receiver.base_url + "/twilio/status"}
    response = requests.post(f"{server.url}/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/Messages.json", data=form, auth=FIRST, timeout=10)
    assert response.status_code == 201, response.text
    message = response.json()["sid"]
    final = "delivered" if code is None else "failed"
    deadline = time.monotonic() + 10
    while not any(c.form["MessageStatus"] == final for c in receiver.for_sid(message)) and time.monotonic() < deadline:
        time.sleep(0.02)
    last = receiver.for_sid(message)[-1].form
    assert (last["MessageStatus"], last.get("ErrorCode")) == (final, code)
