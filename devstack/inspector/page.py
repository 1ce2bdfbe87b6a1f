"""The inspector's HTML, rendered on the server from a Snapshot.

Every value is escaped where it enters the markup (`_e`): message bodies, media URLs and
sandbox logs are whatever a customer or a test sent. Phone numbers are masked to their last
four digits, as the CLI prints them. Links are made only of http(s) URLs.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote, urlsplit

from carrier_core.logs import mask_phone
from carrier_core.settings import DEFAULT_TENANT
from devstack.inspector.sources import Section, Snapshot
from omni_cli.context import mask_numbers

# How often the page asks for a fresh copy of its content (GET /live).
REFRESH_MS = 1000
BODY_SHOWN = 200

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #ddd; vertical-align: top; }
code, .sid { font-family: ui-monospace, monospace; font-size: 12px; }
.status { font-weight: bold; } .s-delivered, .s-received, .s-read { color: #17702a; }
.s-failed, .s-undelivered { color: #b00020; } .error { color: #b00020; }
.body { white-space: pre-wrap; word-break: break-word; max-width: 30em; }
ol.timeline { margin: 0; padding-left: 1.2em; } ul { margin: 0; padding-left: 1.2em; }
"""


def _e(value: Any) -> str:
    """`value` as text in HTML, attribute values included; None is empty."""
    return "" if value is None else escape(str(value), quote=True)


def _number(value: Any) -> str:
    return _e(mask_phone(value) if isinstance(value, str) else value)


