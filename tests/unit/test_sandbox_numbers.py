"""The sandbox's phone numbers (IncomingPhoneNumbers) and Messaging Services (Messaging v1):
each account's own, authenticated as Twilio does, shaped as Twilio's specs say."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import pytest
import requests
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN, LOCAL_DEFAULT_FROM
from devstack.sandbox import Sandbox, SandboxServer, start
from tests.support.sandbox import TWILIO_MESSAGING_SPEC, TWILIO_SPEC, running_sandbox, spec_schema, twilio_client

FIRST = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
OTHER_SID, OTHER_TOKEN = "AC" + "c" * 32, "other-auth-token"
OTHER = (OTHER_SID, OTHER_TOKEN)
OVERRIDES = "#ct=3000&rt=14000&tt=15000&rc=3&rp=ct,rt,5xx"
INBOUND = "https://hooks.example.com/twilio/inbound" + OVERRIDES
STATUS = "https://hooks.example.com/twilio/status" + OVERRIDES


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    for running in running_sandbox():
        response = requests.post(running.url + "/_sandbox/accounts", json={"account_sid": OTHER_SID, "auth_token": OTHER_TOKEN}, timeout=10)
        assert response.status_code == 201
        yield running


def numbers_url(server: SandboxServer, account: str = LOCAL_ACCOUNT_SID, sid: str | None = None) -> str:
    base = f"{server.url}/2010-04-01/Accounts/{account}/IncomingPhoneNumbers"
    return f"{base}/{sid}.json" if sid else base + ".json"


def buy(server: SandboxServer, number: str, auth: tuple[str, str] = FIRST, **fields: str) -> requests.Response:
    return requests.post(numbers_url(server, auth[0]), data={"PhoneNumber": number, **fields}, auth=auth, timeout=10)


def listed(server: SandboxServer, auth: tuple[str, str] = FIRST, **query: str) -> list[dict[str, Any]]:
    response = requests.get(numbers_url(server, auth[0]), params=query, auth=auth, timeout=10)
    assert response.status_code == 200, response.text
    return list(response.json()["incoming_phone_numbers"])


def services(server: SandboxServer, sid: str | None = None) -> str:
    return f"{server.url}/v1/Services" + (f"/{sid}" if sid else "")


def new_service(server: SandboxServer, auth: tuple[str, str] = FIRST, **fields: str) -> dict[str, Any]:
    response = requests.post(services(server), data={"FriendlyName": "Support line", **fields}, auth=auth, timeout=10)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- the resources against Twilio's schemas ---------------------------------------------------

checker = FormatChecker()
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")


@checker.checks("date-time-rfc-2822")
def _rfc2822(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC2822.match(value))


@checker.checks("date-time")
def _iso(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", value))


@checker.checks("phone-number")
def _phone(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"\+[1-9]\d{1,14}", value))


@lru_cache(maxsize=2)
def validator(name: str) -> OAS30Validator:
    path = TWILIO_SPEC if name.startswith("api.") else TWILIO_MESSAGING_SPEC
    return OAS30Validator(spec_schema(path, name), format_checker=checker)


def properties(name: str) -> set[str]:
    schema = spec_schema(TWILIO_SPEC if name.startswith("api.") else TWILIO_MESSAGING_SPEC, name)
    return set(schema["components"]["schemas"][name]["properties"])


def test_a_number_is_twilios_resource_every_field_of_it(server: SandboxServer) -> None:
    created = buy(server, "+15005550100", SmsUrl=INBOUND)
    assert created.status_code == 201, created.text
    number = created.json()
    name = "api.v2010.account.incoming_phone_number"
    assert set(number) == properties(name)
    validator(name).validate(number)
    assert number["sid"].startswith("PN") and number["account_sid"] == LOCAL_ACCOUNT_SID
    assert (number["phone_number"], number["friendly_name"]) == ("+15005550100", "(500) 555-0100")
    assert (number["sms_url"], number["sms_method"], number["status_callback"], number["sms_application_sid"]) == (
        INBOUND,
        "POST",
        None,
        None,
    )
    assert number["uri"] == f"/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/IncomingPhoneNumbers/{number['sid']}.json"
    fetched = requests.get(numbers_url(server, sid=number["sid"]), auth=FIRST, timeout=10)
    assert fetched.status_code == 200 and fetched.json() == number


def test_a_service_is_twilios_resource_every_field_of_it(server: SandboxServer) -> None:
    service = new_service(server, InboundRequestUrl=INBOUND, StatusCallback=STATUS)
    name = "messaging.v1.service"
    # sending_windows is in the spec's example, not its schema.
    assert set(service) == properties(name)
    validator(name).validate(service)
    assert service["sid"].startswith("MG") and service["account_sid"] == LOCAL_ACCOUNT_SID
    assert (service["inbound_request_url"], service["inbound_method"], service["status_callback"]) == (INBOUND, "POST", STATUS)
    assert service["use_inbound_webhook_on_number"] is False
    assert service["url"] == services(server, service["sid"])
    assert service["links"]["phone_numbers"] == services(server, service["sid"]) + "/PhoneNumbers"


def test_the_schema_check_bites() -> None:
    found = list(
        validator("api.v2010.account.incoming_phone_number").iter_errors({"sid": "XX1", "sms_method": "PUT", "date_created": "2026"})
    )
    assert {error.path[0] for error in found} == {"sid", "sms_method", "date_created"}


# --- IncomingPhoneNumbers -------------------------------------------------------------------


def test_the_stack_sandbox_starts_owning_its_default_sender() -> None:
    server = start(Sandbox.from_env({}))
    try:
        [number] = listed(server)
        assert number["phone_number"] == LOCAL_DEFAULT_FROM and number["sms_url"] is None
    finally:
        server.shutdown()
        server.server_close()


def test_list_filters_by_whole_or_partial_number_and_friendly_name(server: SandboxServer) -> None:
    for number in ("+15005550101", "+15005550102", "+442071838750"):
        assert buy(server, number).status_code == 201
    assert [n["phone_number"] for n in listed(server)] == ["+15005550101", "+15005550102", "+442071838750"]
    assert [n["phone_number"] for n in listed(server, PhoneNumber="+15005550102")] == ["+15005550102"]
    assert [n["phone_number"] for n in listed(server, PhoneNumber="55501*1")] == ["+15005550101"]
    assert [n["phone_number"] for n in listed(server, PhoneNumber="+44")] == ["+442071838750"]
    assert [n["phone_number"] for n in listed(server, FriendlyName="(500) 555-0101")] == ["+15005550101"]
    assert listed(server, PhoneNumber="+15005559999") == []
    bad = requests.get(numbers_url(server), params={"PhoneNumber": "five"}, auth=FIRST, timeout=10)
    assert (bad.status_code, bad.json()["code"]) == (400, 20001)


def test_list_pages_follow_next_page_uri(server: SandboxServer) -> None:
    for n in range(5):
        assert buy(server, f"+1500555020{n}").status_code == 201
    seen: list[str] = []
    url: str | None = numbers_url(server) + "?PageSize=2"
    while url:
        page = requests.get(url, auth=FIRST, timeout=10).json()
        assert page["page_size"] == 2 and page["uri"].startswith("/2010-04-01/")
        seen += [n["phone_number"] for n in page["incoming_phone_numbers"]]
        url = server.url + page["next_page_uri"] if page["next_page_uri"] else None
    assert seen == [f"+1500555020{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({}, 21421),
        ({"AreaCode": "500"}, 21421),
        ({"PhoneNumber": "5005550100"}, 21421),
        ({"PhoneNumber": "+15005550103", "SmsUrl": "ftp://example.com/in"}, 21502),
        ({"PhoneNumber": "+15005550103", "SmsMethod": "PUT"}, 20001),
    ],
)
def test_a_purchase_twilio_would_refuse_is_refused(server: SandboxServer, form: dict[str, str], code: int) -> None:
    response = requests.post(numbers_url(server), data=form, auth=FIRST, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, code), response.text
    assert listed(server) == []


def test_a_number_belongs_to_one_account(server: SandboxServer) -> None:
    mine = buy(server, "+15005550104").json()
    taken = buy(server, "+15005550104", OTHER)
    assert (taken.status_code, taken.json()["code"]) == (400, 21422)
    assert listed(server, OTHER) == []
    # Under the other account's path, with its credentials, the SID is unknown.
    for method in ("GET", "POST"):
        response = requests.request(method, numbers_url(server, OTHER_SID, mine["sid"]), data={"SmsUrl": INBOUND}, auth=OTHER, timeout=10)
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    assert listed(server)[0]["sms_url"] is None


def test_update_sets_the_fields_given_and_keeps_the_rest(server: SandboxServer) -> None:
    sid = buy(server, "+15005550105", VoiceUrl="https://voice.example.com/answer").json()["sid"]
    url = numbers_url(server, sid=sid)
    updated = requests.post(url, data={"SmsUrl": INBOUND, "SmsMethod": "post"}, auth=FIRST, timeout=10)
    assert updated.status_code == 200, updated.text
    number = updated.json()
    # The fragment is kept byte for byte: it is how Twilio is told to retry.
    assert (number["sms_url"], number["sms_method"], number["voice_url"]) == (INBOUND, "POST", "https://voice.example.com/answer")
    assert number["date_updated"] >= number["date_created"]
    cleared = requests.post(url, data={"SmsUrl": ""}, auth=FIRST, timeout=10).json()
    assert cleared["sms_url"] is None
    app = requests.post(url, data={"SmsApplicationSid": "AP" + "1" * 32}, auth=FIRST, timeout=10).json()
    assert app["sms_application_sid"] == "AP" + "1" * 32


@pytest.mark.parametrize(
    ("form", "code"),
    [({"SmsUrl": "not a url"}, 21502), ({"StatusCallback": "http://under_score.example/x"}, 21502), ({"SmsMethod": "PUT"}, 20001)],
)
def test_an_update_twilio_would_refuse_changes_nothing(server: SandboxServer, form: dict[str, str], code: int) -> None:
    sid = buy(server, "+15005550106", SmsUrl=INBOUND).json()["sid"]
    response = requests.post(numbers_url(server, sid=sid), data={**form, "FriendlyName": "renamed"}, auth=FIRST, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, code)
    [number] = listed(server)
    assert (number["sms_url"], number["friendly_name"]) == (INBOUND, "(500) 555-0106")


def test_numbers_authenticate_as_the_paths_account(server: SandboxServer) -> None:
    assert buy(server, "+15005550107").status_code == 201
    for auth in (None, (LOCAL_ACCOUNT_SID, "wrong"), OTHER):
        response = requests.get(numbers_url(server), auth=auth, timeout=10)
        assert (response.status_code, response.json()["code"]) == (401, 20003)
    stranger = requests.get(numbers_url(server, "AC" + "d" * 32), auth=OTHER, timeout=10)
    assert (stranger.status_code, stranger.json()["code"]) == (404, 20404)
    unknown = requests.post(numbers_url(server, sid="PN" + "0" * 32), data={"SmsUrl": INBOUND}, auth=FIRST, timeout=10)
    assert (unknown.status_code, unknown.json()["code"]) == (404, 20404)
    wrong_method = requests.delete(numbers_url(server), auth=FIRST, timeout=10)
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, 20004)


def test_an_api_key_reaches_numbers_and_services() -> None:
    for server in running_sandbox(api_key=True):
        key = (LOCAL_API_KEY_SID, LOCAL_API_KEY_SECRET)
        created = requests.post(numbers_url(server), data={"PhoneNumber": "+15005550108"}, auth=key, timeout=10)
        assert created.status_code == 201 and created.json()["account_sid"] == LOCAL_ACCOUNT_SID
        service = new_service(server, key)
        assert service["account_sid"] == LOCAL_ACCOUNT_SID


# --- Messaging Services ---------------------------------------------------------------------


def test_services_are_the_authenticated_accounts_own(server: SandboxServer) -> None:
    mine = new_service(server)
    theirs = new_service(server, OTHER, FriendlyName="Theirs")
    assert [s["sid"] for s in requests.get(services(server), auth=FIRST, timeout=10).json()["services"]] == [mine["sid"]]
    assert [s["sid"] for s in requests.get(services(server), auth=OTHER, timeout=10).json()["services"]] == [theirs["sid"]]
    for method in ("GET", "POST"):
        response = requests.request(method, services(server, theirs["sid"]), data={"InboundRequestUrl": INBOUND}, auth=FIRST, timeout=10)
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    for auth in (None, (OTHER_SID, "wrong"), ("AC" + "d" * 32, OTHER_TOKEN)):
        response = requests.get(services(server), auth=auth, timeout=10)
        assert (response.status_code, response.json()["code"]) == (401, 20003)


def test_service_list_pages_are_absolute_links_on_the_sandbox(server: SandboxServer) -> None:
    made = [new_service(server, FriendlyName=f"service {n}")["sid"] for n in range(3)]
    seen: list[str] = []
    url: str | None = services(server) + "?PageSize=2"
    while url:
        page = requests.get(url, auth=FIRST, timeout=10).json()
        assert page["meta"]["key"] == "services" and page["meta"]["url"].startswith(server.url + "/v1/Services?")
        seen += [s["sid"] for s in page["services"]]
        url = page["meta"]["next_page_url"]
    assert seen == made


def test_service_update_sets_the_fields_given(server: SandboxServer) -> None:
    sid = new_service(server, StatusCallback="https://old.example.com/status")["sid"]
    form = {"InboundRequestUrl": INBOUND, "InboundMethod": "POST", "UseInboundWebhookOnNumber": "true", "ValidityPeriod": "600"}
    response = requests.post(services(server, sid), data=form, auth=FIRST, timeout=10)
    assert response.status_code == 200, response.text
    service = response.json()
    assert (service["inbound_request_url"], service["use_inbound_webhook_on_number"], service["validity_period"]) == (INBOUND, True, 600)
    assert service["status_callback"] == "https://old.example.com/status"
    fetched = requests.get(services(server, sid), auth=FIRST, timeout=10).json()
    assert fetched == service


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"StatusCallback": "mailto:ops@example.com"}, 21502),
        ({"InboundMethod": "DELETE"}, 20001),
        ({"UseInboundWebhookOnNumber": "yes"}, 20001),
        ({"ValidityPeriod": "0"}, 20001),
        ({"ScanMessageContent": "always"}, 20001),
    ],
)
def test_a_service_update_twilio_would_refuse_changes_nothing(server: SandboxServer, form: dict[str, str], code: int) -> None:
    before = new_service(server)
    response = requests.post(services(server, before["sid"]), data={**form, "InboundRequestUrl": INBOUND}, auth=FIRST, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, code)
    assert requests.get(services(server, before["sid"]), auth=FIRST, timeout=10).json() == before


def test_a_service_needs_a_friendly_name(server: SandboxServer) -> None:
    response = requests.post(services(server), data={"InboundRequestUrl": INBOUND}, auth=FIRST, timeout=10)
    assert (response.status_code, response.json()["code"]) == (400, 20001)


# --- Twilio's SDK against them --------------------------------------------------------------


def test_the_sdk_finds_and_updates_a_number_and_a_service(server: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "dublin")  # would rewrite 127.0.0.1 unless twilio_client clears it
    client = twilio_client(server.url, *FIRST)
    bought = client.incoming_phone_numbers.create(phone_number="+15005550109")
    [found] = client.incoming_phone_numbers.list(phone_number="+15005550109")
    assert found.sid == bought.sid
    updated = client.incoming_phone_numbers(found.sid).update(sms_url=INBOUND, sms_method="POST")
    assert (updated.sms_url, updated.sms_method) == (INBOUND, "POST")
    service = client.messaging.v1.services.create(friendly_name="Via the SDK")
    changed = client.messaging.v1.services(service.sid).update(inbound_request_url=INBOUND, status_callback=STATUS)
    assert (changed.inbound_request_url, changed.status_callback) == (INBOUND, STATUS)
    assert [s.sid for s in client.messaging.v1.services.list()] == [service.sid]
