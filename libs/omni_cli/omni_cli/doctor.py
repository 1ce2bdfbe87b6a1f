"""`doctor`: check a stage's configuration line by line and say what to fix."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests
import typer
from rich.markup import escape

from omni_cli.context import PROBE_TIMEOUT, TWILIO_API, CliFailure, Profile, failure_line, http, timed_out
from omni_cli.context import unreachable as cannot_reach

Check = Callable[[Profile], str]


class Problem(Exception):
    """A check that failed: the message says what to fix."""


def unreachable(what: str, exc: Exception, fix: str, profile: Profile | None = None) -> Problem:
    """A service that failed a call: one that timed out says so, as it hangs rather than refuses;
    one that is not listening is named as the rest of the CLI names it."""
    if timed_out(exc):
        return Problem(f"{what} did not answer in time: {fix}")
    down = cannot_reach(exc, profile)
    if down is not None:
        return Problem(down)
    return Problem(f"{what} not reachable ({type(exc).__name__}): {fix}")


def settings_check(profile: Profile) -> str:
    try:
        settings = profile.settings
    except CliFailure as exc:
        raise Problem(f"{exc}: set it in the environment (or its SSM parameter)") from exc
    key = "an API key" if settings.account.api_key_sid else "the auth token"
    return f"settings of the {settings.stage} stage read; REST calls use {key}"


def tables_check(profile: Profile) -> str:
    from carrier_core.models import ALL_MODELS

    profile.bind()
    missing = []
    for model in ALL_MODELS:  # every table the services use, the idempotency keys' too
        try:
            if not model.exists():
                missing.append(model.Meta.table_name)
        except Exception as exc:  # an endpoint that does not answer, credentials refused
            raise unreachable("DynamoDB", exc, "check DYNAMODB_ENDPOINT / AWS credentials", profile) from exc
    if missing:
        raise Problem(f"missing tables {', '.join(missing)}: make deploy-shared STAGE={profile.stage} (locally, restart make dev)")
    first, *others = (model.Meta.table_name for model in ALL_MODELS)
    prefix = first.rsplit("-", 1)[0]
    return f"tables {first}, {', '.join(name.removeprefix(prefix) for name in others)} reachable"


def queues_check(profile: Profile) -> str:
    sqs = profile.aws_client("sqs")
    names = [profile.settings.events_dlq_name] + ([f"omni-twilio-{profile.stage}-events"] if profile.is_local else [])
    for name in names:
        try:
            sqs.get_queue_url(QueueName=name)
        except Exception as exc:
            raise unreachable(f"queue {name}", exc, "check the stage's infra and AWS credentials", profile) from exc
    return f"queues {', '.join(names)} reachable"


def webhook_check(service: str) -> Check:
    def check(profile: Profile) -> str:
        url = profile.webhook_url(service)
        response = http("POST", url, f"{service} webhook", data={"MessageSid": "SM" + "0" * 32}, timeout=PROBE_TIMEOUT)
        if response.status_code != 403:
            raise Problem(
                f"{url} answered an unsigned POST with {response.status_code}, not 403: is it the {service} service, validating signatures?"
            )
        return f"{url} refuses an unsigned POST (403)"

    return check


def outbound_check(profile: Profile) -> str:
    url = profile.url("outbound") + "/health"
    response = http("GET", url, "outbound API", timeout=PROBE_TIMEOUT)
    if response.status_code != 200:
        raise Problem(f"{url} answered {response.status_code}: the outbound service cannot reach its tables")
    return f"{url} is healthy"


def twilio_check(profile: Profile) -> str:
    settings = profile.settings
    base = settings.twilio_api_base_url or TWILIO_API
    url = f"{base}/2010-04-01/Accounts/{settings.account.account_sid}/Messages.json"
    response = http("GET", url, "Twilio API", params={"PageSize": "1"}, auth=settings.account.rest_credentials, timeout=PROBE_TIMEOUT)
    if response.status_code == 401:
        raise Problem("Twilio refused the credentials (20003): check TWILIO_ACCOUNT_SID and TWILIO_API_KEY_SID/SECRET or TWILIO_AUTH_TOKEN")
    if response.status_code != 200:
        raise Problem(f"Twilio answered {response.status_code} for the account: check TWILIO_ACCOUNT_SID")
    # The default account first: a Twilio that refuses it (or hangs) is reported at once.
    return f"Twilio ({base}) accepts the credentials; {tenants_line(profile)}"


def tenants_line(profile: Profile) -> str:
    """Each tenant's credentials at Twilio; Problem when one is refused."""
    from omni_cli.tenants import probe

    try:
        results = probe(profile)
    except CliFailure:
        raise
    except Exception as exc:  # the tenants table or SSM: unreachable, or credentials refused
        raise unreachable("the tenants' table or secrets", exc, "check DYNAMODB_ENDPOINT / AWS credentials", profile) from exc
    if not results:
        return "no tenants registered"
    failed = [f"{tenant} ({why})" for tenant, ok, why in results if not ok]
    if failed:
        raise Problem(f"{len(failed)} of {len(results)} tenants' credentials refused: {'; '.join(failed)}")
    return f"tenants {', '.join(t for t, _, _ in results)} too"


CHECKS: list[tuple[str, Check]] = [
    ("settings", settings_check),
    ("tables", tables_check),
    ("queues", queues_check),
    ("inbound webhook", webhook_check("inbound")),
    ("status webhook", webhook_check("status")),
    ("outbound API", outbound_check),
    ("Twilio credentials", twilio_check),
]


def doctor(ctx: typer.Context) -> None:
    """Check the stage: settings, tables, queues, webhooks (403 unsigned), Twilio credentials (each tenant's too)."""
    profile: Profile = ctx.obj
    first, *others = CHECKS
    results = [run_check(profile, *first)]
    profile.console.print(results[0][1], highlight=False)
    # Every other check waits on the network. Side by side, a stage that hangs costs one
    # timeout, not one per check; the lines still print in order.
    profile.use_aws()  # os.environ is set once here, not by the threads at once
    with ThreadPoolExecutor(len(others)) as pool:
        for result in pool.map(lambda check: run_check(profile, *check), others):
            results.append(result)
            profile.console.print(result[1], highlight=False)
    failed = sum(not ok for ok, _ in results)
    if failed:
        raise CliFailure(f"{failed} of {len(CHECKS)} checks failed")


def run_check(profile: Profile, name: str, check: Check) -> tuple[bool, str]:
    """Whether the check passed, and its ✓ or ✗ line."""
    try:
        return True, f"[green]✓[/green] {name}: {escape(check(profile))}"
    except CliFailure as exc:
        return False, f"[red]✗[/red] {name}: {escape(failure_line(exc, profile))}"
    except (Problem, requests.RequestException) as exc:
        return False, f"[red]✗[/red] {name}: {escape(str(exc))}"
