"""`send`, `show` and `messages list`: the outbound API (POST /messages, GET /messages/{sid})
and, for the recent messages, the messages table itself."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from carrier_core.errors import CarrierError
from carrier_core.models import iso, utc_now
from carrier_core.phone import parse_address
from carrier_core.settings import DEFAULT_TENANT
from carrier_core.status.machine import MessageStatus, known_status, parse_status, rule_of
from carrier_core.tenants import is_tenant_id, tenant_of
from carrier_core.vocabulary import Direction
from carrier_core.webhook import MESSAGE_SID
from omni_cli import ids
from omni_cli.context import NUMBER_FIELDS, CliFailure, Profile, error_line, http
from omni_cli.stores import DURATION, parse_duration
from omni_cli.tables import Column, print_table

messages_app = typer.Typer(help="Messages: the recent ones, and one with its status history.", no_args_is_help=True, rich_markup_mode=None)

FAILURES = {MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.CANCELED}
# `send` answers a send waiting for a retry with this id, and GET /messages/{id} reads it.
RETRY_ID = re.compile(r"^RQ[0-9a-fA-F]{32}$")


def message_id(sid: str) -> str:
    """`sid` when it is an id the outbound API issues, or the start of one; otherwise a one-line
    failure, before any request: the id becomes a URL path, and `../health` would read another
    route."""
    if MESSAGE_SID.fullmatch(sid) or RETRY_ID.fullmatch(sid) or ids.is_prefix(sid):
        return sid
    raise CliFailure(
        f"{sid[:40]!r} is not a message SID: SM or MM and 32 hexadecimal digits (RQ… for a send being retried), or the start of one"
    )


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
    service: str | None = typer.Option(None, "--messaging-service", help="Send through this Messaging Service (MG…)."),
    send_at: str | None = typer.Option(
        None, "--send-at", help="Schedule the send (RFC 3339 with an offset, 6 minutes to 35 days ahead); needs --messaging-service."
    ),
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
    if service:
        request["messaging_service_sid"] = service
    if send_at:
        request["send_at"] = send_at
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


# A moment is printed whole, as an id is.
HISTORY_COLUMNS = [Column("at", identifier=True), Column("status"), Column("error_code", drop=1)]


def show(
    ctx: typer.Context,
    sid: str = typer.Argument(..., help="The message's SID (SM…/MM…, or RQ… for a send being retried)."),
    as_json: bool = typer.Option(False, "--json", help="Print the message resource as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """Show a message and its status history; SID may be the start of one (SM6aba)."""
    profile: Profile = ctx.obj
    messages_path(tenant)  # a malformed --tenant fails before the prefix is looked up
    sid = ids.resolve(profile, message_id(sid), tenant or DEFAULT_TENANT, "message")
    message = fetch(profile, sid, tenant)
    if as_json:
        profile.print_json(message)
        return
    summary = Table(title=f"message {sid}", show_header=False)
    # The values fold; the column is never narrower than a SID, so none is ever cut.
    summary.add_column(no_wrap=True)
    summary.add_column(overflow="fold", min_width=len(sid))
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
        "send_at",
        "redaction",
        "created_at",
        "updated_at",
    ):
        value = message.get(name)
        if name in ("send_at", "redaction") and value is None:
            continue  # only a scheduled send, only a redacted message
        shown = profile.number(value) if name in ("from", "to") else ("" if value is None else str(value))
        summary.add_row(name, Text(shown))
    error = message.get("error") or {}
    if error:
        summary.add_row("error", Text(f"{error.get('code')} (retryable: {error.get('retryable')})"))
    for name, value in whatsapp_rows(message.get("whatsapp") or {}, profile):
        summary.add_row(name, Text(value))
    for n, item in enumerate(message.get("media") or []):
        summary.add_row(f"media {n}", Text(f"{item.get('content_type') or ''} {item.get('status') or ''} {item.get('url')}"))
    profile.console.print(summary)
    history = [
        [str(entry.get("at")), str(entry.get("status")), "" if entry.get("error_code") is None else str(entry["error_code"])]
        for entry in message.get("history") or []
    ]
    print_table(profile.console, HISTORY_COLUMNS, history, "history")


messages_app.command("show")(show)


def cancel(
    ctx: typer.Context,
    sid: str = typer.Argument(..., help="The scheduled message's SID, or the start of one."),
    as_json: bool = typer.Option(False, "--json", help="Print the message resource as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """Cancel a scheduled message (POST /messages/{sid}/cancel); any other status is refused."""
    profile: Profile = ctx.obj
    path = messages_path(tenant)
    sid = ids.resolve(profile, message_id(sid), tenant or DEFAULT_TENANT, "message")
    response = http("POST", profile.url("outbound") + f"{path}/{sid}/cancel", "outbound API", json={})
    if response.status_code != 200:
        raise CliFailure(f"POST {path}/{sid}/cancel: {error_line(response)}")
    message: dict[str, Any] = response.json()
    if as_json:
        profile.print_json(message)
    else:
        profile.console.print(f"{message['sid']} {message['status']}")


messages_app.command("cancel")(cancel)

# Read from the table, never the body: a listing shows who, when and how it went.
LISTED = ("sid", "tenant", "direction", "channel", "from", "to", "status", "error_code", "num_segments", "created_at", "updated_at")
LIST_COLUMNS = [
    Column("sid", identifier=True),
    Column("created_at", drop=6),
    Column("direction", drop=7),
    Column("channel", drop=2),
    Column("from", identifier=True, drop=4),
    Column("to", identifier=True, drop=5),
    Column("status", drop=8),
    Column("error_code", drop=3),
    Column("tenant", drop=1),
]


def parse_since(text: str) -> str:
    """--since as the stored timestamps' form (UTC, milliseconds, Z): an age back from now
    (10m, 2h, 7d) or an RFC 3339 time with its offset."""
    if DURATION.match(text.strip()):
        return iso(utc_now() - parse_duration(text, "--since"))
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliFailure(f"--since {text[:40]!r}: an age (10m, 2h, 7d) or an RFC 3339 time (2026-01-31T09:00:00Z)") from None
    if moment.tzinfo is None:
        raise CliFailure(f"--since {text[:40]!r}: give the time's offset (Z, or +02:00), as RFC 3339 does")
    return iso(moment)


def listed_row(item: Any) -> dict[str, Any]:
    """A listed message: the API's resource cut to the listing's fields (the item is read
    with only those, so the rest renders empty)."""
    from carrier_core.resource import render_message  # with the models, as the command reads them

    rendered = render_message(item)
    return {name: rendered[name] for name in LISTED}


@messages_app.command("list")
def list_messages(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="Only messages whose status is this (delivered, failed, received, ...)."),
    direction: str | None = typer.Option(None, "--direction", help="Only inbound or outbound messages."),
    number: str | None = typer.Option(None, "--number", metavar="N", help="Only messages to or from this number (E.164; whatsapp: too)."),
    since: str | None = typer.Option(
        None, "--since", metavar="AGE|TIME", help="Only messages created since: 10m, 2h, 7d, or an RFC 3339 time."
    ),
    limit: int = typer.Option(20, "--limit", min=1, metavar="N", help="How many at most: the newest."),
    as_json: bool = typer.Option(False, "--json", help="Print the messages as JSON (no bodies; numbers masked)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's ('default': the tenant-less routes')."),
) -> None:
    """List recent messages, newest first: who, when and their status, never their bodies."""
    from carrier_core.models import MessageModel

    profile: Profile = ctx.obj
    # Every filter is checked before the table is read.
    if status is not None:
        try:
            parse_status(status)
        except CarrierError as exc:
            raise CliFailure(f"--status: {exc}") from exc
    directions = [d.value for d in Direction]
    if direction is not None and direction not in directions:
        raise CliFailure(f"--direction must be one of {', '.join(directions)}, not {direction[:40]!r}")
    if tenant is not None and tenant != DEFAULT_TENANT and not is_tenant_id(tenant):
        raise CliFailure(f"--tenant {tenant[:70]!r} is not a tenant id: 2 to 63 of a-z, 0-9 and '-'")
    conditions = []
    if number is not None:
        try:
            address = parse_address(number, "--number")
        except CarrierError as exc:
            raise CliFailure(str(exc)) from exc
        # A bare number finds its WhatsApp messages too; whatsapp:+… only those.
        forms = [number] if address.channel else [number, f"whatsapp:{number}"]
        conditions.append(MessageModel.from_number.is_in(*forms) | MessageModel.to_number.is_in(*forms))
    if since is not None:
        conditions.append(MessageModel.created_at >= parse_since(since))
    if status is not None:
        conditions.append(MessageModel.status == status)
    if direction is not None:
        conditions.append(MessageModel.direction == direction)
    profile.bind()
    condition = None
    for each in conditions:
        condition = each if condition is None else condition & each
    # DynamoDB applies the filters; the body is not even read.
    found = MessageModel.scan(condition, attributes_to_get=list(LISTED))
    rows = sorted(
        (listed_row(item) for item in found if tenant is None or tenant_of(item.tenant) == tenant),
        key=lambda r: str(r["created_at"]),
        reverse=True,
    )
    shown = rows[:limit]
    if as_json:
        profile.print_json(shown)
        return
    cells = [
        [
            "" if row[c.name] is None else profile.number(str(row[c.name])) if c.name in ("from", "to") else str(row[c.name])
            for c in LIST_COLUMNS
        ]
        for row in shown
    ]
    title = f"messages ({len(shown)} newest of {len(rows)})" if len(rows) > len(shown) else f"messages ({len(rows)})"
    print_table(profile.console, LIST_COLUMNS, cells, title)
