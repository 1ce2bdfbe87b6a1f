"""`failed` and `optouts`: the failed-message store and the opt-out table, through carrier_core's models."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import typer
from pynamodb.exceptions import DeleteError

from carrier_core.errors import CarrierError
from carrier_core import failed_sends
from carrier_core.failed_sends import FailedState
from carrier_core.models import FailedMessageModel, OptOutModel, iso, utc_now
from carrier_core.phone import parse_address
from carrier_core.settings import DEFAULT_TENANT
from carrier_core import optout
from carrier_core.tenants import is_tenant_id, tenant_of, unscoped
from carrier_core.vocabulary import OptOutSource
from omni_cli import ids
from omni_cli.context import CliFailure, Profile, error_line, http
from omni_cli.tables import Column, print_table

failed_app = typer.Typer(help="The failed-message store: sends Twilio did not take.", no_args_is_help=True, rich_markup_mode=None)
optouts_app = typer.Typer(
    help="Who may not be messaged, by customer number and business sender.", no_args_is_help=True, rich_markup_mode=None
)

DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def stored(profile: Profile) -> Profile:
    """The profile with the models bound to its stage's tables."""
    profile.bind()
    return profile


TENANT_OPTION = typer.Option(None, "--tenant", help="Only this tenant's ('default': the tenant-less routes').")


def of_tenant(stored_tenant: str | None, wanted: str | None) -> bool:
    return wanted is None or tenant_of(stored_tenant) == wanted


def failed_row(item: FailedMessageModel) -> dict[str, Any]:
    request = item.request.as_dict() if item.request is not None else {}
    error = item.twilio_error.as_dict() if item.twilio_error is not None else {}
    return {
        "id": item.id,
        "tenant": tenant_of(item.tenant),
        "to": request.get("to"),
        "category": item.category,
        "twilio_code": failed_sends.error_codes(error)[1],
        "state": item.state,
        "retryable": item.retryable,
        "attempts": int(item.attempts or 0),
        "message_sid": item.message_sid,
        "created_at": item.created_at,
    }


# The id is never cut nor left out; on a narrow terminal the others go, attempts first.
FAILED_COLUMNS = [
    Column("id", identifier=True),
    Column("tenant", drop=4),
    Column("to", identifier=True, drop=7),
    Column("category", drop=8),
    Column("twilio_code", drop=3),
    Column("state", drop=9),
    Column("retryable", drop=1),
    Column("attempts", drop=2),
    Column("message_sid", identifier=True, drop=5),
    Column("created_at", drop=6),
]


@failed_app.command("list")
def failed_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the items as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """List the failed sends, newest first."""
    profile = stored(ctx.obj)
    items = (item for item in FailedMessageModel.scan() if of_tenant(item.tenant, tenant))
    rows = sorted((failed_row(item) for item in items), key=lambda r: r["created_at"], reverse=True)
    if as_json:
        profile.print_json(rows)
        return
    cells = [
        ["" if row[c.name] is None else profile.number(row[c.name]) if c.name == "to" else str(row[c.name]) for c in FAILED_COLUMNS]
        for row in rows
    ]
    print_table(profile.console, FAILED_COLUMNS, cells, f"failed sends ({len(rows)})")


