"""`send` and `show`: the outbound API, POST /messages and GET /messages/{sid}."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import typer
from rich.table import Table

from carrier_core.models import iso
from carrier_core.status.machine import MessageStatus, known_status, rule_of
from carrier_core.tenants import is_tenant_id
from carrier_core.webhook import MESSAGE_SID
from omni_cli.context import NUMBER_FIELDS, CliFailure, Profile, error_line, http

FAILURES = {MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.CANCELED}
# `send` answers a send waiting for a retry with this id, and GET /messages/{id} reads it.
RETRY_ID = re.compile(r"^RQ[0-9a-fA-F]{32}$")


def message_id(sid: str) -> str:
    """`sid` when it is an id the outbound API issues; otherwise a one-line failure, before any
    request: the id becomes a URL path, and `../health` would read another route."""
    if MESSAGE_SID.fullmatch(sid) or RETRY_ID.fullmatch(sid):
        return sid
    raise CliFailure(f"{sid[:40]!r} is not a message SID: SM or MM and 32 hexadecimal digits (RQ… for a send being retried)")


def messages_path(tenant: str | None) -> str:
    """/messages, or a tenant's /tenants/<tenant>/messages; the id is checked before it
    becomes a path."""
    if tenant is None:
        return "/messages"
    if not is_tenant_id(tenant):
        raise CliFailure(f"--tenant {tenant[:70]!r} is not a tenant id: 2 to 63 of a-z, 0-9 and '-'")
    return f"/tenants/{tenant}/messages"


TENANT_OPTION = typer.Option(None, "--tenant", help="The tenant whose API to use (default: the tenant-less routes).")


def fetch(profile: Profile, sid: str, tenant: str | None = None) -> dict[str, Any]:
    path = f"{messages_path(tenant)}/{sid}"
    response = http("GET", profile.url("outbound") + path, "outbound API")
    if response.status_code == 404:
        raise CliFailure(f"message {sid} not found")
    if response.status_code != 200:
        raise CliFailure(f"GET {path}: {error_line(response)}")
    message: dict[str, Any] = response.json()
    return message


def is_terminal(status: str) -> bool:
    known = known_status(status)
    return known is not None and rule_of(known).terminal


def send(
    ctx: typer.Context,
    to: str = typer.Option(..., "--to", help="The recipient, E.164 (whatsapp:+… for WhatsApp)."),
    body: str = typer.Option("", "--body", help="The message text."),
    media: list[str] = typer.Option([], "--media", help="A media URL (repeatable): an MMS."),
    sender: str | None = typer.Option(None, "--from", help="The sender; default: the stage's."),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key", help="Sent as Idempotency-Key: a retry sends once."),
    wait: bool = typer.Option(False, "--wait", help="Follow the message until its final status."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds --wait waits at most."),
    as_json: bool = typer.Option(False, "--json", help="Print the message resource as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """Send a message through the outbound API (POST /messages)."""
    profile: Profile = ctx.obj
    path = messages_path(tenant)
    request: dict[str, Any] = {"to": to}
    if body:
        request["body"] = body
    if media:
        request["media_urls"] = media
    if sender:
        request["from"] = sender
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    response = http("POST", profile.url("outbound") + path, "outbound API", json=request, headers=headers)
    if response.status_code not in (200, 201, 202):
        raise CliFailure(f"POST {path}: {error_line(response)}")
    message: dict[str, Any] = response.json()
    replayed = " (replayed)" if response.headers.get("Idempotent-Replayed") else ""
    if not as_json:
        profile.console.print(f"{message['sid']} {message['status']} to {profile.number(message.get('to'))}{replayed}")
    if wait:
        message = follow(profile, message, timeout, quiet=as_json, tenant=tenant)
    if as_json:
        profile.print_json(message)
    known = known_status(message["status"])
    if wait and known in FAILURES:
        raise CliFailure(f"message {message['sid']} ended {message['status']} (error {message.get('error_code')})")


def follow(profile: Profile, message: dict[str, Any], timeout: float, quiet: bool, tenant: str | None = None) -> dict[str, Any]:
    """Poll GET /messages/{sid} until a terminal status, printing each entry the message's
    history gained, in the order it was recorded: statuses that arrive between two polls
    (sent, then delivered) are all printed, each once, even after a long history is trimmed.
    A status reported again right after itself (Twilio's own `queued` callback after the
    send's) is not printed twice in a row."""
    sid, last = message["sid"], message["status"]
    printed = {history_key(entry) for entry in message.get("history") or []}
    deadline = time.monotonic() + timeout
    while not is_terminal(message["status"]):
        if time.monotonic() > deadline:
            raise CliFailure(f"message {sid} still {message['status']} after {timeout:g} s")
        time.sleep(0.2)
        message = fetch(profile, sid, tenant) if tenant else fetch(profile, sid)
        for entry in message.get("history") or []:
            if history_key(entry) in printed:
                continue
            printed.add(history_key(entry))
            if not quiet and entry["status"] != last:
                code = f" (error {entry['error_code']})" if entry.get("error_code") else ""
                profile.console.print(f"{sid} {entry['status']}{code}")
            last = entry["status"]
    return message


def history_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry.get("at"), entry.get("status"), entry.get("source"), entry.get("error_code")


def whatsapp_rows(whatsapp: dict[str, Any], profile: Profile, now: datetime | None = None) -> list[tuple[str, str]]:
    """A WhatsApp message's own fields, one row each, and when its 24-hour window closes."""
    rows = []
    for name, value in sorted(whatsapp.items()):
        if name == "window_closes_at" or value is None:
            continue
        shown = profile.number(str(value)) if name in NUMBER_FIELDS else str(value)
        rows.append((f"whatsapp {name}", shown))
    closes = whatsapp.get("window_closes_at")
    if closes:
        moment = now or datetime.now(timezone.utc)
        state = "open" if str(closes) > iso(moment) else "closed: only a template (content_sid) may be sent"
        rows.append(("whatsapp window closes", f"{closes} ({state})"))
    return rows


def show(
    ctx: typer.Context,
    sid: str = typer.Argument(..., help="The message's SID (SM…/MM…, or RQ… for a send being retried)."),
    as_json: bool = typer.Option(False, "--json", help="Print the message resource as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """Show a message and its status history."""
    profile: Profile = ctx.obj
    message = fetch(profile, message_id(sid), tenant)
    if as_json:
        profile.print_json(message)
        return
    summary = Table(title=f"message {sid}", show_header=False)
    for name in (
        "tenant",
        "direction",
        "channel",
        "from",
        "to",
        "body",
        "status",
        "error_code",
        "num_segments",
        "created_at",
        "updated_at",
    ):
        value = message.get(name)
        shown = profile.number(value) if name in ("from", "to") else ("" if value is None else str(value))
        summary.add_row(name, shown)
    error = message.get("error") or {}
    if error:
        summary.add_row("error", f"{error.get('code')} (retryable: {error.get('retryable')})")
    for name, value in whatsapp_rows(message.get("whatsapp") or {}, profile):
        summary.add_row(name, value)
    for n, item in enumerate(message.get("media") or []):
        summary.add_row(f"media {n}", f"{item.get('content_type') or ''} {item.get('status') or ''} {item.get('url')}")
    profile.console.print(summary)
    history = Table(title="history")
    for column in ("at", "status", "error_code"):
        history.add_column(column)
    for entry in message.get("history") or []:
        history.add_row(str(entry.get("at")), str(entry.get("status")), "" if entry.get("error_code") is None else str(entry["error_code"]))
    profile.console.print(history)
