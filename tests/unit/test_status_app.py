"""The status webhook in process: chalice's test client, moto, signatures by RequestValidator."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any, ContextManager

import pytest
from chalice.test import Client

from carrier_core.logs import JsonFormatter
from carrier_core.models import MessageModel, utc_now
from carrier_core.status.store import StatusReport, record_status
from tests.support.apps import load_app, project_dir
from tests.support.callbacks import MOTO_ENDPOINT, status_callback
from tests.support.forms import Pairs, drop, encode, new_sid, replace
from tests.support.webhooks import FORM_HEADERS, WebhookHarness, post_webhook, webhook_harness

PUBLIC_URL = "https://status.example.com/twilio/status"
PRIMARY = "primary-auth-token-000000000000000"
SECONDARY = "secondary-auth-token-00000000000000"


def environment(endpoint: str) -> dict[str, str]:
    return {
        "STAGE": "local",
        "DYNAMODB_ENDPOINT": endpoint,
        "STATUS_WEBHOOK_URL": PUBLIC_URL,
        "TWILIO_AUTH_TOKEN": PRIMARY,
        "TWILIO_AUTH_TOKEN_SECONDARY": SECONDARY,
    }


def start(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> ModuleType:
    for name, value in environment(endpoint).items():
        monkeypatch.setenv(name, value)
    return load_app("status")


def status_harness() -> ContextManager[WebhookHarness]:
    """The status app over moto's messages table, in the local stage."""
    return webhook_harness("status", environment(MOTO_ENDPOINT), PUBLIC_URL, PRIMARY, stage="local", tables=[MessageModel])


@pytest.fixture
def client() -> Iterator[Client]:
    with status_harness() as harness:
        yield harness.client


def post(client: Client, form: Pairs, token: str | None = PRIMARY, url: str = PUBLIC_URL) -> Any:
    """A callback signed for `url` with `token`; with no token, no signature header at all."""
    if token is None:
        return client.http.post("/twilio/status", headers=FORM_HEADERS, body=encode(form).encode())
    return post_webhook(client, "status", url, form, token)


def stored_status(sid: str) -> str | None:
    try:
        return str(MessageModel.get(sid, consistent_read=True).status)
    except MessageModel.DoesNotExist:
        return None


@dataclass(frozen=True)
class Case:
    label: str
    form: Pairs
    token: str | None = PRIMARY
    url: str = PUBLIC_URL
    status: int = 204
    code: str | None = None
    stored: str | None = None