@failed_app.command("retry")
def failed_retry(
    ctx: typer.Context,
    item_id: str | None = typer.Argument(None, metavar="[ID]", help="The failed send to retry (RQ…), or the start of its id."),
    every: bool = typer.Option(False, "--all", help="Retry every failed send still waiting for a retry."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's sends: the start of an ID is looked up among them."),
) -> None:
    """Make a failed send (or --all) due now, then run the retry worker (locally; deployed, its schedule does)."""
    profile = stored(ctx.obj)
    if (item_id is None) == (not every):
        raise CliFailure("give one ID or --all")
    if item_id is not None:
        item_id = ids.resolve(profile, item_id, tenant, "failed send", ("RQ",))
    now = int(time.time())
    # The due index holds exactly the sends waiting for a retry: no scan of the table.
    items = [get_failed(item_id, tenant)] if item_id else [i for i in failed_sends.waiting() if of_tenant(i.tenant, tenant)]
    for item in items:
        if not failed_sends.make_due(item, now):
            raise CliFailure(f"{item.id} is not waiting for a retry (state {item.state})")
    if not profile.is_local:
        profile.console.print(f"{len(items)} made due now; the scheduled worker retries within a minute")
        return
    response = http("POST", profile.url("outbound") + "/_local/retry-failed", "outbound API", json={})
    if response.status_code != 200:
        raise CliFailure(f"POST /_local/retry-failed: {error_line(response)}")
    report = response.json()
    profile.console.print(" ".join(f"{key} {len(value) if isinstance(value, list) else value}" for key, value in report.items()))
    for key in ("sent", "rescheduled", "dead", "unknown"):
        for done in report.get(key) or []:
            profile.console.print(f"{done} {key}")
    if item_id and item_id not in (report.get("sent") or []):
        outcome = next((k for k in ("rescheduled", "dead", "unknown", "skipped") if item_id in report.get(k, [])), "not run")
        raise CliFailure(f"{item_id} was not sent: {outcome}")


def get_failed(item_id: str, tenant: str | None = None) -> FailedMessageModel:
    try:
        item = FailedMessageModel.get(item_id, consistent_read=True)
    except FailedMessageModel.DoesNotExist:
        item = None
    # Another tenant's send is answered as an unknown one.
    if item is None or not of_tenant(item.tenant, tenant):
        raise CliFailure(f"no failed send {item_id}" + (f" of tenant {tenant}" if tenant is not None else ""))
    return item


@failed_app.command("purge")
def failed_purge(
    ctx: typer.Context,
    older_than: str = typer.Option(..., "--older-than", help="An age: 30m, 12h, 7d."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be deleted."),
    include_retrying: bool = typer.Option(False, "--include-retrying", help="Delete sends still waiting for a retry too."),
) -> None:
    """Delete the failed sends created longer ago than --older-than (asks first, unless --yes);
    a send still waiting for a retry is kept unless --include-retrying."""
    profile = stored(ctx.obj)
    cutoff = iso(utc_now() - parse_duration(older_than))
    old = list(FailedMessageModel.scan(FailedMessageModel.created_at < cutoff))
    chosen = [item for item in old if include_retrying or item.state != FailedState.RETRYING.value]
    kept = len(old) - len(chosen)
    spared = f"; {kept} still retrying kept (--include-retrying deletes them)" if kept else ""
    if dry_run or not chosen:
        for item in chosen:
            profile.console.print(f"{item.id} {item.state} {item.created_at}")
        verb = "would purge" if dry_run else "purged"
        profile.console.print(f"{verb} {len(chosen)} failed sends created before {cutoff}{spared}")
        return
    if not yes:
        try:
            asked = typer.confirm(f"Delete {len(chosen)} failed sends created before {cutoff}?", err=True)
        except typer.Abort:  # no answer (stdin closed): end the question's line, then refuse
            typer.echo(err=True)
            asked = False
        if not asked:
            raise CliFailure("not confirmed: nothing purged (--yes deletes without asking)")
    # A send that started retrying since the scan is kept, unless retrying ones are wanted.
    condition = None if include_retrying else FailedMessageModel.state != FailedState.RETRYING.value
    purged = 0
    for item in chosen:
        try:
            item.delete(condition=condition)
            purged += 1
        except DeleteError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            kept += 1
    spared = f"; {kept} still retrying kept (--include-retrying deletes them)" if kept else ""
    profile.console.print(f"purged {purged} failed sends created before {cutoff}{spared}")


def parse_duration(text: str, option: str = "--older-than") -> timedelta:
    match = DURATION.match(text.strip())
    if not match:
        raise CliFailure(f"{option} {text!r}: give a number and a unit, s, m, h or d (e.g. 7d)")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


def number_arg(value: str) -> str:
    try:
        return str(parse_address(value, "NUMBER"))
    except CarrierError as exc:
        raise CliFailure(str(exc)) from exc


@optouts_app.command("list")
def optouts_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
    tenant: str | None = TENANT_OPTION,
) -> None:
    """List the opt-out records (opted out or back in)."""
    profile = stored(ctx.obj)
    rows = [
        {
            "tenant": tenant_of(o.tenant),
            "phone": o.phone,
            "sender": unscoped(tenant_of(o.tenant), o.sender),
            "opted_out": o.opted_out,
            "keyword": o.keyword,
            "source": o.source,
            "updated_at": o.updated_at,
        }
        for o in OptOutModel.scan()
        if of_tenant(o.tenant, tenant)
    ]
    rows.sort(key=lambda r: str(r["updated_at"]), reverse=True)
    if as_json:
        profile.print_json(rows)
        return
    cells = [
        [
            "" if row[c.name] is None else profile.number(str(row[c.name])) if c.name in ("phone", "sender") else str(row[c.name])
            for c in OPTOUT_COLUMNS
        ]
        for row in rows
    ]
    print_table(profile.console, OPTOUT_COLUMNS, cells, f"opt-outs ({len(rows)})")


# The customer and the sender (a number, or an MG… SID) are never cut nor left out.
OPTOUT_COLUMNS = [
    Column("tenant", drop=2),
    Column("phone", identifier=True),
    Column("sender", identifier=True),
    Column("opted_out", drop=5),
    Column("keyword", drop=1),
    Column("source", drop=3),
    Column("updated_at", drop=4),
]


def set_opt_out(ctx: typer.Context, number: str, sender: str | None, opted_out: bool, tenant: str | None) -> None:
    profile = stored(ctx.obj)
    phone = number_arg(number)
    tenant = tenant or DEFAULT_TENANT
    default_sender = profile.settings.account.default_messaging_service_sid or profile.settings.account.default_from_number
    business = sender or (default_sender if tenant == DEFAULT_TENANT else None)
    if not business:
        raise CliFailure("--sender is required: the stage has no default sender" if tenant == DEFAULT_TENANT else "--sender is required")
    if tenant != DEFAULT_TENANT and not is_tenant_id(tenant):
        raise CliFailure(f"--tenant {tenant!r} is not a tenant id")
    # A put, as Twilio's own 21610 is recorded: the operator's word is the newest state.
    # The table's stream tells the workflow engine (contact.opted_out / opted_in).
    optout.set_by(phone, business, tenant, opted_out, OptOutSource.OPERATOR)
    verb = "opted out of" if opted_out else "may again be messaged by"
    profile.console.print(f"{profile.number(phone)} {verb} {profile.number(business)}")


@optouts_app.command("add")
def optouts_add(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="The customer's number, E.164."),
    sender: str | None = typer.Option(None, "--sender", help="The business number or MG… service; default: the stage's sender."),
    tenant: str | None = typer.Option(None, "--tenant", help="The tenant whose sender it is (default: the tenant-less routes')."),
) -> None:
    """Opt a number out of a sender's messages."""
    set_opt_out(ctx, number, sender, True, tenant)


@optouts_app.command("remove")
def optouts_remove(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="The customer's number, E.164."),
    sender: str | None = typer.Option(None, "--sender", help="The business number or MG… service; default: the stage's sender."),
    tenant: str | None = typer.Option(None, "--tenant", help="The tenant whose sender it is (default: the tenant-less routes')."),
) -> None:
    """Lift an opt-out: the number may be messaged by the sender again."""
    set_opt_out(ctx, number, sender, False, tenant)
