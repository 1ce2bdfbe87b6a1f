"""Scheduled sends end to end: SendAt through a Messaging Service, cancel, the sandbox's
clock moving a scheduled message on, and an opt-out canceling what was scheduled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from tests.support.forms import BUSINESS, new_sid, sms
from tests.support.outbound_stack import JSON_HEADERS, post_message, sandbox_requests
from tests.support.stack import RunningStack, wait_for

SERVICE = "MG" + "5" * 32


def in_minutes(minutes: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule(stack: RunningStack, to: str, minutes: float = 30, **extra: Any) -> requests.Response:
    payload = {"to": to, "messaging_service_sid": SERVICE, "body": "Your appointment is tomorrow", "send_at": in_minutes(minutes)}
    return post_message(stack, {**payload, **extra})


def cancel(stack: RunningStack, sid: str) -> requests.Response:
    return stack.http.post(stack.url("outbound", f"/messages/{sid}/cancel"), data=b"{}", headers=JSON_HEADERS, timeout=30)


def history(stack: RunningStack, sid: str) -> list[str]:
    return [entry["status"] for entry in stack.get_message(sid).json()["history"]]


@pytest.fixture
def clock(stack: RunningStack) -> Iterator[str]:
    """The sandbox's clock control; set back to real time after the test."""
    url = stack.url("sandbox", "/_sandbox/clock")
    yield url
    stack.http.delete(url, timeout=10).raise_for_status()


def test_scheduled_send_is_stored_scheduled_and_sent_with_sendat(stack: RunningStack) -> None:
    sandbox_requests(stack, reset=True)
    response = schedule(stack, "+15005550401")
    assert response.status_code == 202, response.text
    message = response.json()
    assert message["status"] == "scheduled"
    assert message["send_at"] is not None and message["messaging_service_sid"] == SERVICE
    stored = stack.get_message(message["sid"]).json()
    assert (stored["status"], stored["send_at"]) == ("scheduled", message["send_at"])
    [sent] = [r for r in sandbox_requests(stack) if r["To"] == "+15005550401"]
    assert (sent["SendAt"], sent["ScheduleType"], sent["MessagingServiceSid"]) == (message["send_at"], "fixed", SERVICE)


def test_cancel_once_then_409(stack: RunningStack) -> None:
    sid = schedule(stack, "+15005550402").json()["sid"]
    first = cancel(stack, sid)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "canceled"
    assert history(stack, sid)[:2] == ["scheduled", "canceled"]
    again = cancel(stack, sid)
    assert again.status_code == 409
    error = again.json()["error"]
    assert (error["code"], error["retryable"]) == ("not_cancelable", False)
    # Twilio's own canceled callback is recorded too; the status stays canceled.
    wait_for(lambda: history(stack, sid).count("canceled") == 2)
    assert stack.get_message(sid).json()["status"] == "canceled"


def test_cancel_of_an_unscheduled_or_unknown_message(stack: RunningStack) -> None:
    sent = post_message(stack, {"to": "+15005550403", "from": BUSINESS, "body": "now"}).json()
    response = cancel(stack, sent["sid"])
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_cancelable"
    unknown = cancel(stack, new_sid("SM"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "message_not_found"


def test_scheduled_message_moves_on_at_its_time(stack: RunningStack, clock: str) -> None:
    sid = schedule(stack, "+15005550404", minutes=20).json()["sid"]
    advanced = stack.http.post(clock, json={"advance_seconds": 21 * 60}, timeout=10).json()
    assert sid in advanced["released"]
    wait_for(lambda: stack.get_message(sid).json()["status"] == "delivered")
    assert history(stack, sid)[0] == "scheduled" and "queued" in history(stack, sid)
    late = cancel(stack, sid)
    assert late.status_code == 409 and late.json()["error"]["code"] == "not_cancelable"


def test_twilio_30409_is_not_cancelable(stack: RunningStack, clock: str) -> None:
    """Twilio sent it while our item still says scheduled (its callbacks not in yet)."""
    sid = schedule(stack, "+15005550405", minutes=20).json()["sid"]
    stack.http.post(clock, json={"advance_seconds": 21 * 60}, timeout=10).raise_for_status()
    wait_for(lambda: stack.get_message(sid).json()["status"] == "delivered")
    stack.table().update_item(
        Key={"sid": sid},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "scheduled"},
    )
    response = cancel(stack, sid)
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["twilio_code"]) == ("not_cancelable", 30409)
    assert "canceled" not in history(stack, sid)