SENT = status_callback("sent")
CASES = [
    Case("delivered", status_callback("delivered"), stored="delivered"),
    Case("secondary token during rotation", status_callback("sent"), token=SECONDARY, stored="sent"),
    Case("signed with an explicit :443", status_callback("sent"), url="https://status.example.com:443/twilio/status", stored="sent"),
    Case("older Sms* names only", drop(status_callback("sending"), "MessageSid", "MessageStatus"), stored="sending"),
    Case("whatsapp read", status_callback("read", whatsapp=True), stored="read"),
    Case("failed with an error code", status_callback("failed", error_code=30007), stored="failed"),
    Case("status in capitals", status_callback("Delivered"), stored="delivered"),
    Case("status Twilio added later", status_callback("carrier_accepted"), stored="carrier_accepted"),
    Case("the same pair twice", SENT + [("MessageStatus", "sent")], stored="sent"),
    Case("other token", status_callback("delivered"), token="someone-elses-token", status=403, code="invalid_signature"),
    Case("no signature", status_callback("delivered"), token=None, status=403, code="invalid_signature"),
    Case(
        "signed for the host, not the public URL",
        status_callback("sent"),
        url="http://localhost/twilio/status",
        status=403,
        code="invalid_signature",
    ),
    Case("no MessageSid", drop(status_callback("sent"), "MessageSid", "SmsSid"), status=400, code="missing_field"),
    Case("no MessageStatus", drop(status_callback("sent"), "MessageStatus", "SmsStatus"), status=400, code="missing_field"),
    Case("blank MessageStatus", replace(status_callback("sent"), MessageStatus=" ", SmsStatus=""), status=400, code="missing_field"),
    Case("two different MessageStatus", status_callback("sent") + [("MessageStatus", "delivered")], status=400, code="invalid_field"),
    Case("not a message SID", replace(status_callback("sent"), MessageSid="CA1", SmsSid="CA1"), status=400, code="invalid_field"),
    Case("not a messaging service SID", replace(status_callback("sent"), MessagingServiceSid="MG1"), status=400, code="invalid_field"),
    Case("ErrorCode not a number", status_callback("failed", ErrorCode="30x"), status=400, code="invalid_field"),
    Case("ErrorCode a superscript digit", status_callback("failed", ErrorCode="\u00b2"), status=400, code="invalid_field"),
    Case("ErrorCode of 4,301 digits", status_callback("failed", ErrorCode="3" * 4301), status=400, code="invalid_field"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_status_webhook(case: Case, client: Client) -> None:
    response = post(client, case.form, case.token, case.url)
    assert response.status_code == case.status, response.body
    sid = dict(case.form).get("MessageSid") or dict(case.form).get("SmsSid") or ""
    if case.code is None:
        assert response.body == b""
        assert stored_status(sid) == case.stored
    else:
        error = json.loads(response.body)["error"]
        assert (error["code"], error["retryable"]) == (case.code, False) and error["message"]
        assert [item.sid for item in MessageModel.scan()] == []


def test_error_code_and_channel_details_reach_the_stored_message(client: Client) -> None:
    sid = new_sid()
    post(client, status_callback("sent", sid=sid, whatsapp=True))
    post(client, status_callback("undelivered", sid=sid, error_code=63016, whatsapp=True))
    item = MessageModel.get(sid)
    assert (item.status, item.error_code, item.channel) == ("undelivered", 63016, "whatsapp")
    assert item.history[1].channel_status_message and item.history[1].raw_dlr_done_date is None


def emf_counts(text: str) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        payload = json.loads(line)
        definition = payload["_aws"]["CloudWatchMetrics"][0]
        dims = tuple((d, payload[d]) for d in definition["Dimensions"][0] if d not in ("service", "stage"))
        for metric in definition["Metrics"]:
            counts[(metric["Name"], dims)] += int(payload[metric["Name"]])
    return counts


def test_each_outcome_counts_its_metric(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    sid = new_sid()
    capsys.readouterr()
    for form in (
        status_callback("sent", sid=sid),
        status_callback("undelivered", sid=sid, error_code=30003),
        status_callback("sending", sid=sid),
        status_callback("sending", sid=sid),
        status_callback("carrier_accepted", sid=sid),
    ):
        assert post(client, form).status_code == 204
    assert emf_counts(capsys.readouterr().out) == Counter(
        {
            ("StatusRecorded", (("status", "sent"),)): 1,
            ("StatusUnknownSid", ()): 1,
            ("StatusRecorded", (("status", "undelivered"),)): 1,
            ("DeliveryFailed", (("error_code", "carrier_unreachable"),)): 1,
            ("StatusRecorded", (("status", "sending"),)): 1,
            ("StatusOutOfOrder", ()): 1,
            ("StatusDuplicate", ()): 1,
            ("StatusRecorded", (("status", "unknown"),)): 1,
            ("StatusUnrecognized", ()): 1,
        }
    )


def test_queued_callback_after_the_send_stored_queued_is_not_out_of_order(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    # The outbound service stores the send's `queued` (source outbound); Twilio's own
    # `queued` callback follows on every send. It is the same status again: kept in the
    # history and counted as recorded, never as out of order (which reads as an alarm).
    sid = new_sid()
    now = utc_now()
    record_status(sid, StatusReport("queued", now, source="outbound"), now + timedelta(days=1), authoritative=True)
    capsys.readouterr()
    assert post(client, status_callback("queued", sid=sid)).status_code == 204
    assert post(client, status_callback("sent", sid=sid)).status_code == 204
    assert emf_counts(capsys.readouterr().out) == Counter(
        {("StatusRecorded", (("status", "queued"),)): 1, ("StatusRecorded", (("status", "sent"),)): 1}
    )
    item = MessageModel.get(sid)
    assert item.status == "sent" and [h.status for h in item.history] == ["queued", "queued", "sent"]


def test_logs_hold_no_numbers_or_tokens(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sid = new_sid()
    post(client, status_callback("sent", sid=sid, From="+15005559001", To="+15005559002"))
    post(client, status_callback("sent", To="+15005559003"), token="someone-elses-token")
    text = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "status callback recorded" in text and sid in text
    for forbidden in ("5005559001", "5005559002", "5005559003", PRIMARY, SECONDARY):
        assert forbidden not in text


def test_unreachable_dynamodb_is_503_so_twilio_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    app = start(monkeypatch, "http://127.0.0.1:9")
    with Client(app.app, stage_name="local", project_dir=project_dir("status")) as dead:
        response = post(dead, status_callback("delivered"))
    assert response.status_code == 503
    assert json.loads(response.body)["error"] == {
        "code": "storage_unavailable",
        "message": json.loads(response.body)["error"]["message"],
        "twilio_code": None,
        "retryable": True,
    }


@pytest.mark.parametrize(
    ("error_code", "service", "opted_out_of"),
    [
        (21610, None, {"+15005550006"}),
        (21610, "MG" + "e" * 32, {"+15005550006", "MG" + "e" * 32}),
        (30003, None, set()),
    ],
    ids=["21610", "21610 through a messaging service", "30003 is no opt-out"],
)
def test_a_21610_callback_records_the_opt_out(client: Client, error_code: int, service: str | None, opted_out_of: set[str]) -> None:
    from carrier_core.models import OptOutModel
    from tests.support.forms import BUSINESS, CUSTOMER

    OptOutModel.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    sid = new_sid()
    form = status_callback("failed", sid=sid, error_code=error_code)
    if service:
        form = replace(form, MessagingServiceSid=service)
    assert post(client, form).status_code == 204
    assert post(client, form).status_code == 204  # a redelivery changes nothing
    records = list(OptOutModel.scan())
    assert {r.sender for r in records} == opted_out_of
    assert all((r.phone, r.opted_out, r.source, r.message_sid) == (CUSTOMER, True, "twilio_21610", sid) for r in records)
    assert stored_status(sid) == "failed"
    assert BUSINESS in opted_out_of or not records
