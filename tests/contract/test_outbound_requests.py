"""The outbound service's own Twilio requests, made by its own client code, checked by Prism.

Each payload goes through what `POST /messages` runs: OutboundRequest.from_json (our
validation) and chalicelib.twilio_client.create_message (our HTTP client under the Twilio
SDK). Prism, serving Twilio's OpenAPI spec, must accept every one; a request that slips
past our validation with a value Twilio's spec forbids must be refused by Prism.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from carrier_core.settings import Settings
from tests.support.apps import load_app
from tests.support.outbound import outbound_environ
from tests.support.prism import violations

CUSTOMER = "+15005550010"
EXAMPLE_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

PAYLOADS: dict[str, dict[str, Any]] = {
    "sms from the default sender": {"to": CUSTOMER, "body": "Your order shipped"},
    "explicit sender": {"to": CUSTOMER, "from": "+15005550006", "body": "hi"},
    "messaging service": {"to": CUSTOMER, "messaging_service_sid": "MG" + "0" * 32, "body": "hi"},
    "mms with two media": {"to": CUSTOMER, "body": "look", "media_urls": ["https://example.com/a.jpg", "https://example.com/b.png"]},
    "media only": {"to": CUSTOMER, "media_urls": ["https://example.com/a.jpg"]},
    "own status callback": {"to": CUSTOMER, "body": "hi", "status_callback": "https://hooks.example.com/status?tenant=7"},
    "validity and price": {"to": CUSTOMER, "body": "hi", "validity_period": 600, "max_price": 0.05},
    "whatsapp": {"to": "whatsapp:" + CUSTOMER, "from": "whatsapp:+15005550006", "body": "hola"},
    "unicode body": {"to": CUSTOMER, "body": "¿Llegó? 🚚 " * 20},
}


@pytest.fixture
def outbound(prism_base_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, Settings]]:
    for name, value in outbound_environ(prism_base_url).items():
        monkeypatch.setenv(name, value)
    app = load_app("outbound")
    from chalicelib import twilio_client  # the module load_app just imported

    twilio_client.reset_client()
    yield twilio_client, app.runtime.settings
    twilio_client.reset_client()


def request_of(payload: dict[str, Any], settings: Settings) -> Any:
    from chalicelib.request import OutboundRequest

    return OutboundRequest.from_json(json.dumps(payload).encode(), settings)


@pytest.mark.parametrize("label", sorted(PAYLOADS))
def test_prism_accepts_what_the_outbound_service_sends(outbound: tuple[ModuleType, Settings], label: str) -> None:
    twilio_client, settings = outbound
    accepted = twilio_client.create_message(settings, request_of(PAYLOADS[label], settings))
    assert accepted.sid == EXAMPLE_SID
    _, http = twilio_client.get_client(settings)
    answer = http.last_response()
    assert answer is not None and answer.status_code == 201
    assert violations(answer.headers) == []


@pytest.mark.parametrize(
    ("label", "change"),
    [
        ("validity period not a number", {"validity_period": "abc"}),
        ("max price not a number", {"max_price": "cheap"}),
        ("status callback not a URL", {"status_callback": "not a url"}),
    ],
)
def test_prism_refuses_what_our_validation_would_stop(outbound: tuple[ModuleType, Settings], label: str, change: dict[str, Any]) -> None:
    """Built past from_json, as a bug in our validation would: Prism is the second line."""
    twilio_client, settings = outbound
    request = dataclasses.replace(request_of(PAYLOADS["sms from the default sender"], settings), **change)
    with pytest.raises(twilio_client.TwilioCallFailed) as failed:
        twilio_client.create_message(settings, request)
    assert failed.value.http_status is not None and 400 <= failed.value.http_status < 500
