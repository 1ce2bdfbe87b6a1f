"""`omni-twilio send --wait`: every status the message went through is printed, in order,
even when several arrive between two polls."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from omni_cli import messages
from omni_cli.context import Profile

SID = "SM" + "0" * 32


def resource(*statuses: str) -> dict[str, Any]:
    history = [
        {"status": s, "at": f"2026-12-02T00:00:0{n}Z", "error_code": 30008 if s == "failed" else None, "source": "callback"}
        for n, s in enumerate(statuses)
    ]
    return {"sid": SID, "status": statuses[-1], "history": history, "error_code": history[-1]["error_code"]}


def follow(monkeypatch: pytest.MonkeyPatch, created: dict[str, Any], polls: list[dict[str, Any]]) -> list[str]:
    answers = iter(polls)
    monkeypatch.setattr(messages, "fetch", lambda profile, sid: next(answers))
    monkeypatch.setattr("omni_cli.messages.time.sleep", lambda seconds: None)
    out = io.StringIO()
    profile = Profile(console=Console(file=out, soft_wrap=True))
    final = messages.follow(profile, created, timeout=60, quiet=False)
    assert final == polls[-1]
    return out.getvalue().splitlines()


def test_statuses_between_two_polls_are_all_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = follow(monkeypatch, resource("queued"), [resource("queued"), resource("queued", "sent", "delivered")])
    assert lines == [f"{SID} sent", f"{SID} delivered"]


def test_each_status_once_and_errors_named(monkeypatch: pytest.MonkeyPatch) -> None:
    polls = [resource("queued", "sending"), resource("queued", "sending"), resource("queued", "sending", "sent", "failed")]
    lines = follow(monkeypatch, resource("queued"), polls)
    assert lines == [f"{SID} sending", f"{SID} sent", f"{SID} failed (error 30008)"]


def test_a_trimmed_history_prints_only_what_is_new(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long history is cut back to its first and latest entries; what was printed stays printed."""
    long = resource("queued", "sending", "sent")
    trimmed = {**resource("queued", "sending", "sent", "delivered"), "history_dropped": 1}
    trimmed["history"] = [trimmed["history"][0], *trimmed["history"][2:]]
    lines = follow(monkeypatch, resource("queued"), [long, trimmed])
    assert lines == [f"{SID} sending", f"{SID} sent", f"{SID} delivered"]


def test_a_status_reported_again_is_not_printed_twice_in_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The send records `queued`, then Twilio's own `queued` callback is recorded as well."""
    created = resource("queued")
    again = resource("queued", "queued", "sent", "delivered")
    assert again["history"][1] != created["history"][0]
    assert follow(monkeypatch, created, [again]) == [f"{SID} sent", f"{SID} delivered"]
