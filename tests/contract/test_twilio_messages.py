"""Our Messages API requests, as the Twilio SDK makes them, checked by Prism against Twilio's spec."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from tests.support.prism import explicit_form_encoding
from tests.support.sandbox import TWILIO_SPEC, twilio_client

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
SENDER, CUSTOMER, SERVICE = "+15005550006", "+15005550010", "MG" + "0" * 32
# The spec's example for a created message: Prism answers with it only to a valid request.
EXAMPLE_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


class RecordingHttpClient(TwilioHttpClient):
    """Keeps the status and headers Prism answered with, which the SDK does not expose."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[int, dict[str, str]]] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = super().request(*args, **kwargs)
        self.answers.append((response.status_code, dict(response.headers or {})))
        return response


SENDS: dict[str, dict[str, Any]] = {
    "to from body": {"to": CUSTOMER, "from_": SENDER, "body": "Your order has shipped"},
    "messaging service": {"to": CUSTOMER, "messaging_service_sid": SERVICE, "body": "Via the service"},
    "two media": {"to": CUSTOMER, "from_": SENDER, "body": "Pictures", "media_url": ["https://example.com/a.jpg", "https://example.com/b.png"]},
    "media only": {"to": CUSTOMER, "from_": SENDER, "media_url": ["https://example.com/a.jpg"]},
    "status callback": {"to": CUSTOMER, "from_": SENDER, "body": "Tracked", "status_callback": "https://status.example.com/twilio/status"},
    "validity period": {"to": CUSTOMER, "from_": SENDER, "body": "Expires", "validity_period": 600},
    "max price": {"to": CUSTOMER, "from_": SENDER, "body": "Capped", "max_price": 0.05},
    "unicode body": {"to": CUSTOMER, "from_": SENDER, "body": "Grüße 👍"},
    "whatsapp": {"to": "whatsapp:" + CUSTOMER, "from_": "whatsapp:" + SENDER, "body": "Hola"},
}


@pytest.mark.parametrize("label", sorted(SENDS))
def test_prism_accepts_every_send_we_make(prism_base_url: str, label: str) -> None:
    http = RecordingHttpClient()
    client = twilio_client(prism_base_url, SID, TOKEN, http_client=http)
    message = client.messages.create(**SENDS[label])
    assert message.sid == EXAMPLE_SID
    [(status, headers)] = http.answers
    assert status == 201
    assert "sl-violations" not in {name.lower() for name in headers}, headers


def test_prism_accepts_a_fetch(prism_client: Client) -> None:
    message = prism_client.messages("SM" + "1" * 32).fetch()
    assert message.sid is not None and message.sid.startswith("SM")


def messages_url(base: str, account: str = SID) -> str:
    return f"{base}/2010-04-01/Accounts/{account}/Messages.json"


MALFORMED: dict[str, tuple[dict[str, str], tuple[str, str] | None, str, int, str]] = {
    # label: (form, basic auth, account in the path, Prism's status, text in the violation)
    "no To": ({"From": SENDER, "Body": "x"}, (SID, TOKEN), SID, 422, "'To'"),
    "ValidityPeriod abc": ({"To": CUSTOMER, "From": SENDER, "Body": "x", "ValidityPeriod": "abc"}, (SID, TOKEN), SID, 422, "ValidityPeriod"),
    "MaxPrice not a number": ({"To": CUSTOMER, "From": SENDER, "Body": "x", "MaxPrice": "cheap"}, (SID, TOKEN), SID, 422, "MaxPrice"),
    "AccountSid malformed": ({"To": CUSTOMER, "From": SENDER, "Body": "x"}, (SID, TOKEN), "AC123", 422, "AccountSid"),
    "MediaUrl not a URL": ({"To": CUSTOMER, "From": SENDER, "MediaUrl": "not a url"}, (SID, TOKEN), SID, 422, "MediaUrl"),
    "no basic auth": ({"To": CUSTOMER, "From": SENDER, "Body": "x"}, None, SID, 401, "security"),
}


@pytest.mark.parametrize("label", sorted(MALFORMED))
def test_prism_rejects_a_malformed_request(prism_base_url: str, label: str) -> None:
    form, auth, account, status, violation = MALFORMED[label]
    response = requests.post(messages_url(prism_base_url, account), data=form, auth=auth, timeout=30)
    assert response.status_code == status, response.text
    assert violation.lower() in response.text.lower()  # Prism lower-cases path parameter names


def test_prism_spec_only_spells_out_form_encodings() -> None:
    original = json.loads(TWILIO_SPEC.read_text())
    derived = explicit_form_encoding(original)
    body = derived["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]["requestBody"]["content"]
    assert body["application/x-www-form-urlencoded"]["encoding"]["MediaUrl"] == {"style": "form", "explode": True}
    for operations in derived["paths"].values():
        for operation in operations.values():
            form = operation.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {}) if isinstance(operation, dict) else {}
            form.pop("encoding", None)
    assert derived == original
