"""The inbound route in-process: one row per behaviour, one runner."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from chalice.test import Client
from botocore.exceptions import EndpointConnectionError

from carrier_core.models import MessageModel, OptOutModel
from tests.support.apps import load_app, project_dir
from tests.support.faults import fail_dynamodb
from tests.support.forms import BUSINESS, CUSTOMER, drop, mms, replace, sms, whatsapp
from tests.support.inbound_app import INBOUND_URL, SECONDARY, TOKEN, UNIT_ENV, InboundHarness, inbound_harness
from tests.support.webhooks import post_webhook

SMS = sms(sid="SM" + "1" * 32, body="Where is my parcel?")
JSON_BODY = json.dumps({"MessageSid": "SM" + "8" * 32, "From": CUSTOMER, "To": BUSINESS, "Body": "hi"}).encode()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@dataclass
class Case:
    label: str
    form: list[tuple[str, str]]
    status: int
    code: str | None = None
    stored: int = 0
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    json: bytes | None = None  # posted as a JSON webhook instead of `form`
    declared: bytes | None = None  # the body its bodySHA256 hashes, when not `json` itself


CASES = [
    Case("sms", SMS, 200, stored=1),
    Case("mms with two media", mms(2, sid="MM" + "2" * 32), 200, stored=1),
    Case("whatsapp", whatsapp(sid="SM" + "3" * 32), 200, stored=1),
    Case("secondary token", SMS, 200, stored=1, token=SECONDARY),
    Case("wrong token", SMS, 403, code="invalid_signature", token="someone-else"),
    Case("no sid", drop(SMS, "MessageSid", "SmsMessageSid", "SmsSid"), 400, code="missing_field"),
    Case("no from", drop(SMS, "From"), 400, code="missing_field"),
    Case("no to", drop(SMS, "To"), 400, code="missing_field"),
    Case("sid not a sid", replace(SMS, MessageSid="SM123", SmsMessageSid="SM123"), 400, code="invalid_field"),
    Case("messaging service sid not one", replace(SMS, MessagingServiceSid="\x0e\x19p"), 400, code="invalid_field"),
    Case("NumMedia not a number", replace(SMS, NumMedia="two"), 400, code="invalid_field"),
    Case("NumMedia over ten", replace(SMS, NumMedia="11"), 400, code="invalid_field"),
    Case("NumMedia a superscript digit", replace(SMS, NumMedia="\u00b2"), 400, code="invalid_field"),
    Case("NumMedia an Arabic-Indic digit", replace(SMS, NumMedia="\u0663"), 400, code="invalid_field"),
    Case("NumSegments of 4,301 digits", replace(SMS, NumSegments="9" * 4301), 400, code="invalid_field"),
    Case("media field number of 4,301 digits", SMS + [("MediaUrl" + "1" * 4301, "https://example.com/a.jpg")], 400, code="media_mismatch"),
    Case("media field number in Arabic-Indic digits", SMS + [("MediaUrl\u0660", "https://example.com/a.jpg")], 400, code="media_mismatch"),
    Case("javascript media url", replace(mms(1, sid="MM" + "a" * 32), MediaUrl0="javascript:alert(1)"), 400, code="invalid_media_url"),
    Case("file media url", replace(mms(1, sid="MM" + "b" * 32), MediaUrl0="file:///etc/passwd"), 400, code="invalid_media_url"),
    Case("media url without a host", replace(mms(1, sid="MM" + "c" * 32), MediaUrl0="https:///x"), 400, code="invalid_media_url"),
    Case("unparseable media url", replace(mms(1, sid="MM" + "e" * 32), MediaUrl0="https://[::1"), 400, code="invalid_media_url"),
    Case("plain http media url", replace(mms(1, sid="MM" + "d" * 32), MediaUrl0="http://media.example.com/a.jpg"), 200, stored=1),
    Case("media url without NumMedia", drop(mms(1, sid="MM" + "4" * 32), "NumMedia"), 400, code="media_mismatch"),
    Case("NumMedia without media", replace(SMS, NumMedia="1"), 400, code="media_mismatch"),
    Case("sid twice", SMS + [("MessageSid", "SM" + "9" * 32)], 400, code="invalid_field"),
    Case("oversized", replace(SMS, Body="x" * 70_000), 413, code="payload_too_large"),
    Case("text/plain content type", SMS, 415, code="unsupported_content_type", headers={"Content-Type": "text/plain"}),
    # A JSON webhook signed with bodySHA256 passes the signature check, but carries no
    # message form, so nothing is stored; one whose body is not the one it declares is forged.
    Case("json body signed with bodySHA256", [], 400, code="missing_field", json=JSON_BODY),
    Case(
        "json body that is not the one its bodySHA256 declares",
        [],
        403,
        code="invalid_signature",
        json=JSON_BODY,
        declared=JSON_BODY + b" ",
    ),
]


@pytest.fixture
def harness() -> Iterator[InboundHarness]:
    with inbound_harness() as h:
        yield h


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_inbound(case: Case, harness: InboundHarness) -> None:
    kwargs = {"token": case.token} if case.token else {}
    if case.json is not None:
        response = harness.post_json(case.json, declared=case.declared, **kwargs)
    else:
        response = harness.post(case.form, **kwargs, **case.headers)
    assert response.status_code == case.status
    if case.code is None:
        assert response.headers["Content-Type"] == "text/xml"
        assert response.body.decode() == EMPTY_TWIML
    else:
        error = json.loads(response.body)["error"]
        assert error["code"] == case.code
        assert error["message"] and "Traceback" not in error["message"]
        assert set(error) == {"code", "message", "twilio_code", "retryable"}
    assert MessageModel.count() == case.stored


def test_stored_item_has_every_field(harness: InboundHarness) -> None:
    form = mms(2, sid="MM" + "5" * 32, body="pics")
    harness.post(form)
    item = MessageModel.get("MM" + "5" * 32)
    fields = dict(form)
    assert (item.direction, item.channel, item.status) == ("inbound", "mms", "received")
    assert (item.from_number, item.to_number, item.body) == (CUSTOMER, BUSINESS, "pics")
    # Pending until the media re-host copies them (carrier_core.media.rehost), off this path.
    assert [(m.url, m.content_type, m.status, m.stored_url) for m in item.media] == [
        (fields["MediaUrl0"], "image/jpeg", "pending", None),
        (fields["MediaUrl1"], "image/png", "pending", None),
    ]
    assert [h.status for h in item.history] == ["received"]
    assert item.expires_at is not None and item.created_at == item.updated_at


def test_one_dynamodb_call_per_webhook_duplicate_or_not(harness: InboundHarness) -> None:
    for form in (SMS, SMS, sms(body="STOP"), sms(body="stop")):
        harness.calls.clear()
        assert harness.post(form).status_code == 200
        assert sum(harness.calls.values()) == 1, harness.calls
    assert MessageModel.count() == 3


def test_duplicate_stop_changes_nothing(harness: InboundHarness) -> None:
    stop = sms(sid="SM" + "6" * 32, body="STOP")
    start = sms(sid="SM" + "7" * 32, body="START")
    for form in (stop, start, stop):  # Twilio retrying the STOP after START was stored
        assert harness.post(form).status_code == 200
    assert OptOutModel.get(CUSTOMER, BUSINESS).opted_out is False


def test_storage_down_is_503_and_nothing_half_written(harness: InboundHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_dynamodb(monkeypatch, EndpointConnectionError(endpoint_url="http://db"), "PutItem")
    response = harness.post(SMS)
    assert response.status_code == 503
    error = json.loads(response.body)["error"]
    assert (error["code"], error["retryable"]) == ("storage_unavailable", True)
    assert MessageModel.count() == 0


def test_stop_transaction_failure_writes_neither(harness: InboundHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    def refuse(self: TransactWrite, *args: object) -> None:
        raise TransactWriteError("throttled")

    monkeypatch.setattr(TransactWrite, "__exit__", refuse)
    response = harness.post(sms(body="STOP"))
    assert response.status_code == 503
    assert MessageModel.count() == 0 and OptOutModel.count() == 0


def test_unexpected_error_is_500_without_traceback(harness: InboundHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_dynamodb(monkeypatch, RuntimeError("secret internals"), "PutItem")
    response = harness.post(SMS)
    assert response.status_code == 500
    assert json.loads(response.body)["error"]["code"] == "internal_error"
    assert b"secret internals" not in response.body


def test_logs_never_hold_number_body_or_token(
    harness: InboundHarness, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "my one-time code is 889911"
    harness.post(sms(body=secret, From="+15005554321"))
    harness.post(sms(body="STOP", From="+15005554322"))
    harness.post(sms(), token="bad")
    captured = caplog.text + capsys.readouterr().out
    assert "opt-out recorded" in captured
    for forbidden in (secret, "5005554321", "5005554322", "unit-test-auth-token"):
        assert forbidden not in captured


def test_health_reports_tables(harness: InboundHarness) -> None:
    response = harness.client.http.get("/health")
    assert response.status_code == 200
    assert json.loads(response.body)["version"]  # carrier_core.version: the environment, the zip, or "unknown"
    assert json.loads(response.body)["tables"] == {
        MessageModel.Meta.table_name: "ACTIVE",
        OptOutModel.Meta.table_name: "ACTIVE",
    }


def test_health_is_503_without_tables(harness: InboundHarness) -> None:
    OptOutModel.delete_table()
    response = harness.client.http.get("/health")
    assert response.status_code == 503
    assert json.loads(response.body)["error"]["code"] == "storage_unavailable"


def test_unreachable_dynamodb_is_503_so_twilio_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real refused connection (nothing listens on the port), not a mocked exception."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    for name, value in {**UNIT_ENV, "STAGE": "local", "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{closed_port}"}.items():
        monkeypatch.setenv(name, value)
    app = load_app("inbound")
    with Client(app.app, stage_name="local", project_dir=project_dir("inbound")) as client:
        response = post_webhook(client, "inbound", INBOUND_URL, SMS, TOKEN)
        health = client.http.get("/health")
    assert response.status_code == 503
    assert json.loads(response.body)["error"] == {
        "code": "storage_unavailable",
        "message": "The message store cannot be reached; the request may be retried.",
        "twilio_code": None,
        "retryable": True,
    }
    assert health.status_code == 503
