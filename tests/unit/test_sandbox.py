"""The Twilio sandbox in-process over HTTP: auth, validation, magic numbers, faults, the logs."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import pytest
import requests
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import Sandbox, SandboxServer
from devstack.sandbox.messages import encoding, num_segments
from tests.support.sandbox import CallbackReceiver, callback_receiver, message_schema, running_sandbox

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
SENDER, CUSTOMER, SERVICE = "+15005550006", "+15005550010", "MG" + "0" * 32
BASE = {"To": CUSTOMER, "From": SENDER, "Body": "Your order has shipped"}
RECEIVER = "{receiver}/twilio/status"  # replaced by a local CallbackReceiver's URL


@dataclass
class Api:
    server: SandboxServer
    http: requests.Session = field(default_factory=requests.Session)

    def url(self, path: str) -> str:
        return self.server.url + path

    def messages_url(self, account: str = SID) -> str:
        return self.url(f"/2010-04-01/Accounts/{account}/Messages.json")

    def create(
        self, form: dict[str, Any] | list[tuple[str, str]], auth: tuple[str, str] | None = (SID, TOKEN), account: str = SID
    ) -> requests.Response:
        return self.http.post(self.messages_url(account), data=form, auth=auth, timeout=10)

    def fetch(self, sid: str, auth: tuple[str, str] | None = (SID, TOKEN)) -> requests.Response:
        return self.http.get(self.url(f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json"), auth=auth, timeout=10)


@pytest.fixture
def api() -> Iterator[Api]:
    for server in running_sandbox():
        yield Api(server)


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    yield from callback_receiver()


def without(name: str, form: dict[str, Any] = BASE) -> dict[str, Any]:
    return {k: v for k, v in form.items() if k != name}


def settle(api: Api, sid: str, status: str, timeout: float = 5) -> dict[str, Any]:
    """Fetch the message until it reaches `status` (or the timeout); returns the last resource."""
    deadline = time.monotonic() + timeout
    while (message := api.fetch(sid).json())["status"] != status and time.monotonic() < deadline:
        time.sleep(0.02)
    result: dict[str, Any] = message
    return result


def twilio_error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    """Assert the response is Twilio's error JSON for `code`; returns it."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body == {"code": code, "message": body["message"], "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    assert body["message"]
    return body


# --- authentication -------------------------------------------------------------------------

AUTH_CASES = {
    "no header": None,
    "wrong token": (SID, "not-the-token"),
    "other account": ("AC" + "1" * 32, TOKEN),
    "empty": ("", ""),
}


@pytest.mark.parametrize("label", sorted(AUTH_CASES))
def test_bad_credentials_are_401_20003_and_create_nothing(api: Api, label: str) -> None:
    response = api.create(BASE, auth=AUTH_CASES[label])
    body = twilio_error(response, 401, 20003)
    assert body["message"] == "Authenticate"
    assert [r["status"] for r in api.http.get(api.url("/_sandbox/requests")).json()] == [401]
    assert not api.server.sandbox.messages


def test_garbage_authorization_header_is_401(api: Api) -> None:
    response = api.http.post(api.messages_url(), data=BASE, headers={"Authorization": "Basic %%%not-base64"}, timeout=10)
    twilio_error(response, 401, 20003)
    response = api.http.post(
        api.messages_url(),
        data=BASE,
        headers={"Authorization": "Bearer " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()},
        timeout=10,
    )
    twilio_error(response, 401, 20003)


def test_another_accounts_path_is_404_like_twilio(api: Api) -> None:
    other = "AC" + "f" * 32
    body = twilio_error(api.create(BASE, account=other), 404, 20404)
    assert other in body["message"]
    assert not api.server.sandbox.messages


