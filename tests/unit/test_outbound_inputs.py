"""Outbound inputs that used to reach a 500: deep JSON, lone surrogates, the local worker's
body, and message ids no API ever issued. Each row: what is sent, what comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client
from moto import mock_aws

from carrier_core.models import MessageModel, bind_models
from tests.support.apps import load_app
from tests.support.callbacks import MOTO_ENDPOINT
from tests.support.outbound import CUSTOMER, create_tables, outbound_environ, twilio  # noqa: F401
from tests.support.sandbox import TwilioView

JSON_TYPE = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Case:
    label: str
    method: str
    path: str
    body: str | bytes | None
    status: int
    code: str | None = None


def nested(depth: int) -> str:
    return '{"to": "' + CUSTOMER + '", "body": "x", "media_urls": ' + "[" * depth + "]" * depth + "}"


def send_with(**fields: Any) -> str:
    return json.dumps({"to": CUSTOMER, "body": "x", **fields})


CASES = [
    # json.loads gives up at about 1,000 levels on Python 3.11 and 1,500 on 3.12 (Lambda's):
    # past both, the body is refused whole; short of both, the field that holds it is.
    Case("JSON nested 10,000 deep", "POST", "/messages", nested(10_000), 400, "malformed_body"),
    Case("JSON nested 900 deep", "POST", "/messages", nested(900), 400, "invalid_media_url"),
    Case("JSON nested 100,000 deep", "POST", "/messages", "[" * 60_000, 400, "malformed_body"),
    Case("lone surrogate in body", "POST", "/messages", '{"to": "' + CUSTOMER + '", "body": "\\ud800"}', 400, "invalid_field"),
    Case(
        "lone surrogate in a field name", "POST", "/messages", '{"to": "' + CUSTOMER + '", "body": "x", "\\udfff": 1}', 400, "invalid_field"
    ),
    Case("lone surrogate in to", "POST", "/messages", '{"to": "\\ud800", "body": "x"}', 400, "invalid_field"),
    Case("invalid UTF-8", "POST", "/messages", b'{"to": "\xff", "body": "x"}', 400, "malformed_body"),
    Case(
        "integer of 5,000 digits",
        "POST",
        "/messages",
        '{"to": "' + CUSTOMER + '", "body": "x", "validity_period": ' + "9" * 5000 + "}",
        400,
        "malformed_body",
    ),
    Case("NaN max_price", "POST", "/messages", '{"to": "' + CUSTOMER + '", "body": "x", "max_price": NaN}', 400, "invalid_field"),
    # urlsplit raises ValueError on an unclosed IPv6 bracket, and .port on a port that is
    # no number or out of range: each a caller's typo, answered as the field it is in.
    Case("media URL with an unclosed bracket", "POST", "/messages", send_with(media_urls=["http://[::1"]), 400, "invalid_media_url"),
    Case(
        "media URL with port 99999", "POST", "/messages", send_with(media_urls=["http://example.com:99999/a.jpg"]), 400, "invalid_media_url"
    ),
    Case("media URL with port abc", "POST", "/messages", send_with(media_urls=["http://example.com:abc/a.jpg"]), 400, "invalid_media_url"),
    Case("media URL with port 0", "POST", "/messages", send_with(media_urls=["https://example.com:0/a.jpg"]), 400, "invalid_media_url"),
    Case(
        "media URL with a non-ASCII port",
        "POST",
        "/messages",
        send_with(media_urls=["https://example.com:\u0663/a.jpg"]),
        400,
        "invalid_media_url",
    ),
    Case("status callback with an unclosed bracket", "POST", "/messages", send_with(status_callback="http://[::1"), 400, "invalid_field"),
    Case(
        "status callback with port 99999",
        "POST",
        "/messages",
        send_with(status_callback="https://example.com:99999/s"),
        400,
        "invalid_field",
    ),
    Case("retry-failed: a list", "POST", "/_local/retry-failed", "[]", 400, "malformed_body"),
    Case("retry-failed: a number", "POST", "/_local/retry-failed", "5", 400, "malformed_body"),
    Case("retry-failed: not JSON", "POST", "/_local/retry-failed", "{", 400, "malformed_body"),
    Case("retry-failed: at a string", "POST", "/_local/retry-failed", '{"at": "soon"}', 400, "invalid_field"),
    Case("retry-failed: at true", "POST", "/_local/retry-failed", '{"at": true}', 400, "invalid_field"),
    Case("retry-failed: at NaN", "POST", "/_local/retry-failed", '{"at": NaN}', 400, "invalid_field"),
    Case("retry-failed: at Infinity", "POST", "/_local/retry-failed", '{"at": 1e999}', 400, "invalid_field"),
    Case("retry-failed: at 1e300", "POST", "/_local/retry-failed", '{"at": 1e300}', 400, "invalid_field"),
    Case("retry-failed: at negative", "POST", "/_local/retry-failed", '{"at": -1}', 400, "invalid_field"),
    Case("retry-failed: unknown field", "POST", "/_local/retry-failed", '{"when": 1}', 400, "invalid_field"),
    Case("retry-failed: empty object", "POST", "/_local/retry-failed", "{}", 200),
    Case("retry-failed: no body", "POST", "/_local/retry-failed", None, 200),
    Case("retry-failed: at a number", "POST", "/_local/retry-failed", '{"at": 1800000000}', 200),
    Case("id of 5,000 characters", "GET", "/messages/SM" + "a" * 4998, None, 400, "invalid_message_id"),
    Case("id with a slash-like payload", "GET", "/messages/..%2F..%2Fetc", None, 400, "invalid_message_id"),
    Case("id not hex", "GET", "/messages/SM" + "z" * 32, None, 400, "invalid_message_id"),
    Case("well-formed unknown SID", "GET", "/messages/SM" + "a" * 32, None, 404, "message_not_found"),
    Case("well-formed unknown retry id", "GET", "/messages/RQ" + "b" * 32, None, 404, "message_not_found"),
]


@pytest.fixture
def client(twilio: TwilioView, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:  # noqa: F811
    """The outbound app in the local stage (the only one with /_local/retry-failed), on moto."""
    for name in ("TWILIO_EDGE", "TWILIO_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in outbound_environ(twilio.url, STAGE="local", DYNAMODB_ENDPOINT=MOTO_ENDPOINT).items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        module = load_app("outbound")
        bind_models(module.runtime.settings)
        create_tables()
        with Client(module.app, stage_name="local") as test_client:
            yield test_client


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_outbound_input(case: Case, client: Client) -> None:
    if case.method == "POST":
        response: Any = client.http.post(case.path, headers=JSON_TYPE, body=case.body or b"")
    else:
        response = client.http.get(case.path)
    assert response.status_code == case.status, response.body[:300]
    payload = json.loads(response.body)
    if case.code is None:
        assert "error" not in payload
        return
    error = payload["error"]
    assert error["code"] == case.code and error["message"]
    assert set(error) == {"code", "message", "twilio_code", "retryable"}
    assert len(response.body) < 1000  # never an echo of the input
    assert list(MessageModel.scan()) == []
