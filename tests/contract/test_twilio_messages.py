"""Our Messages API requests, as the Twilio SDK makes them, checked by Prism against Twilio's spec."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from twilio.rest import Client

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from tests.support.prism import OUTBOUND_SENDS, RecordingHttpClient, explicit_form_encoding, violations
from tests.support.sandbox import TWILIO_SPEC, twilio_client

SID, TOKEN = LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
SENDER, CUSTOMER = "+15005550006", "+15005550010"
# The spec's example for a created message: Prism answers with it only to a valid request.
EXAMPLE_SID = "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"


@pytest.mark.parametrize("label", sorted(OUTBOUND_SENDS))
def test_prism_accepts_every_send_we_make(prism_base_url: str, label: str) -> None:
    http = RecordingHttpClient()
    client = twilio_client(prism_base_url, SID, TOKEN, http_client=http)
    message = client.messages.create(**OUTBOUND_SENDS[label])
    assert message.sid == EXAMPLE_SID
    [(status, headers)] = http.answers
    assert status == 201
    assert violations(headers) == [], headers


def test_prism_accepts_a_fetch(prism_client: Client) -> None:
    message = prism_client.messages("SM" + "1" * 32).fetch()
    assert message.sid is not None and message.sid.startswith("SM")


def messages_url(base: str, account: str = SID) -> str:
    return f"{base}/2010-04-01/Accounts/{account}/Messages.json"


MALFORMED: dict[str, tuple[dict[str, str], tuple[str, str] | None, str, int, str]] = {
    # label: (form, basic auth, account in the path, Prism's status, text in the violation)
    "no To": ({"From": SENDER, "Body": "x"}, (SID, TOKEN), SID, 422, "'To'"),
    "ValidityPeriod abc": (
        {"To": CUSTOMER, "From": SENDER, "Body": "x", "ValidityPeriod": "abc"},
        (SID, TOKEN),
        SID,
        422,
        "ValidityPeriod",
    ),
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
            form = (
                operation.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
                if isinstance(operation, dict)
                else {}
            )
            form.pop("encoding", None)
    assert derived == original