def _link(url: Any, text: str) -> str:
    """A link to an http(s) URL; anything else is shown as text, never made a link."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        return _e(url)
    return f'<a href="{_e(url)}" rel="noreferrer" target="_blank">{_e(text)}</a>'


def _section(title: str, anchor: str, section: Section, head: tuple[str, ...], rows: list[str]) -> str:
    if section.error is not None:
        inner = f'<p class="error">{_e(section.error)}</p>'
    elif not rows:
        inner = "<p>none yet</p>"
    else:
        header = "".join(f"<th>{_e(h)}</th>" for h in head)
        inner = f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<section id="{anchor}"><h2>{_e(title)} ({len(section.rows)})</h2>{inner}</section>'


def _timeline(message: dict[str, Any]) -> str:
    steps = []
    for entry in message["history"]:
        code = f" error {_e(entry['error_code'])}" if entry.get("error_code") is not None else ""
        status = _e(entry["status"])
        steps.append(f'<li data-status="{status}"><span class="status s-{status}">{status}</span> {_e(entry["at"])}{code}</li>')
    return f'<ol class="timeline">{"".join(steps)}</ol>' if steps else ""


def _events(events: list[dict[str, Any]]) -> str:
    items = "".join(
        f'<li class="event" data-type="{_e(ev["type"])}">{_e(ev["type"])} {_e(ev["status"])} <code>{_e(ev["event_id"])}</code></li>'
        for ev in events
    )
    return f"<ul>{items}</ul>" if items else ""


def _media(message: dict[str, Any], outbound_url: str) -> str:
    tenant = message["tenant"]
    prefix = "" if tenant == DEFAULT_TENANT else f"/tenants/{quote(str(tenant), safe='')}"
    links = []
    for n, item in enumerate(message["media"]):
        stored = f"{outbound_url}{prefix}/messages/{quote(str(message['sid']), safe='')}/media/{n}"
        copy = _link(stored, "stored copy") if item.get("status") == "stored" else _e(item.get("status"))
        links.append(f"<li>{_link(item.get('url'), item.get('content_type') or 'media')} ({copy})</li>")
    return f"<ul>{''.join(links)}</ul>" if links else ""


def _message_row(message: dict[str, Any], events: list[dict[str, Any]], outbound_url: str) -> str:
    body = message["body"] or ""
    shown = body if len(body) <= BODY_SHOWN else body[:BODY_SHOWN] + "…"
    error = (
        f'<div class="error">{_e(message["error_code"])} {_e((message["error"] or {}).get("code"))}</div>' if message["error_code"] else ""
    )
    cells = [
        f'<td class="sid">{_e(message["sid"])}<br>{_e(message["tenant"])}</td>',
        f"<td>{_e(message['direction'])}<br>{_number(message['from'])} → {_number(message['to'])}</td>",
        f'<td class="status s-{_e(message["status"])}">{_e(message["status"])}{error}</td>',
        f'<td class="body">{_e(shown)}</td>',
        f"<td>{_timeline(message)}</td>",
        f"<td>{_events(events)}</td>",
        f"<td>{_media(message, outbound_url)}</td>",
        f"<td>{_e(message['created_at'])}</td>",
    ]
    return f'<tr class="message" id="message-{_e(message["sid"])}" data-status="{_e(message["status"])}">{"".join(cells)}</tr>'


def _cells(values: list[Any]) -> str:
    return "<tr>" + "".join(f"<td>{value}</td>" for value in values) + "</tr>"


def live(snapshot: Snapshot, outbound_url: str) -> str:
    """The part of the page that refreshes: every section."""
    messages = [_message_row(m, snapshot.events.get(m["sid"], []), outbound_url) for m in snapshot.messages.rows]
    events_note = f'<p class="error">events: {_e(snapshot.events_error)}</p>' if snapshot.events_error else ""
    failed = [
        _cells(
            [
                f'<span class="sid">{_e(f["id"])}</span>',
                _e(f["tenant"]),
                _number(f["to"]),
                _e(f["category"]),
                _e(f["twilio_code"]),
                _e(f["state"]),
                _e(f["retryable"]),
                _e(f["attempts"]),
                f'<span class="sid">{_e(f["message_sid"])}</span>',
                _e(f["created_at"]),
            ]
        )
        for f in snapshot.failed.rows
    ]
    sent = [
        _cells(
            [
                _e(r.get("time")),
                _e(r.get("status")),
                f'<span class="sid">{_e(r.get("sid"))}</span>',
                _e(r.get("error_code")),
                _e(mask_numbers(" ".join((r.get("form") or {}).get("To") or []))),
                _e(r.get("auth_user")),
                _e(r.get("path")),
            ]
        )
        for r in snapshot.requests.rows
    ]
    callbacks = [
        _cells(
            [
                _e(c.get("time")),
                f'<span class="sid">{_e(_param(c, "MessageSid"))}</span>',
                _e(_param(c, "MessageStatus")),
                _e(_param(c, "ErrorCode")),
                _e(c.get("url")),
                _e(c.get("status")),
                _e(c.get("attempts")),
                _e(c.get("error")),
            ]
        )
        for c in snapshot.callbacks.rows
    ]
    return "".join(
        [
            events_note,
            _section(
                "Messages",
                "messages",
                snapshot.messages,
                ("sid, tenant", "direction, from → to", "status", "body", "timeline", "events", "media", "created"),
                messages,
            ),
            _section(
                "Failed sends",
                "failed",
                snapshot.failed,
                ("id", "tenant", "to", "category", "twilio code", "state", "retryable", "attempts", "message sid", "created"),
                failed,
            ),
            _section(
                "Sandbox: requests received",
                "sandbox-requests",
                snapshot.requests,
                ("time", "answer", "sid", "error", "to", "auth", "path"),
                sent,
            ),
            _section(
                "Sandbox: status callbacks sent",
                "sandbox-callbacks",
                snapshot.callbacks,
                ("time", "sid", "status", "error", "url", "answer", "attempts", "failure"),
                callbacks,
            ),
        ]
    )


def _param(callback: dict[str, Any], name: str) -> Any:
    value = (callback.get("params") or {}).get(name)
    return value[0] if isinstance(value, list) and value else value


def page(snapshot: Snapshot, outbound_url: str, nonce: str) -> str:
    """The whole page: the live part, and a script that fetches it again every REFRESH_MS."""
    script = (
        "setInterval(async () => { try { const r = await fetch('/live', {cache: 'no-store'});"
        " if (r.ok) document.getElementById('live').innerHTML = await r.text(); } catch (e) {} },"
        f" {REFRESH_MS});"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>omni-twilio local inspector</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>omni-twilio local inspector</h1>"
        f"<p>The local stack, newest first; refreshed every {REFRESH_MS // 1000} s. Numbers are masked to their last four digits.</p>"
        f'<main id="live">{live(snapshot, outbound_url)}</main>'
        f'<script nonce="{_e(nonce)}">{script}</script></body></html>'
    )