def test_credentials_come_from_the_environment() -> None:
    sandbox = Sandbox.from_env({"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_AUTH_TOKEN": "t0k3n", "SANDBOX_CALLBACK_DELAY": "0.5"})
    assert (sandbox.account_sid, sandbox.auth_token) == ("AC" + "a" * 32, "t0k3n")
    defaults = Sandbox.from_env({})
    assert (defaults.account_sid, defaults.auth_token) == (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
    for s in (sandbox, defaults):
        s.close()


# --- validation and magic numbers -----------------------------------------------------------

VALIDATION = [
    ("no To", without("To"), 21604),
    ("empty To", {**BASE, "To": ""}, 21604),
    ("no From nor MessagingServiceSid", without("From"), 21603),
    ("no Body nor MediaUrl", without("Body"), 21602),
    ("empty Body", {**BASE, "Body": ""}, 21602),
    ("To not E.164", {**BASE, "To": "5005550010"}, 21211),
    ("To with letters", {**BASE, "To": "+1500555oo10"}, 21211),
    ("From malformed", {**BASE, "From": "+1-500-555"}, 21212),
    ("bad MessagingServiceSid", {**without("From"), "MessagingServiceSid": "MG123"}, 21701),
    ("Body of 1601 chars", {**BASE, "Body": "x" * 1601}, 21617),
    ("11 MediaUrl", {**BASE, "MediaUrl": [f"https://example.com/{i}.jpg" for i in range(11)]}, 21623),
    ("MediaUrl not http", {**BASE, "MediaUrl": "ftp://example.com/a.jpg"}, 21620),
    ("StatusCallback not a URL", {**BASE, "StatusCallback": "not a url"}, 21609),
    ("ValidityPeriod abc", {**BASE, "ValidityPeriod": "abc"}, 90007),
    ("ValidityPeriod too long", {**BASE, "ValidityPeriod": "36001"}, 90007),
    ("magic To 0001 invalid", {**BASE, "To": "+15005550001"}, 21211),
    ("magic To 0002 unroutable", {**BASE, "To": "+15005550002"}, 21612),
    ("magic To 0003 no international", {**BASE, "To": "+15005550003"}, 21408),
    ("magic To 0004 blocked", {**BASE, "To": "+15005550004"}, 21610),
    ("magic To 0009 not mobile", {**BASE, "To": "+15005550009"}, 21614),
    ("magic From 0001 invalid", {**BASE, "From": "+15005550001"}, 21212),
    ("magic From 0007 not owned", {**BASE, "From": "+15005550007"}, 21606),
    ("magic From 0008 queue full", {**BASE, "From": "+15005550008"}, 21611),
    ("magic To over whatsapp", {**BASE, "To": "whatsapp:+15005550009", "From": "whatsapp:" + SENDER}, 21614),
]


@pytest.mark.parametrize(("label", "form", "code"), VALIDATION, ids=[c[0] for c in VALIDATION])
def test_invalid_create_answers_twilios_error(api: Api, label: str, form: dict[str, Any], code: int) -> None:
    twilio_error(api.create(form), 400, code)
    assert not api.server.sandbox.messages
    [logged] = api.http.get(api.url("/_sandbox/requests")).json()
    assert (logged["status"], logged["error_code"], logged["sid"]) == (400, code, None)


ACCEPTED = [
    ("sms", BASE, "queued", "SM", "1"),
    ("1600 chars", {**BASE, "Body": "y" * 1600}, "queued", "SM", "11"),
    ("messaging service", {**without("From"), "MessagingServiceSid": SERVICE}, "accepted", "SM", "0"),
    ("mms with ten media", {**BASE, "MediaUrl": [f"https://example.com/{i}.jpg" for i in range(10)]}, "queued", "MM", "1"),
    ("media only", {**without("Body"), "MediaUrl": "https://example.com/a.png"}, "queued", "MM", "1"),
    ("alphanumeric sender", {**BASE, "From": "ACME Shop"}, "queued", "SM", "1"),
    ("short code sender", {**BASE, "From": "55501"}, "queued", "SM", "1"),
    ("whatsapp", {**BASE, "To": "whatsapp:" + CUSTOMER, "From": "whatsapp:" + SENDER}, "queued", "SM", "1"),
    ("every option", {**BASE, "StatusCallback": RECEIVER, "ValidityPeriod": "600", "MaxPrice": "0.05"}, "queued", "SM", "1"),
]


@pytest.mark.parametrize(("label", "form", "status", "prefix", "segments"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_valid_create_is_201_with_the_message(
    api: Api, receiver: CallbackReceiver, label: str, form: dict[str, Any], status: str, prefix: str, segments: str
) -> None:
    if "StatusCallback" in form:
        form = {**form, "StatusCallback": form["StatusCallback"].format(receiver=receiver.base_url)}
    response = api.create(form)
    assert response.status_code == 201, response.text
    message = response.json()
    assert re.fullmatch(prefix + "[0-9a-f]{32}", message["sid"])
    assert message["status"] == status
    assert message["num_segments"] == segments
    assert message["to"] == form["To"]
    assert message["from"] == form.get("From")
    assert message["messaging_service_sid"] == form.get("MessagingServiceSid")
    media = form.get("MediaUrl", [])
    assert message["num_media"] == str(len(media if isinstance(media, list) else [media]))
    assert message["body"] == form.get("Body", "")
    assert message["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}.json"
    assert message["subresource_uris"] == {"media": f"/2010-04-01/Accounts/{SID}/Messages/{message['sid']}/Media.json"}
    assert (message["direction"], message["api_version"], message["price_unit"]) == ("outbound-api", "2010-04-01", "USD")
    assert (message["error_code"], message["error_message"], message["price"], message["date_sent"]) == (None, None, None, None)
    created = parsedate_to_datetime(message["date_created"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert abs(time.time() - created.timestamp()) < 5
    [logged] = api.http.get(api.url("/_sandbox/requests")).json()
    assert (logged["status"], logged["sid"]) == (201, message["sid"])


# --- the resource against Twilio's OpenAPI schema -------------------------------------------

RFC2822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000$"
)
checker = FormatChecker()


@checker.checks("date-time-rfc-2822")
def _rfc2822(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC2822.match(value))


@checker.checks("phone-number")
def _phone(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"(whatsapp:)?\+[1-9]\d{1,14}|[A-Za-z0-9 ]{1,11}", value))


@lru_cache(maxsize=1)
def validator() -> OAS30Validator:
    schema = message_schema()
    return OAS30Validator(schema, format_checker=checker)


@pytest.mark.parametrize(
    "form", [BASE, {**without("From"), "MessagingServiceSid": SERVICE}, {**BASE, "MediaUrl": "https://example.com/a.jpg"}]
)
def test_created_and_fetched_resources_match_twilios_schema(api: Api, form: dict[str, Any]) -> None:
    created = api.create(form).json()
    schema = message_schema()["components"]["schemas"]["api.v2010.account.message"]
    assert set(created) == set(schema["properties"]), "every field of Twilio's schema, and no other"
    validator().validate(created)
    fetched = settle(api, created["sid"], "delivered")
    assert fetched["date_sent"] is not None and fetched["price"] is not None
    assert set(fetched) == set(schema["properties"])
    validator().validate(fetched)


def test_schema_check_bites() -> None:
    errors = list(validator().iter_errors({"sid": "XX123", "date_created": "2026-11-24T13:55:21Z", "error_code": "30003"}))
    assert {error.path[0] for error in errors} == {"sid", "date_created", "error_code"}


# --- fetch ----------------------------------------------------------------------------------


def test_fetch_follows_the_status_and_unknown_is_20404(api: Api) -> None:
    sid = api.create(BASE).json()["sid"]
    fetched = api.fetch(sid)
    assert fetched.status_code == 200 and fetched.json()["sid"] == sid
    twilio_error(api.fetch(sid, auth=(SID, "wrong")), 401, 20003)
    unknown = "SM" + "0" * 32
    body = twilio_error(api.fetch(unknown), 404, 20404)
    assert unknown in body["message"]


def test_fetch_of_a_failure_number_shows_its_error(api: Api) -> None:
    sid = api.create({**BASE, "To": "+15005550011"}).json()["sid"]
    message = settle(api, sid, "undelivered")
    assert (message["status"], message["error_code"], message["error_message"]) == ("undelivered", 30003, "Unreachable destination handset")


# --- faults and the request log -------------------------------------------------------------


def test_429_fault_answers_next_n_with_retry_after_then_recovers(api: Api) -> None:
    armed = api.http.post(api.url("/_sandbox/faults"), json={"status": 429, "count": 2, "retry_after": 1})
    assert armed.status_code == 200 and armed.json() == {"status": 429, "count": 2, "retry_after": 1, "after_create": False, "delay": 0}
    for _ in range(2):
        response = api.create(BASE)
        twilio_error(response, 429, 20429)
        assert response.headers["Retry-After"] == "1"
    assert api.create(BASE).status_code == 201
    assert api.http.get(api.url("/_sandbox/faults")).json() is None
    log = api.http.get(api.url("/_sandbox/requests")).json()
    assert [(e["status"], e["error_code"]) for e in log] == [(429, 20429), (429, 20429), (201, None)]
    assert all(e["form"] == {k: [v] for k, v in BASE.items()} for e in log)
    assert len(api.server.sandbox.messages) == 1


def test_500_fault_until_cleared(api: Api) -> None:
    assert api.http.post(api.url("/_sandbox/faults"), json={"status": 500, "count": -1}).status_code == 200
    for _ in range(4):
        response = api.create(BASE)
        twilio_error(response, 500, 20500)
        assert "Retry-After" not in response.headers
    assert api.http.delete(api.url("/_sandbox/faults")).status_code == 200
    assert api.create(BASE).status_code == 201


def test_fault_without_retry_after_has_no_header_and_bad_spec_is_400(api: Api) -> None:
    api.http.post(api.url("/_sandbox/faults"), json={"status": 429, "count": 1})
    response = api.create(BASE)
    twilio_error(response, 429, 20429)
    assert "Retry-After" not in response.headers
    bad_specs: list[dict[str, Any]] = [
        {"status": 404, "count": 1},
        {"status": 429, "count": 0},
        {"status": 500, "count": "x"},
        {"status": 429, "count": 1, "retry_after": -2},
        {"status": 429, "after_create": True},
        {"count": 1},
        {"status": 500, "delay": -1},
        {"status": 500, "after_create": "yes"},
    ]
    for bad in bad_specs:
        assert api.http.post(api.url("/_sandbox/faults"), json=bad).status_code == 400, bad
    assert api.http.get(api.url("/_sandbox/faults")).json() is None


@pytest.mark.parametrize("value", ["Wed, 21 Oct 2026 07:28:00 GMT", "soon", "-1", "\u00b2", "9" * 5000])
def test_a_retry_after_string_is_sent_verbatim(api: Api, value: str) -> None:
    armed = api.http.post(api.url("/_sandbox/faults"), json={"status": 429, "retry_after": value})
    assert armed.status_code == 200 and armed.json()["retry_after"] == value
    response = api.create(BASE)
    twilio_error(response, 429, 20429)
    assert response.headers["Retry-After"] == value


@pytest.mark.parametrize("value", ["", "1\r\nX-Injected: 1", "\u2603", "9" * 8193, True, 1.5])
def test_a_retry_after_no_header_can_carry_is_400(api: Api, value: Any) -> None:
    assert api.http.post(api.url("/_sandbox/faults"), json={"status": 429, "retry_after": value}).status_code == 400
    assert api.http.get(api.url("/_sandbox/faults")).json() is None


def test_search_log_keeps_each_list_request_and_resets(api: Api) -> None:
    api.http.get(api.messages_url(), params={"To": CUSTOMER, "PageSize": "20"}, auth=(SID, TOKEN), timeout=10)
    api.http.get(api.messages_url(), params={"To": CUSTOMER}, auth=(SID, "wrong"), timeout=10)
    log = api.http.delete(api.url("/_sandbox/searches")).json()
    assert [(e["query"], e["status"], e["auth_user"]) for e in log] == [
        ({"To": [CUSTOMER], "PageSize": ["20"]}, 200, SID),
        ({"To": [CUSTOMER]}, 401, None),
    ]
    assert api.http.get(api.url("/_sandbox/searches")).json() == []
    assert api.http.get(api.url("/_sandbox/requests")).json() == []  # searches are no creates


def test_request_log_names_the_connection_a_create_came_over(api: Api) -> None:
    for _ in range(3):
        assert api.create(BASE).status_code == 201  # one session: one kept connection
    assert requests.post(api.messages_url(), data=BASE, auth=(SID, TOKEN), timeout=10).status_code == 201
    connections = [e["connection"] for e in api.http.get(api.url("/_sandbox/requests")).json()]
    assert len(set(connections[:3])) == 1 and connections[3] != connections[0]
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", c) for c in connections)


def test_request_log_keeps_repeated_fields_and_resets(api: Api) -> None:
    api.create(list(BASE.items()) + [("MediaUrl", "https://example.com/1.jpg"), ("MediaUrl", "https://example.com/2.jpg")])
    [entry] = api.http.get(api.url("/_sandbox/requests")).json()
    assert entry["form"]["MediaUrl"] == ["https://example.com/1.jpg", "https://example.com/2.jpg"]
    assert entry["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert abs(datetime.fromisoformat(entry["time"]).timestamp() - time.time()) < 5
    assert len(api.http.delete(api.url("/_sandbox/requests")).json()) == 1
    assert api.http.get(api.url("/_sandbox/requests")).json() == []


def test_unknown_route_is_twilio_404_and_health_is_200(api: Api) -> None:
    twilio_error(api.http.get(api.url("/2010-04-01/Accounts/x/Calls.json")), 404, 20404)
    assert api.http.get(api.url("/health")).json() == {"status": "ok"}


# --- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected_encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters cost two septets
        ("€" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),  # é is in GSM's basic set
        ("ő" * 70, "UCS-2", 1),
        ("ő" * 71, "UCS-2", 2),
        ("ő" * 134, "UCS-2", 2),
        ("ő" * 135, "UCS-2", 3),
        ("👍" * 35, "UCS-2", 1),  # an emoji is two UTF-16 units
        ("👍" * 36, "UCS-2", 2),
    ],
)
def test_segments_follow_gsm7_and_ucs2_limits(body: str, expected_encoding: str, segments: int) -> None:
    assert encoding(body) == expected_encoding
    assert num_segments(body) == segments


def test_a_taken_port_fails_with_the_bind_error(api: Api) -> None:
    with pytest.raises(OSError):
        SandboxServer(("127.0.0.1", api.server.server_address[1]), Sandbox(SID, TOKEN, callback_delay=0.01))


def update(api: Api, sid: str, form: dict[str, str], auth: tuple[str, str] = (SID, TOKEN)) -> requests.Response:
    return api.http.post(api.url(f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json"), data=form, auth=auth, timeout=10)


def test_body_update_redacts_only_a_complete_message(api: Api) -> None:
    sid = api.create(BASE).json()["sid"]
    assert wait_until(lambda: api.fetch(sid).json()["status"] == "delivered")
    redacted = update(api, sid, {"Body": ""})
    assert redacted.status_code == 200 and redacted.json()["body"] == "" and redacted.json()["sid"] == sid
    assert api.fetch(sid).json()["body"] == ""
    assert update(api, sid, {"Body": ""}).status_code == 200  # a repeat is harmless, as at Twilio
    twilio_error(update(api, sid, {"Body": "new words"}), 400, 20001)
    twilio_error(update(api, sid, {}), 400, 20001)
    twilio_error(update(api, "SM" + "0" * 32, {"Body": ""}), 404, 20404)
    twilio_error(update(api, sid, {"Body": ""}, auth=(SID, "wrong")), 401, 20003)
    logged = [e for e in api.http.get(api.url("/_sandbox/requests"), timeout=10).json() if e["sid"] == sid and "Messages/" in e["path"]]
    assert [e["status"] for e in logged] == [200, 200, 400, 400, 401]


def test_a_message_in_flight_is_20009_and_refusals_force_it() -> None:
    for server in running_sandbox(callback_delay=30):  # stays queued for the whole test
        api = Api(server)
        sid = api.create(BASE).json()["sid"]
        twilio_error(update(api, sid, {"Body": ""}), 400, 20009)
        assert api.fetch(sid).json()["body"] == BASE["Body"]


def test_refusals_answer_20009_for_a_complete_message_then_end(api: Api) -> None:
    sid = api.create(BASE).json()["sid"]
    assert wait_until(lambda: api.fetch(sid).json()["status"] == "delivered")
    assert api.http.post(api.url("/_sandbox/redaction-refusals"), json={"count": 2}, timeout=10).json() == {"count": 2}
    twilio_error(update(api, sid, {"Body": ""}), 400, 20009)
    assert api.http.get(api.url("/_sandbox/redaction-refusals"), timeout=10).json() == {"count": 1}
    twilio_error(update(api, sid, {"Body": ""}), 400, 20009)
    assert update(api, sid, {"Body": ""}).status_code == 200
    assert api.http.post(api.url("/_sandbox/redaction-refusals"), json={"count": -1}, timeout=10).status_code == 400


def wait_until(predicate: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
