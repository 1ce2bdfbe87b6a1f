"""`tenants`: the businesses this deployment serves, each on its own Twilio account.

The configuration goes to the tenants table, the secrets to SSM SecureStrings under the
stage's tenant path (carrier_core.tenants); no secret is ever printed. The services cache a
tenant for up to 5 minutes: a change reaches every container within that, and a rotated
token at once (a webhook that fails the cached token re-reads it).
"""

from __future__ import annotations

import os
import re
from typing import Any

import typer

from carrier_core.models import TenantModel, iso, utc_now
from carrier_core.settings import DEFAULT_TENANT, MESSAGING_SERVICE_SID, API_KEY_SID
from carrier_core.tenants import (
    API_KEY_SECRET,
    AUTH_TOKEN,
    SECONDARY_AUTH_TOKEN,
    SECRET_NAMES,
    account_for,
    config_of,
    is_tenant_id,
    parameter_name,
)
from carrier_core.tenant_scan import registered_tenants
from omni_cli.context import PROBE_TIMEOUT, TWILIO_API, CliFailure, Profile, error_line, http
from omni_cli.tables import Column, print_table

app = typer.Typer(
    help="The businesses this deployment serves, each on its own Twilio account.", no_args_is_help=True, rich_markup_mode=None
)

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
SENDER = re.compile(r"^(whatsapp:)?\+[1-9][0-9]{6,14}$")
# The KMS key of the tenant secrets when deployed (infra/modules/tables); locally SSM's default.
KMS_KEY_ENV = "OMNI_TWILIO_TENANT_KMS_KEY"


def tenant_arg(tenant: str) -> str:
    if tenant == DEFAULT_TENANT:
        raise CliFailure("the tenant 'default' is the deployment's own account, set by its TWILIO_* settings")
    if not is_tenant_id(tenant):
        raise CliFailure(f"TENANT {tenant!r}: 2 to 63 of a-z, 0-9 and '-', starting with a letter or digit")
    return tenant


def sender_arg(value: str) -> str:
    if not (SENDER.fullmatch(value) or MESSAGING_SERVICE_SID.fullmatch(value)):
        raise CliFailure(f"--sender {value!r}: a number (+E.164), whatsapp:+E.164 or a Messaging Service SID (MG…)")
    return value


def account_arg(value: str, option: str) -> str:
    if not ACCOUNT_SID.fullmatch(value):
        raise CliFailure(f"{option}: AC followed by 32 hexadecimal digits")
    return value


