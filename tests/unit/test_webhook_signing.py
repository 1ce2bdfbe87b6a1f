"""Reading a signed webhook: configured URLs with a query, and Twilio's SharedKey signing.

Every signature here is made by twilio.request_validator.RequestValidator, the oracle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.request_validator import RequestValidator, get_signature_algorithm

from carrier_core.errors import InvalidSignature
from carrier_core.webhook import read_twilio_request
from tests.support.forms import MultiForm, encode, sign, sms
from tests.support.inbound_app import INBOUND_URL, TOKEN, UNIT_ENV, inbound_harness

SHARED_KEY = "webhook-shared-key-secret-0000000000"
FORM_TYPE = {"content-type": "application/x-www-form-urlencoded"}
BASE = "https://carrier.example.com/twilio/inbound"


def received_query(url: str) -> list[tuple[str, str]]:
    """The query as API Gateway hands it to the function: decoded (name, value) pairs."""
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


@pytest.mark.parametrize("query", ["?a=1&a=2", "?x=a%20b", "?flag", "?tenant=acme&b=2", "?q=%2B1%20555&empty=", ""])
def test_configured_url_with_a_query_validates_as_twilio_signed_it(query: str) -> None:
    url = BASE + query
    pairs = sms()
    headers = {**FORM_TYPE, "x-twilio-signature": sign(url, pairs, TOKEN)}
    assert read_twilio_request([TOKEN], url, headers, received_query(url), encode(pairs)) == pairs


@pytest.mark.parametrize("query", ["?a=1&a=2", "?x=a%20b", "?flag"])
def test_a_query_twilio_did_not_sign_is_refused(query: str) -> None:
    url = BASE + query
    pairs = sms()
    headers = {**FORM_TYPE, "x-twilio-signature": sign(url, pairs, TOKEN)}
    with pytest.raises(InvalidSignature):
        read_twilio_request([TOKEN], url, headers, received_query(url) + [("extra", "1")], encode(pairs))


@pytest.mark.parametrize("query", ["?flag", "?flag=", "?a=1&flag", "?flag&a=1", "?flag&other", "?x=a%20b&flag"])
def test_a_query_beyond_the_configured_url_validates_as_twilio_signed_it(query: str) -> None:
    """The number's URL is the configured one plus a query: Twilio signs it as given, and API
    Gateway hands over `?flag` and `?flag=` alike, as an empty value."""
    called = BASE + query
    pairs = sms()
    headers = {**FORM_TYPE, "x-twilio-signature": sign(called, pairs, TOKEN)}
    assert read_twilio_request([TOKEN], BASE, headers, received_query(called), encode(pairs)) == pairs


@pytest.mark.parametrize("query", ["?flag", "?flag="])
def test_a_bare_flag_twilio_did_not_sign_is_refused(query: str) -> None:
    pairs = sms()
    headers = {**FORM_TYPE, "x-twilio-signature": sign(BASE, pairs, TOKEN)}
    with pytest.raises(InvalidSignature):
        read_twilio_request([TOKEN], BASE, headers, received_query(BASE + query), encode(pairs))


@pytest.mark.parametrize("query", ["", "?x=a%20b", "?flag"])
def test_json_webhook_adds_body_sha256_to_the_configured_query(query: str) -> None:
    body = json.dumps({"MessageSid": "SM" + "c" * 32}).encode()
    called = BASE + query + ("&" if query else "?") + "bodySHA256=" + hashlib.sha256(body).hexdigest()
    headers = {"content-type": "application/json", "x-twilio-signature": RequestValidator(TOKEN).compute_signature(called, {})}
    assert read_twilio_request([TOKEN], BASE + query, headers, received_query(called), body) == ()


def shared_key_headers(url: str, pairs: list[tuple[str, str]], key: str, algorithm: str, settings: str | None = None) -> dict[str, str]:
    signature = RequestValidator(key).compute_signature(url, MultiForm(pairs), algorithm=algorithm)
    value = settings if settings is not None else f"key=webhooks_sharedkey_0001,algorithm={algorithm}"
    return {**FORM_TYPE, "x-twilio-signature": signature, "x-twilio-webhooks-signature-settings": value}


@dataclass(frozen=True)
class SharedCase:
    label: str
    key: str
    algorithm: str
    accepted: bool
    settings: str | None = None
    configured: tuple[str, ...] = (SHARED_KEY,)


SHARED_CASES = [
    SharedCase("HMAC_SHA256 with the shared key", SHARED_KEY, "HMAC_SHA256", True),
    SharedCase("HMAC_SHA1 with the shared key", SHARED_KEY, "HMAC_SHA1", True),
    SharedCase("settings in another order and spacing", SHARED_KEY, "HMAC_SHA256", True, settings=" algorithm=HMAC_SHA256 , key=k1"),
    SharedCase("signed with the auth token instead", TOKEN, "HMAC_SHA256", False),
    SharedCase("another shared key", "not-our-shared-key", "HMAC_SHA256", False),
    SharedCase("no shared key configured", SHARED_KEY, "HMAC_SHA256", False, configured=()),
    SharedCase("an algorithm we do not know", SHARED_KEY, "HMAC_SHA256", False, settings="key=k1,algorithm=HMAC_SHA512"),
    SharedCase("settings claim SHA1, signed SHA256", SHARED_KEY, "HMAC_SHA256", False, settings="key=k1,algorithm=HMAC_SHA1"),
]


@pytest.mark.parametrize("case", SHARED_CASES, ids=lambda c: c.label)
def test_shared_key_signing_agrees_with_request_validator(case: SharedCase) -> None:
    pairs = sms()
    headers = shared_key_headers(BASE, pairs, case.key, case.algorithm, case.settings)
    oracle_algorithm = get_signature_algorithm(headers["x-twilio-webhooks-signature-settings"])
    oracle = bool(case.configured) and RequestValidator(case.configured[0]).validate(
        BASE, MultiForm(pairs), headers["x-twilio-signature"], algorithm=oracle_algorithm
    )
    try:
        read_twilio_request([TOKEN], BASE, headers, [], encode(pairs), shared_keys=case.configured)
        ours = True
    except InvalidSignature:
        ours = False
    assert ours == oracle == case.accepted


def test_inbound_app_accepts_shared_key_signing_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(UNIT_ENV, "TWILIO_WEBHOOK_SHARED_KEY", SHARED_KEY)
    pairs = sms()
    headers = shared_key_headers(INBOUND_URL, pairs, SHARED_KEY, "HMAC_SHA256")
    with inbound_harness() as harness:
        good = harness.client.http.post("/twilio/inbound", headers=headers, body=encode(pairs))
        forged = harness.client.http.post(
            "/twilio/inbound", headers=shared_key_headers(INBOUND_URL, sms(), TOKEN, "HMAC_SHA256"), body=encode(sms())
        )
    assert good.status_code == 200, good.body
    assert forged.status_code == 403


def test_shared_key_is_read_from_ssm_and_never_shown() -> None:
    from carrier_core.settings import Settings

    env = {
        "STAGE": "prod",
        "TWILIO_ACCOUNT_SID": "AC" + "f" * 32,
        "TWILIO_AUTH_TOKEN_PARAMETER": "/t",
        "INBOUND_WEBHOOK_URL": BASE,
        "TWILIO_WEBHOOK_SHARED_KEY_PARAMETER": "/omni-twilio/prod/webhook-shared-key",
    }
    settings = Settings.from_env("inbound", env, read_secret=lambda name, region: f"secret-of:{name}")
    assert settings.account.webhook_shared_keys == ("secret-of:/omni-twilio/prod/webhook-shared-key",)
    assert "secret-of" not in repr(settings)
    assert (
        Settings.from_env(
            "inbound", {**env, "TWILIO_WEBHOOK_SHARED_KEY_PARAMETER": ""}, read_secret=lambda n, r: "x"
        ).account.webhook_shared_keys
        == ()
    )
