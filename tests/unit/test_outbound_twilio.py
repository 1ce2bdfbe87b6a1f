"""The Twilio client against the sandbox's Messages API: what is sent, and every answer mapped."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from types import ModuleType
from typing import Any

import pytest

from carrier_core.settings import Settings
from tests.support.sandbox import TwilioView, running_twilio
from tests.support.outbound import outbound_environ, outbound_module


@pytest.fixture
def client_module() -> Iterator[ModuleType]:
    module = outbound_module("twilio_client")
    module.reset_client()
    yield module
    module.reset_client()


@pytest.fixture
def twilio() -> Iterator[TwilioView]:
    with running_twilio() as sandbox:
        yield sandbox


def settings_for(url: str, **extra: str) -> Settings:
    return Settings.from_env("outbound", environ=outbound_environ(url, **extra))


def request(**fields: Any) -> Any:
    body = {"to": "+15005550010", "body": "hello", **fields}
    return outbound_module("request").OutboundRequest.from_json(json.dumps(body).encode(), settings_for("http://unused"))


def test_accepted_send_posts_every_field_twilio_expects(client_module: ModuleType, twilio: TwilioView) -> None:
    req = request(
        media_urls=["https://example.com/a.jpg", "https://example.com/b.png"],
        validity_period=600,
        max_price=0.25,
        **{"from": "+15005550006"},
        messaging_service_sid="MG" + "b" * 32,
        status_callback="https://cb.example.com/s",
    )
    accepted = client_module.create_message(settings_for(twilio.url), req)
    # A message with media is an MM SID, and a From beside the messaging service is queued at
    # once, as the sandbox's README says Twilio answers.
    assert accepted.sid.startswith("MM") and len(accepted.sid) == 34
    assert accepted.status == "queued"
    (form,) = twilio.forms()
    assert form == {
        "To": "+15005550010",
        "From": "+15005550006",
        "MessagingServiceSid": "MG" + "b" * 32,
        "Body": "hello",
        "MediaUrl": ["https://example.com/a.jpg", "https://example.com/b.png"],
        "StatusCallback": "https://cb.example.com/s",
        "ValidityPeriod": "600",
    }  # no MaxPrice: accepted from the caller, not forwarded (Twilio ignores it since 2024-06-03)


@dataclass(frozen=True)
class Refusal:
    label: str
    fields: dict[str, Any]
    code: str
    twilio_code: int
    http_status: int


REFUSALS = [
    Refusal("invalid to", {"to": "+15005550001"}, "invalid_phone_number", 21211, 400),
    Refusal("unreachable to", {"to": "+15005550002"}, "recipient_unreachable", 21612, 400),
    Refusal("region not permitted", {"to": "+15005550003"}, "region_not_permitted", 21408, 400),
    Refusal("opted out at twilio", {"to": "+15005550004"}, "recipient_opted_out", 21610, 403),
    Refusal("not mobile", {"to": "+15005550009"}, "not_mobile_number", 21614, 400),
    Refusal("invalid from", {"from": "+15005550001"}, "invalid_sender", 21212, 400),
    Refusal("sender not capable", {"from": "+15005550007"}, "sender_not_capable", 21606, 400),
    Refusal("sender queue full", {"from": "+15005550008"}, "sender_queue_full", 21611, 429),
]


@pytest.mark.parametrize("case", REFUSALS, ids=lambda c: c.label)
def test_twilio_error_codes_map_into_the_taxonomy(case: Refusal, client_module: ModuleType, twilio: TwilioView) -> None:
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url), request(**case.fields))
    failure = raised.value
    assert (failure.error.code, failure.error.twilio_code, failure.error.http_status) == (case.code, case.twilio_code, case.http_status)
    assert failure.transient is False
    assert len(twilio.requests) == 1


def test_429_keeps_retry_after_in_seconds(client_module: ModuleType, twilio: TwilioView) -> None:
    twilio.fail(429, retry_after="3")
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url), request())
    failure = raised.value
    assert (failure.error.code, failure.error.twilio_code, failure.http_status) == ("rate_limited", 20429, 429)
    assert failure.transient is True and failure.retry_after == 3.0


def test_429_keeps_retry_after_as_an_http_date(client_module: ModuleType, twilio: TwilioView) -> None:
    twilio.fail(429, retry_after=format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True))
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url), request())
    assert 25 <= raised.value.retry_after <= 30


@pytest.mark.parametrize("header", ["\u00b2", "9" * 5000, "-1", "soon"])
def test_429_with_a_retry_after_that_is_no_number_is_still_a_rate_limit(header: str, client_module: ModuleType, twilio: TwilioView) -> None:
    # "²" passes str.isdigit() and float() then raises: a 500 for a send Twilio refused.
    twilio.fail(429, retry_after=header)
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url), request())
    assert (raised.value.error.code, raised.value.transient, raised.value.retry_after) == ("rate_limited", True, None)


def test_500_is_transient_twilio_unavailable(client_module: ModuleType, twilio: TwilioView) -> None:
    twilio.fail(500)
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url), request())
    assert (raised.value.error.code, raised.value.http_status, raised.value.transient) == ("twilio_unavailable", 500, True)
    assert raised.value.retry_after is None


def test_wrong_token_is_a_permanent_authentication_failure(client_module: ModuleType, twilio: TwilioView) -> None:
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url, TWILIO_AUTH_TOKEN="wrong"), request())
    assert (raised.value.error.code, raised.value.error.twilio_code, raised.value.transient) == (
        "twilio_authentication_failed",
        20003,
        False,
    )


def test_nobody_listening_is_transient(client_module: ModuleType) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(f"http://127.0.0.1:{port}"), request())
    assert (raised.value.error.code, raised.value.http_status, raised.value.transient) == ("twilio_unavailable", None, True)


def test_read_timeout_is_transient(client_module: ModuleType, twilio: TwilioView, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "READ_TIMEOUT", 0.2)
    twilio.fail(201, delay=1.0)
    with pytest.raises(client_module.TwilioCallFailed) as raised:
        client_module.create_message(settings_for(twilio.url), request())
    assert (raised.value.error.code, raised.value.transient) == ("twilio_unavailable", True)


def test_edge_and_region_in_the_environment_do_not_move_the_base_url(
    client_module: ModuleType, twilio: TwilioView, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    accepted = client_module.create_message(settings_for(twilio.url), request())
    assert accepted.sid.startswith("SM") and len(twilio.requests) == 1


def test_connections_are_reused_across_sends(client_module: ModuleType, twilio: TwilioView) -> None:
    config = settings_for(twilio.url)
    for _ in range(5):
        client_module.create_message(config, request())
    assert len(twilio.requests) == 5
    assert len(twilio.connections) == 1


def test_last_response_is_per_thread(client_module: ModuleType, twilio: TwilioView) -> None:
    import threading

    http = client_module.KeepingHttpClient()
    seen: dict[str, Any] = {}

    def call(name: str, path: str) -> None:
        http.request("POST", twilio.url + path, data={})
        seen[name] = http.last_response().status_code

    threads = [
        threading.Thread(target=call, args=("missing", "/nowhere")),
        threading.Thread(target=call, args=("unauth", "/2010-04-01/Accounts/AC" + "1" * 32 + "/Messages.json")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"missing": 404, "unauth": 401}
    assert http.last_response() is None
