"""`erase`: a customer's messages redacted here and at Twilio (POST /contacts/{identity}/erase,
then GET /erasures/{id} while it runs). The customer's opt-out is kept."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import typer

from carrier_core.errors import CarrierError
from carrier_core.phone import parse_address
from omni_cli.context import CliFailure, Profile, error_line, http
from omni_cli.messages import TENANT_OPTION, messages_path

API = "outbound API"


def erase(
    ctx: typer.Context,
    identity: str = typer.Argument(..., help="The customer: +E164 (SMS/MMS and WhatsApp), or whatsapp:+E164 / whatsapp:CC.ID."),
    requested_by: str = typer.Option(..., "--requested-by", help="Who asks (a person or a system), kept on each message."),
    wait: bool = typer.Option(False, "--wait", help="Follow the erasure until no message is pending."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds --wait waits at most."),
    as_json: bool = typer.Option(False, "--json", help="Print the erasure as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """Erase a customer: redact every message to or from them (POST /contacts/{identity}/erase)."""
    profile: Profile = ctx.obj
    try:
        parse_address(identity, "identity", bsuid=True)
    except CarrierError as exc:
        raise CliFailure(exc.message) from exc
    prefix = _prefix(tenant)
    path = f"{prefix}/contacts/{quote(identity, safe='')}/erase"
    response = http("POST", profile.url("outbound") + path, API, json={"requested_by": requested_by}, timeout=60)
    if response.status_code not in (200, 202):
        raise CliFailure(f"POST {prefix}/contacts/…/erase: {error_line(response)}")
    erasure: dict[str, Any] = response.json()
    deadline = time.monotonic() + timeout
    while wait and erasure["state"] == "running":
        if time.monotonic() > deadline:
            raise CliFailure(f"erasure {erasure['id']} still running after {timeout:g} s: {_counts(erasure)}")
        time.sleep(1.0)
        read = http("GET", profile.url("outbound") + f"{prefix}/erasures/{erasure['id']}", API)
        if read.status_code != 200:
            raise CliFailure(f"GET {prefix}/erasures/{erasure['id']}: {error_line(read)}")
        erasure = read.json()
    if as_json:
        profile.print_json(erasure)
    else:
        profile.console.print(f"{erasure['id']} {erasure['state']}: {_counts(erasure)}")
    if erasure["state"] == "failed":
        raise CliFailure(f"erasure {erasure['id']}: {erasure['messages']['failed']} message(s) could not be redacted at Twilio")


def _prefix(tenant: str | None) -> str:
    """'' or /tenants/<tenant>, checked before it becomes a path."""
    return messages_path(tenant).removesuffix("/messages")


def _counts(erasure: dict[str, Any]) -> str:
    counts = erasure["messages"]
    return f"{counts['total']} message(s), {counts['done']} done, {counts['pending']} pending, {counts['failed']} failed"