class Secrets:
    """A stage's tenant SecureStrings (moto server locally)."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.ssm = profile.aws_client("ssm")

    def name(self, tenant: str, secret: str) -> str:
        return parameter_name(self.profile.settings, tenant, secret)

    def put(self, tenant: str, secret: str, value: str) -> None:
        extra: dict[str, Any] = {}
        key = os.environ.get(KMS_KEY_ENV) or (None if self.profile.is_local else f"alias/omni-twilio-{self.profile.stage}-tenant-secrets")
        if key:
            extra["KeyId"] = key
        self.ssm.put_parameter(Name=self.name(tenant, secret), Value=value, Type="SecureString", Overwrite=True, **extra)

    def read(self, tenant: str) -> dict[str, str]:
        names = {self.name(tenant, s): s for s in SECRET_NAMES}
        response = self.ssm.get_parameters(Names=list(names), WithDecryption=True)
        return {names[p["Name"]]: str(p["Value"]) for p in response.get("Parameters", [])}

    def delete(self, tenant: str, secrets: tuple[str, ...] = SECRET_NAMES) -> None:
        self.ssm.delete_parameters(Names=[self.name(tenant, s) for s in secrets])


def bound(ctx: typer.Context) -> Profile:
    profile: Profile = ctx.obj
    profile.bind()
    return profile


def get_tenant(tenant: str) -> TenantModel:
    try:
        return TenantModel.get(tenant, consistent_read=True)
    except TenantModel.DoesNotExist:
        raise CliFailure(f"no tenant {tenant!r}") from None


@app.command("add")
def add(
    ctx: typer.Context,
    tenant: str = typer.Argument(..., help="The tenant's id: 2 to 63 of a-z, 0-9 and '-'."),
    account_sid: str = typer.Option(..., "--account-sid", help="Its Twilio account (AC…)."),
    auth_token: str = typer.Option(..., "--auth-token", help="The account's auth token: checks its webhooks' signatures."),
    secondary_auth_token: str | None = typer.Option(None, "--secondary-auth-token", help="A second token accepted during a rotation."),
    api_key_sid: str | None = typer.Option(None, "--api-key-sid", help="An API key (SK…) its sends authenticate with."),
    api_key_secret: str | None = typer.Option(None, "--api-key-secret", help="The API key's secret."),
    senders: list[str] = typer.Option(..., "--sender", help="A number, whatsapp:+number or MG… service it may send from (repeat)."),
    subaccounts: list[str] = typer.Option([], "--subaccount", help="A subaccount (AC…) whose webhooks its token signs (repeat)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a tenant that exists (its account, senders and secrets)."),
) -> None:
    """Register a tenant: its account and senders in the table, its secrets in SSM.

    Locally the Twilio sandbox gets the account too (with the same credentials), so the
    tenant's sends and callbacks work at once."""
    tenant_arg(tenant)
    account_arg(account_sid, "--account-sid")
    if (api_key_sid is None) != (api_key_secret is None):
        raise CliFailure("--api-key-sid and --api-key-secret go together")
    if api_key_sid is not None and not API_KEY_SID.fullmatch(api_key_sid):
        raise CliFailure("--api-key-sid: SK followed by 32 hexadecimal digits")
    if not auth_token:
        raise CliFailure("--auth-token must not be empty")
    registered = sorted({sender_arg(s) for s in senders})
    subs = sorted({account_arg(s, "--subaccount") for s in subaccounts})
    profile = bound(ctx)
    secrets = Secrets(profile)
    values = {AUTH_TOKEN: auth_token, SECONDARY_AUTH_TOKEN: secondary_auth_token, API_KEY_SECRET: api_key_secret}
    if not replace and TenantModel.count(tenant, consistent_read=True):
        raise CliFailure(f"tenant {tenant!r} exists: `tenants rotate` changes its token, `tenants add --replace` the rest")
    # Secrets first: a registered tenant always has its token. A failed table write takes
    # them back, so nothing is left half-registered.
    for secret, value in values.items():
        if value:
            secrets.put(tenant, secret, value)
    if replace:
        secrets.delete(tenant, tuple(s for s, v in values.items() if not v))
    at = iso(utc_now())
    item = TenantModel(
        tenant,
        account_sid=account_sid,
        api_key_sid=api_key_sid,
        senders=set(registered),
        subaccounts=set(subs) or None,
        created_at=at,
        updated_at=at,
    )
    try:
        item.save(condition=None if replace else TenantModel.tenant.does_not_exist())
    except Exception:
        if not replace:
            secrets.delete(tenant)
        raise
    if profile.is_local:
        sandbox_account(profile, account_sid, auth_token, api_key_sid, api_key_secret)
    profile.console.print(f"tenant {tenant} added: account {account_sid}, {len(registered)} sender(s)")
    profile.console.print(f"webhooks: {profile.url('inbound')}/twilio/{tenant}/inbound and {profile.url('status')}/twilio/{tenant}/status")


def sandbox_account(profile: Profile, account_sid: str, token: str, key_sid: str | None, key_secret: str | None) -> None:
    """The local stage's Twilio sandbox hosts the tenant's account with its credentials: new,
    or replaced (a token or key rotated since)."""
    body = {"account_sid": account_sid, "auth_token": token, **({"api_key_sid": key_sid, "api_key_secret": key_secret} if key_sid else {})}
    url = profile.local_url("sandbox") + "/_sandbox/accounts"
    response = http("POST", url, "Twilio sandbox", json=body)
    if response.status_code == 409:
        response = http("PUT", f"{url}/{account_sid}", "Twilio sandbox", json={k: v for k, v in body.items() if k != "account_sid"})
    if response.status_code not in (200, 201):
        raise CliFailure(f"the sandbox refused the account: {error_line(response)}")


