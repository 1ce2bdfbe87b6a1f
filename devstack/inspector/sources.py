"""What the inspector shows, read when a page is asked for and never in the background: the
messages and failed sends from DynamoDB Local, the events from the inspector's own queue, the
sandbox's request and callback logs.

Nothing is read between page loads, so a stack nobody looks at makes no request more (the
tests count DynamoDB requests, and the bench the CPU of every part).
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from carrier_core.failed_sends import error_codes
from carrier_core.models import FailedMessageModel, MessageModel, bind_models
from carrier_core.resource import render_message
from carrier_core.tenants import tenant_of
from devstack import aws
from devstack.tables import local_settings

# Messages shown, newest first; a scan reads at most SCAN_LIMIT items to find them, so the
# page stays quick on a table a benchmark filled (the newest may then be missed).
SHOWN = 50
SCAN_LIMIT = 5000
# Events kept in memory; each page load takes at most DRAIN_BATCHES × 10 from the queue.
EVENTS_KEPT = 5000
DRAIN_BATCHES = 50
LOG_SHOWN = 50
TIMEOUT = 5


@dataclass
class Section:
    """One part of the page: its rows, or why they could not be read."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass
class Snapshot:
    messages: Section
    events: dict[str, list[dict[str, Any]]]
    events_error: str | None
    failed: Section
    requests: Section
    callbacks: Section


def _reason(exc: Exception) -> str:
    return f"not readable ({type(exc).__name__})"


class Events:
    """Every event the bus carried, from the inspector's own queue (never the engine's),
    kept in memory by message SID, newest last; with `keep`, also in that file (one JSON line
    per event, only the fields shown: type, SID, status, event id, time), read back at start,
    so a restart of the stack keeps what the page showed."""

    def __init__(self, endpoint: str, keep: Path | None = None) -> None:
        self.endpoint = endpoint
        self.lock = threading.Lock()
        self.kept: deque[dict[str, Any]] = deque(maxlen=EVENTS_KEPT)
        self.keep = keep
        self.lines = 0
        if keep is not None and keep.exists():
            self.kept.extend(_read_kept(keep))
            self._rewrite()  # without a line a kill cut short, which the next append would join

    def drain(self) -> None:
        sqs = aws.client("sqs", self.endpoint)
        url = sqs.get_queue_url(QueueName=aws.INSPECTOR_QUEUE)["QueueUrl"]
        for _ in range(DRAIN_BATCHES):
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not batch:
                return
            with self.lock:
                events = [_event(m["Body"]) for m in batch]
                self.kept.extend(events)
                self._write(events)
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
            )

    def _write(self, events: list[dict[str, Any]]) -> None:
        """Append `events` to the file, or, once it holds twice what is kept, write it anew
        with what is kept (by a rename, so a reader never sees half of it)."""
        if self.keep is None:
            return
        if self.lines + len(events) > 2 * EVENTS_KEPT:
            self._rewrite()
            return
        self.keep.parent.mkdir(parents=True, exist_ok=True)
        with self.keep.open("a") as file:
            file.write("".join(json.dumps(e) + "\n" for e in events))
        self.lines += len(events)

    def _rewrite(self) -> None:
        assert self.keep is not None
        self.keep.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.keep.with_suffix(".tmp")
        scratch.write_text("".join(json.dumps(e) + "\n" for e in self.kept))
        os.replace(scratch, self.keep)
        self.lines = len(self.kept)

    def by_sid(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            for event in self.kept:
                if event["sid"]:
                    grouped.setdefault(event["sid"], []).append(event)
        return grouped


def _read_kept(path: Path) -> list[dict[str, Any]]:
    """The newest EVENTS_KEPT events of the file; a line cut short by a kill is skipped."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    events = []
    for line in lines[-EVENTS_KEPT:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "sid" in event:
            events.append(event)
    return events


def _event(body: str) -> dict[str, Any]:
    """The few fields of an event the page shows."""
    try:
        event = json.loads(body)
        detail = event.get("detail") or {}
    except (ValueError, AttributeError):
        return {"type": "unreadable", "sid": None, "status": None, "event_id": None, "time": None}
    return {
        "type": str(event.get("detail-type")),
        "sid": detail.get("sid"),
        "status": detail.get("status"),
        "event_id": detail.get("event_id"),
        "time": event.get("time"),
    }


class Sources:
    """Where the local stack keeps what the page shows."""

    def __init__(self, dynamodb: str, aws_endpoint: str, sandbox: str, data_dir: Path | None = None) -> None:
        """`data_dir`: where the events read are kept across restarts (None: in memory only)."""
        bind_models(local_settings(dynamodb))
        self.sandbox = sandbox
        self.events = Events(aws_endpoint, None if data_dir is None else data_dir / "events.jsonl")
        self.http = requests.Session()

    def snapshot(self) -> Snapshot:
        events_error = None
        try:
            self.events.drain()
        except Exception as exc:  # noqa: BLE001 - the page says which part it could not read
            events_error = _reason(exc)
        return Snapshot(
            messages=self._read(lambda: _newest(render_message(m) for m in MessageModel.scan(limit=SCAN_LIMIT))),
            events=self.events.by_sid(),
            events_error=events_error,
            failed=self._read(lambda: _newest(_failed(f) for f in FailedMessageModel.scan(limit=SCAN_LIMIT))),
            requests=self._read(lambda: self._log("/_sandbox/requests")),
            callbacks=self._read(lambda: self._log("/_sandbox/callbacks")),
        )

    def _log(self, path: str) -> list[dict[str, Any]]:
        response = self.http.get(self.sandbox + path, timeout=TIMEOUT)
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
        return entries[-LOG_SHOWN:][::-1]

    @staticmethod
    def _read(read: Any) -> Section:
        try:
            return Section(rows=read())
        except Exception as exc:  # noqa: BLE001 - one unreadable part does not hide the others
            return Section(error=_reason(exc))


def _newest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: str(r.get("created_at") or ""), reverse=True)[:SHOWN]


def _failed(item: FailedMessageModel) -> dict[str, Any]:
    request = item.request.as_dict() if item.request is not None else {}  # type: ignore[no-untyped-call]
    error = item.twilio_error.as_dict() if item.twilio_error is not None else {}  # type: ignore[no-untyped-call]
    return {
        "id": item.id,
        "tenant": tenant_of(item.tenant),
        "to": request.get("to"),
        "category": item.category,
        "twilio_code": error_codes(error)[1],
        "state": item.state,
        "retryable": item.retryable,
        "attempts": int(item.attempts or 0),
        "message_sid": item.message_sid,
        "created_at": item.created_at,
    }
