"""`omni-twilio` prints numbers masked in every output form, JSON too: the customer's and
the business sender's alike, unless --show-numbers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from omni_cli import context, events
from omni_cli.main import app

CUSTOMER = "+15005550010"
SENDER = "+15005550006"
SERVICE = "MG" + "a" * 32


def test_json_masks_the_sender_as_the_table_does() -> None:
    profile = context.Profile()
    rows = [{"phone": CUSTOMER, "sender": SENDER, "opted_out": True}, {"phone": CUSTOMER, "sender": SERVICE}]
    assert profile.masked(rows) == [{"phone": "***0010", "sender": "***0006", "opted_out": True}, {"phone": "***0010", "sender": SERVICE}]
    assert context.Profile(show_numbers=True).masked(rows) == rows
    # A WhatsApp message's resource (show --json) carries the customer's number as digits too.
    message = {"sid": "SM" + "0" * 32, "from": f"whatsapp:{CUSTOMER}", "wa_id": CUSTOMER[1:], "num_segments": "1"}
    assert profile.masked(message) == {**message, "from": "whatsapp:***0010", "wa_id": "***0010"}


class FakeQueue:
    """The events queue, holding one message per event, each received once."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        self.bodies = [json.dumps({"detail-type": "t", "time": "2026-12-01T00:00:00Z", "detail": d}) for d in details]

    def get_queue_url(self, QueueName: str) -> dict[str, str]:  # noqa: N803 (boto3's names)
        return {"QueueUrl": "http://queue"}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        taken, self.bodies = self.bodies, []
        return {"Messages": [{"Body": body, "ReceiptHandle": str(n)} for n, body in enumerate(taken)]}

    def delete_message(self, **kwargs: Any) -> None:
        pass


def tail(monkeypatch: pytest.MonkeyPatch, details: list[dict[str, Any]], *args: str) -> str:
    monkeypatch.setattr(events, "sqs_client", lambda profile: FakeQueue(details))
    result = CliRunner().invoke(app, ["events", "tail", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_events_tail_masks_every_number_in_each_form(monkeypatch: pytest.MonkeyPatch) -> None:
    details: list[dict[str, Any]] = [
        {"sid": "SM" + "0" * 32, "from": CUSTOMER, "to": SENDER, "status": "received", "event_id": "e1"},
        {"phone": CUSTOMER, "sender": SENDER, "opted_out": True, "event_id": "e2"},
        {"phone": f"whatsapp:{CUSTOMER}", "sender": SERVICE, "opted_out": False, "event_id": "e3"},
    ]
    printed = [json.loads(line)["detail"] for line in tail(monkeypatch, details, "--json").splitlines()]
    assert [(d.get("from"), d.get("to"), d.get("phone"), d.get("sender")) for d in printed] == [
        ("***0010", "***0006", None, None),
        (None, None, "***0010", "***0006"),
        (None, None, "whatsapp:***0010", SERVICE),
    ]
    plain = tail(monkeypatch, details)
    assert CUSTOMER not in plain and SENDER not in plain
    assert "***0010 ***0006" in plain and f"whatsapp:***0010 {SERVICE}" in plain