def probe(profile: Profile) -> list[tuple[str, bool, str]]:
    """Each tenant, whether its credentials reach Twilio (the sandbox locally), and how."""
    profile.bind()
    base = profile.settings.twilio_api_base_url or TWILIO_API
    secrets = Secrets(profile)
    results = []
    for item in registered_tenants():
        stored = secrets.read(item.tenant)
        if AUTH_TOKEN not in stored:
            results.append((item.tenant, False, "no auth token stored: `tenants add --replace` it"))
            continue
        account = account_for(profile.settings, config_of(item), stored)
        url = f"{base}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        response = http("GET", url, "Twilio API", params={"PageSize": "1"}, auth=account.rest_credentials, timeout=PROBE_TIMEOUT)
        ok = response.status_code == 200
        results.append(
            (item.tenant, ok, "credentials accepted" if ok else f"Twilio answered {response.status_code}: check its account and key")
        )
    return results


def shown(profile: Profile, item: TenantModel, secrets: dict[str, str]) -> dict[str, Any]:
    config = config_of(item)
    return {
        "tenant": config.tenant,
        "account_sid": config.account_sid,
        "api_key_sid": config.api_key_sid,
        "senders": sorted(profile.number(s) for s in config.senders),
        "subaccounts": sorted(config.subaccounts),
        # Whether each secret is set; never a character of it.
        "secrets": {name: ("set" if name in secrets else "not set") for name in SECRET_NAMES},
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


@app.command("list")
def list_tenants(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print the tenants as JSON.")) -> None:
    """List the tenants (the default tenant is the deployment's own settings, not listed)."""
    profile = bound(ctx)
    items = registered_tenants()
    rows = [
        {"tenant": t.tenant, "account_sid": t.account_sid, "senders": len(t.senders or ()), "api_key": bool(t.api_key_sid)} for t in items
    ]
    if as_json:
        profile.print_json(rows)
        return
    columns = [
        Column("tenant", identifier=True),
        Column("account_sid", identifier=True),
        Column("senders", drop=2),
        Column("api_key", drop=1),
    ]
    print_table(profile.console, columns, [[str(row[c.name]) for c in columns] for row in rows], f"tenants ({len(rows)})")


@app.command("show")
def show(ctx: typer.Context, tenant: str = typer.Argument(..., help="The tenant's id.")) -> None:
    """One tenant: account, senders, subaccounts, and which secrets are set (never their values)."""
    profile = bound(ctx)
    item = get_tenant(tenant_arg(tenant))
    profile.print_json(shown(profile, item, Secrets(profile).read(tenant)))


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    tenant: str = typer.Argument(..., help="The tenant's id."),
    auth_token: str = typer.Option(..., "--auth-token", help="The new auth token; the current one becomes the secondary."),
) -> None:
    """Rotate the auth token: the new one becomes primary, the old one stays accepted as secondary.

    Run it before promoting the new token at Twilio: a container keeps a tenant up to 5
    minutes, and re-reads it on a failed signature at most every 10 s, so a callback signed
    with the new token in that window could be refused. Locally, promote it at the sandbox
    (PUT /_sandbox/accounts/{AccountSid}) as you would at Twilio."""
    profile = bound(ctx)
    item = get_tenant(tenant_arg(tenant))
    if not auth_token:
        raise CliFailure("--auth-token must not be empty")
    secrets = Secrets(profile)
    current = secrets.read(tenant).get(AUTH_TOKEN)
    # The old token is kept first, so a webhook signed with either is accepted throughout.
    if current and current != auth_token:
        secrets.put(tenant, SECONDARY_AUTH_TOKEN, current)
    secrets.put(tenant, AUTH_TOKEN, auth_token)
    item.update(actions=[TenantModel.updated_at.set(iso(utc_now()))])
    profile.console.print(
        f"tenant {tenant}: new auth token stored, the previous one kept as secondary; every container accepts both "
        "once it re-reads the tenant (within 5 minutes): promote the new token at Twilio then"
    )


@app.command("remove")
def remove(ctx: typer.Context, tenant: str = typer.Argument(..., help="The tenant's id.")) -> None:
    """Remove a tenant and its secrets; its stored messages stay until they expire."""
    profile = bound(ctx)
    item = get_tenant(tenant_arg(tenant))
    item.delete(condition=TenantModel.tenant.exists())
    Secrets(profile).delete(tenant)
    profile.console.print(f"tenant {tenant} removed")
