"""`reconcile`: run the reconciler now (services/outbound chalicelib/reconcile.py): every
message Twilio has, we have.

Locally it is the outbound service's `POST /_local/reconcile`. On a deployed stage the
scheduled function `omni-twilio-<stage>-outbound-reconcile` is invoked directly (needs
lambda:InvokeFunction on it), with the options as its event's detail.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import typer

from carrier_core.settings import DEFAULT_TENANT
from carrier_core.tenants import is_tenant_id
from omni_cli.context import CliFailure, Profile, error_line, http

# The reconciler reads up to 10 pages an account and may write for each message.
RECONCILE_TIMEOUT = (3.0, 120.0)


def reconcile(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None, "--since", help="Read Twilio's messages sent since this ISO 8601 time, not from the checkpoint (which stays)."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's account ('default': the environment's)."),
) -> None:
    """Run the reconciler now: store the inbound messages Twilio has and we lack, move outbound statuses forward."""
    profile: Profile = ctx.obj
    detail: dict[str, Any] = {}
    if since is not None:
        detail["since"] = _instant(since)
    if tenant is not None:
        if tenant != DEFAULT_TENANT and not is_tenant_id(tenant):
            raise CliFailure("--tenant must be a tenant id")
        detail["tenant"] = tenant
    report = _run_local(profile, detail) if profile.is_local else _run_deployed(profile, detail)
    profile.console.print(f"reconciled {report.get('reconciled', 0)}")
    failed = False
    for account in report.get("accounts") or []:
        line = (
            f"{account.get('tenant')}: listed {account.get('listed')} in {account.get('pages')} page(s) since {account.get('since')},"
            f" stored {account.get('inbound_stored')} inbound, advanced {account.get('outbound_advanced')} outbound"
            + ("" if account.get("complete") else ", more to read next run")
        )
        if account.get("error"):
            line += f", failed: {account['error']}"
            failed = True
        profile.console.print(line)
    if failed:
        raise CliFailure("the reconciler could not read every account")


def _instant(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliFailure("--since must be an ISO 8601 date-time, e.g. 2026-01-15T10:00:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def _run_local(profile: Profile, detail: dict[str, Any]) -> dict[str, Any]:
    response = http("POST", profile.url("outbound") + "/_local/reconcile", "outbound API", json=detail, timeout=RECONCILE_TIMEOUT)
    if response.status_code != 200:
        raise CliFailure(f"POST /_local/reconcile: {error_line(response)}")
    report: dict[str, Any] = response.json()
    return report


def _run_deployed(profile: Profile, detail: dict[str, Any]) -> dict[str, Any]:
    name = f"omni-twilio-{profile.stage}-outbound-reconcile"
    # The shape of a scheduled event, which the function's Chalice wrapper reads.
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "omni-twilio.cli",
        "account": "",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": profile.settings.region,
        "resources": [],
        "detail": detail,
    }
    import boto3  # deferred: only a deployed run needs it
    from botocore.config import Config

    profile.use_aws()
    # Not retried: a second invocation would read the same pages again for nothing.
    config = Config(connect_timeout=RECONCILE_TIMEOUT[0], read_timeout=RECONCILE_TIMEOUT[1], retries={"total_max_attempts": 1})
    client = boto3.session.Session().client("lambda", region_name=profile.settings.region, config=config)
    answer = client.invoke(FunctionName=name, InvocationType="RequestResponse", Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"{}")
    if answer.get("FunctionError"):
        raise CliFailure(f"{name} failed: {str(payload.get('errorType') or 'error')}")
    return payload if isinstance(payload, dict) else {}
