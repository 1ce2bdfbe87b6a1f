"""POST /messages bodies checked before anything leaves us: phone numbers, body, media, options."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from carrier_core.webhook import with_overrides
from carrier_core.errors import CarrierError
from carrier_core.phone import PhoneAddress, parse_address
from carrier_core.settings import Settings
from tests.support.outbound import outbound_module

OutboundRequest = outbound_module("request").OutboundRequest

SERVICE_SID = "MG" + "a" * 32
OK = {"to": "+15005550010", "body": "hi"}


def settings(stage: str = "dev", default_from: str | None = "+15005550006") -> Settings:
    env = {
        "STAGE": stage,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "t",
        "STATUS_WEBHOOK_URL": "https://status.example.com/twilio/status",
    }
    if stage == "local":
        env["DYNAMODB_ENDPOINT"] = "http://127.0.0.1:1"
    if default_from:
        env["TWILIO_DEFAULT_FROM_NUMBER"] = default_from
    return Settings.from_env("outbound", environ=env)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+15005550001", PhoneAddress(None, "+15005550001")),
        ("+447911123456", PhoneAddress(None, "+447911123456")),
        ("whatsapp:+14155552671", PhoneAddress("whatsapp", "+14155552671")),
    ],
)
def test_possible_numbers_parse(value: str, expected: PhoneAddress) -> None:
    assert parse_address(value, "to") == expected
    assert str(parse_address(value, "to")) == value


@pytest.mark.parametrize(
    "value",
    [
        "+1555",
        "15005550010",
        "+1 500 555 0010",
        "+1-500-555-0010",
        "+141555526712",
        "+0123",
        "sms:+15005550010",
        "whatsapp:15005550010",
        "",
        "+",
        "+1500555001x",
        15005550010,
        None,
    ],
)
def test_impossible_numbers_are_refused(value: Any) -> None:
    with pytest.raises(CarrierError) as raised:
        parse_address(value, "to")
    assert raised.value.code == "invalid_field"
    assert "to" in raised.value.message


@dataclass(frozen=True)
class Case:
    label: str
    body: Any
    code: str | None = None  # None: accepted
    expect: dict[str, Any] = field(default_factory=dict)
    stage: str = "dev"
    default_from: str | None = "+15005550006"


CASES = [
    Case(
        "minimal sms gets the default sender and status URL",
        OK,
        # Our own status URL, with the connection overrides that make Twilio retry our 5xx.
        expect={
            "from_number": "+15005550006",
            "status_callback": with_overrides("https://status.example.com/twilio/status"),
            "channel": "sms",
        },
    ),
    Case("media only is mms", {"to": "+15005550010", "media_urls": ["https://example.com/a.jpg"]}, expect={"channel": "mms", "body": None}),
    Case(
        "whatsapp to gets a whatsapp default sender",
        {"to": "whatsapp:+15005550010", "body": "hola"},
        expect={"from_number": "whatsapp:+15005550006", "channel": "whatsapp"},
    ),
    Case(
        "messaging service without from",
        {"to": "+15005550010", "body": "x", "messaging_service_sid": SERVICE_SID},
        expect={"from_number": None, "messaging_service_sid": SERVICE_SID},
    ),
    Case(
        "caller's status callback wins",
        {**OK, "status_callback": "https://cb.example.com/s"},
        expect={"status_callback": "https://cb.example.com/s"},
    ),
    Case("validity and price", {**OK, "validity_period": 36000, "max_price": 0.5}, expect={"validity_period": 36000, "max_price": 0.5}),
    Case("1600 chars accepted", {**OK, "body": "a" * 1600}),
    Case("10 media accepted", {**OK, "media_urls": [f"https://example.com/{i}.jpg" for i in range(10)]}),
    Case("http media allowed in local stage", {**OK, "media_urls": ["http://127.0.0.1/a.jpg"]}, stage="local"),
    Case("invalid json", "{not json", "malformed_body"),
    Case("json array", "[1, 2]", "malformed_body"),
    Case("unknown field", {**OK, "media_url": ["https://example.com/a.jpg"]}, "invalid_field"),
    Case("no to", {"body": "hi"}, "invalid_phone_number"),
    Case("short to", {**OK, "to": "+1555"}, "invalid_phone_number"),
    Case("bad from", {**OK, "from": "+1555"}, "invalid_sender"),
    Case("bad messaging service", {**OK, "messaging_service_sid": "MG123"}, "invalid_sender"),
    Case("whatsapp to with sms from", {**OK, "to": "whatsapp:+15005550010", "from": "+15005550006"}, "invalid_field"),
    Case("no body or media", {"to": "+15005550010"}, "missing_field"),
    Case("empty body and no media", {"to": "+15005550010", "body": ""}, "missing_field"),
    Case("1601 chars", {**OK, "body": "a" * 1601}, "message_too_long"),
    Case("body not a string", {**OK, "body": 5}, "invalid_field"),
    Case("11 media", {**OK, "media_urls": [f"https://example.com/{i}.jpg" for i in range(11)]}, "too_many_media"),
    Case("media not a list", {**OK, "media_urls": "https://example.com/a.jpg"}, "invalid_field"),
    Case("http media outside local", {**OK, "media_urls": ["http://example.com/a.jpg"]}, "invalid_media_url"),
    Case("relative media", {**OK, "media_urls": ["/a.jpg"]}, "invalid_media_url"),
    Case("ftp media in local", {**OK, "media_urls": ["ftp://example.com/a.jpg"]}, "invalid_media_url", stage="local"),
    Case("validity 0", {**OK, "validity_period": 0}, "invalid_field"),
    Case("validity 36001", {**OK, "validity_period": 36001}, "invalid_field"),
    Case("validity as string", {**OK, "validity_period": "60"}, "invalid_field"),
    Case("validity as bool", {**OK, "validity_period": True}, "invalid_field"),
    Case("negative price", {**OK, "max_price": -1}, "invalid_field"),
    Case("bad status callback", {**OK, "status_callback": "not a url"}, "invalid_field"),
    Case("no sender anywhere", OK, "missing_field", default_from=None),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_request(case: Case) -> None:
    raw = case.body if isinstance(case.body, str) else json.dumps(case.body)
    config = settings(case.stage, case.default_from)
    if case.code is not None:
        with pytest.raises(CarrierError) as raised:
            OutboundRequest.from_json(raw.encode(), config)
        assert raised.value.code == case.code
        assert raised.value.http_status == 400
        return
    request = OutboundRequest.from_json(raw.encode(), config)
    for name, value in case.expect.items():
        assert getattr(request, name) == value, name


def test_fingerprint_tells_requests_apart_and_survives_a_round_trip() -> None:
    config = settings()
    one = OutboundRequest.from_json(json.dumps(OK).encode(), config)
    same = OutboundRequest.from_json(json.dumps(dict(reversed(list(OK.items())))).encode(), config)
    other = OutboundRequest.from_json(json.dumps({**OK, "body": "hi!"}).encode(), config)
    assert one.fingerprint() == same.fingerprint() != other.fingerprint()
    assert OutboundRequest.from_dict(one.to_dict()) == one
