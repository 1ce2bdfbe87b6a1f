"""The connection overrides on every URL we hand Twilio: signatures still match, answers fit."""

from __future__ import annotations

from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from carrier_core.signature import validate_signature
from carrier_core.webhook import CONNECTION_OVERRIDES, SLOWEST_ANSWER_SECONDS, with_overrides, without_fragment

STATUS = "https://carrier.example.com/dev/twilio/acme/status"
TOKEN = "a-token"


def overrides_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(url.partition("#")[2]))


def test_the_overrides_are_within_twilios_documented_limits() -> None:
    o = overrides_of(with_overrides(STATUS))
    assert set(o) == {"ct", "rt", "tt", "rc", "rp"}
    assert 100 <= int(o["ct"]) <= 10_000 and 100 <= int(o["rt"]) <= 15_000 and 100 <= int(o["tt"]) <= 15_000
    assert 0 < int(o["rc"]) <= 5
    assert set(o["rp"].split(",")) <= {"4xx", "5xx", "ct", "rt", "all"} and "5xx" in o["rp"]


def test_our_slowest_answer_comes_before_twilios_read_timeout_and_total() -> None:
    o = dict(CONNECTION_OVERRIDES)
    assert SLOWEST_ANSWER_SECONDS * 1000 < int(o["rt"]) <= int(o["tt"])


def test_a_url_with_overrides_validates_as_twilio_signs_it_without_the_fragment() -> None:
    handed = with_overrides(STATUS + "?x=1#old")
    assert handed.count("#") == 1 and handed.startswith(STATUS + "?x=1#")
    params = [("MessageSid", "SM" + "0" * 32), ("MessageStatus", "delivered")]
    # Twilio requests and signs the URL less its fragment; RequestValidator is the oracle.
    signature = RequestValidator(TOKEN).compute_signature(without_fragment(handed), dict(params))
    validate_signature([TOKEN], STATUS + "?x=1", params, signature)
    assert RequestValidator(TOKEN).validate(STATUS + "?x=1", dict(params), signature)