@pytest.mark.parametrize(
    ("label", "change", "code", "twilio_code"),
    [
        ("no messaging service", {"messaging_service_sid": None, "from": BUSINESS}, "schedule_requires_messaging_service", 35118),
        ("too soon", {"send_at": in_minutes(2)}, "invalid_send_at", None),
        ("past", {"send_at": in_minutes(-10)}, "invalid_send_at", None),
        ("over 35 days", {"send_at": in_minutes(36 * 24 * 60)}, "invalid_send_at", None),
        ("no offset", {"send_at": "2030-01-01T10:00:00"}, "invalid_send_at", None),
        ("not a time", {"send_at": "tomorrow"}, "invalid_send_at", None),
    ],
)
def test_schedule_refused_before_twilio(
    stack: RunningStack, label: str, change: dict[str, Any], code: str, twilio_code: int | None
) -> None:
    sandbox_requests(stack, reset=True)
    payload = {"to": "+15005550406", "messaging_service_sid": SERVICE, "body": "hi", "send_at": in_minutes(30), **change}
    stack.start_count()
    response = post_message(stack, {k: v for k, v in payload.items() if v is not None})
    assert response.status_code == 400, label
    error = response.json()["error"]
    assert (error["code"], error["twilio_code"], error["retryable"]) == (code, twilio_code, False)
    assert stack.dynamodb_requests() == {}
    assert sandbox_requests(stack) == []


def test_stop_from_the_recipient_cancels_its_scheduled_messages(stack: RunningStack) -> None:
    customer = "+15005550407"
    first = schedule(stack, customer).json()["sid"]
    second = schedule(stack, customer, minutes=60).json()["sid"]
    other = schedule(stack, "+15005550408").json()["sid"]
    stop = sms(body="STOP", From=customer, MessagingServiceSid=SERVICE)
    assert stack.post_webhook("inbound", stop).status_code == 200
    # Twilio's own `canceled` callback may land before the cancel's record: wait for the
    # entry that says the opt-out canceled it, not for the status alone.
    for sid in (first, second):
        wait_for(lambda sid=sid: any(is_optout_cancel(e) for e in stack.get_message(sid).json()["history"]), timeout=30)
        assert stack.get_message(sid).json()["status"] == "canceled"
    assert stack.get_message(other).json()["status"] == "scheduled"


def is_optout_cancel(entry: dict[str, Any]) -> bool:
    return bool(entry["status"] == "canceled" and entry["source"] == "optout_cancel")


def test_cli_schedules_shows_and_cancels_once(stack: RunningStack) -> None:
    """`send --messaging-service --send-at`, `show` and `cancel` through the real binary."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "omni-twilio"
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(cli), *args], env=env, capture_output=True, text=True, timeout=90, check=False)

    send_at = in_minutes(45)
    sent = run("send", "--to", "+15005550409", "--body", "see you", "--messaging-service", SERVICE, "--send-at", send_at, "--json")
    assert sent.returncode == 0, sent.stderr
    sid = json.loads(sent.stdout)["sid"]
    assert json.loads(sent.stdout)["status"] == "scheduled"
    shown = run("show", sid)
    assert "scheduled" in shown.stdout and "send_at" in shown.stdout
    canceled = run("cancel", sid[:12])  # a unique start is enough
    assert (canceled.returncode, canceled.stdout.strip()) == (0, f"{sid} canceled"), canceled.stderr
    again = run("messages", "cancel", sid)
    assert again.returncode == 1 and "409 not_cancelable" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    # Without a messaging service the API refuses before Twilio, and the CLI says so in one line.
    refused = run("send", "--to", "+15005550409", "--body", "x", "--send-at", send_at)
    assert refused.returncode == 1 and "schedule_requires_messaging_service" in refused.stderr
