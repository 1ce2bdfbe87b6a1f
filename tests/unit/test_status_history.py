"""The status history stays bounded: the first entry and the latest ones, the rest counted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from chalice.test import Client

from carrier_core.logs import JsonFormatter
from carrier_core.models import MessageModel
from carrier_core.resource import render_message
from carrier_core.status.store import HISTORY_KEEP, HISTORY_TRIM_AT, Outcome, StatusReport, record_status
from tests.support.apps import project_dir
from tests.support.callbacks import MOTO_ENDPOINT, moto_messages_table, status_callback
from tests.support.faults import fail_dynamodb
from tests.support.forms import new_sid
from tests.unit.test_status_app import post, start

T0 = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)
EXPIRES = T0 + timedelta(days=400)
ITEM_LIMIT = 400 * 1024


@pytest.fixture
def table() -> Iterator[None]:
    with moto_messages_table():
        yield


def item_bytes(sid: str) -> int:
    """An upper bound of the item's size as DynamoDB counts it (names plus values)."""
    raw = MessageModel.get(sid, consistent_read=True).serialize()
    return len(json.dumps(raw, ensure_ascii=False).encode("utf-8"))


def test_a_failed_trim_keeps_the_report_and_raises_nothing(table: None, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = new_sid()
    for i in range(HISTORY_TRIM_AT):
        record_status(sid, StatusReport(f"carrier_{i}", T0 + timedelta(seconds=i), "callback"), EXPIRES)
    fail_dynamodb(
        monkeypatch,
        ReadTimeoutError(endpoint_url="http://db"),
        "UpdateItem",
        when=lambda request: "history_dropped" in request["ExpressionAttributeNames"].values(),
    )
    recorded = record_status(sid, StatusReport("carrier_last", T0 + timedelta(minutes=5), "callback"), EXPIRES)
    assert (recorded.outcome, recorded.requests) == (Outcome.RECORDED, 2)
    assert len(MessageModel.get(sid, consistent_read=True).history or []) == HISTORY_TRIM_AT + 1


def test_short_histories_are_never_trimmed(table: None) -> None:
    sid = new_sid()
    for i, status in enumerate(["queued", "sent", "delivered"]):
        assert record_status(sid, StatusReport(status, T0 + timedelta(seconds=i), "callback"), EXPIRES).requests == 1
    item = MessageModel.get(sid)
    assert [h.status for h in item.history or []] == ["queued", "sent", "delivered"]
    assert item.history_dropped is None and render_message(item)["history_dropped"] == 0


def test_an_unknown_status_is_never_logged_raw(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A SID first seen with a status we do not know: the stored status is that value."""
    with moto_messages_table():
        app = start(monkeypatch, MOTO_ENDPOINT)
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        logging.getLogger().addHandler(handler)
        with Client(app.app, stage_name="local", project_dir=project_dir("status")) as client:
            for status in ("+15005551234", "my secret word"):
                assert post(client, status_callback(status)).status_code == 204
        logging.getLogger().removeHandler(handler)
    text = capsys.readouterr().out + stream.getvalue()
    assert "status callback recorded" in text
    for raw in ("5005551234", "+15005551234", "secret word"):
        assert raw not in text
