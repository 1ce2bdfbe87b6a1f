"""carrier_core's validator must agree with Twilio's RequestValidator, the oracle, byte for byte."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pytest
from twilio.request_validator import RequestValidator

from carrier_core.errors import InvalidSignature
from carrier_core.signature import compute_signature, url_variants, validate_signature
from tests.support.forms import MultiForm, sign, sms

TOKEN = "12345678901234567890123456789012"
SECONDARY = "abcdefabcdefabcdefabcdefabcdefab"
URL = "https://carrier.example.com/twilio/inbound"


@dataclass
class Case:
    label: str
    url: str = URL
    pairs: list[tuple[str, str]] = field(default_factory=lambda: sms(sid="SM" + "a" * 32))


CASES = [
    Case("sms form"),
    Case("no params", pairs=[]),
    Case("empty values", pairs=[("Body", ""), ("From", "+15005550010"), ("MediaUrl0", "")]),
    Case("repeated keys", pairs=[("MediaUrl", "https://b.example/2"), ("To", "+1"), ("MediaUrl", "https://a.example/1")]),
    Case("repeated identical pair", pairs=[("Tag", "x"), ("Tag", "x"), ("Tag", "y")]),
    Case("non-ascii body", pairs=sms(sid="SM" + "b" * 32, body="¿Llegó mi pedido? 🚚 Zoë — 日本語")),
    Case("query string in url", url=URL + "?tenant=acme&b=2"),
    Case("explicit :443", url="https://carrier.example.com:443/twilio/inbound"),
    Case("explicit other port", url="https://carrier.example.com:8443/twilio/inbound"),
    Case("http with :80", url="http://127.0.0.1:80/twilio/inbound"),
    Case("http local port", url="http://127.0.0.1:8001/twilio/inbound"),
    Case("special characters", pairs=[("Body", "a+b=c&d%20e / ?"), ("From", "whatsapp:+15005550010")]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_compute_signature_equals_request_validator(case: Case) -> None:
    oracle = RequestValidator(TOKEN).compute_signature(case.url, MultiForm(case.pairs))
    assert compute_signature(TOKEN, case.url, case.pairs) == oracle


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_oracle_signature_validates(case: Case) -> None:
    validate_signature([TOKEN], case.url, case.pairs, sign(case.url, case.pairs, TOKEN))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_agrees_with_oracle_on_port_variants(case: Case) -> None:
    """Signed with or without the default port, both sides accept or reject alike."""
    for signed_url in url_variants(case.url):
        signature = sign(signed_url, case.pairs, TOKEN)
        expected = RequestValidator(TOKEN).validate(case.url, MultiForm(case.pairs), signature)
        try:
            validate_signature([TOKEN], case.url, case.pairs, signature)
            ours = True
        except InvalidSignature:
            ours = False
        assert ours == expected


def test_url_signed_with_port_validates_against_url_without() -> None:
    pairs = sms()
    validate_signature([TOKEN], URL, pairs, sign("https://carrier.example.com:443/twilio/inbound", pairs, TOKEN))
    validate_signature([TOKEN], "https://carrier.example.com:443/twilio/inbound", pairs, sign(URL, pairs, TOKEN))


@pytest.mark.parametrize(
    ("label", "signature_of"),
    [
        ("other token", lambda pairs: sign(URL, pairs, "not-the-token")),
        ("other url", lambda pairs: sign("https://evil.example/twilio/inbound", pairs, TOKEN)),
        ("other path", lambda pairs: sign(URL + "/x", pairs, TOKEN)),
        ("tampered body", lambda pairs: sign(URL, pairs[:-1] + [("From", "+19999999999")], TOKEN)),
        ("empty", lambda pairs: ""),
        ("truncated", lambda pairs: sign(URL, pairs, TOKEN)[:-2]),
    ],
)
def test_bad_signatures_are_refused(label: str, signature_of: object) -> None:
    pairs = sms()
    assert callable(signature_of)
    with pytest.raises(InvalidSignature):
        validate_signature([TOKEN], URL, pairs, signature_of(pairs))


def test_secondary_token_is_accepted_during_rotation() -> None:
    pairs = sms()
    validate_signature([TOKEN, SECONDARY], URL, pairs, sign(URL, pairs, SECONDARY))
    with pytest.raises(InvalidSignature):
        validate_signature([TOKEN], URL, pairs, sign(URL, pairs, SECONDARY))


def test_json_body_signed_with_body_sha256() -> None:
    body = json.dumps({"MessageSid": "SM" + "c" * 32, "Body": "héllo"}).encode()
    url = URL + "?bodySHA256=" + hashlib.sha256(body).hexdigest()
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert RequestValidator(TOKEN).validate(url, body.decode(), signature)
    validate_signature([TOKEN], url, (), signature, raw_body=body)
    with pytest.raises(InvalidSignature):
        validate_signature([TOKEN], url, (), signature, raw_body=body + b" ")
