"""`numbers`: where Twilio sends an account's messaging webhooks, and pointing them here.

Through Twilio's REST API, with the account's REST credentials (its API key when it has
one): phone numbers are IncomingPhoneNumbers (api.twilio.com, 2010-04-01), Messaging
Services are Messaging v1 Services (messaging.twilio.com). Locally both are the Twilio
sandbox, at TWILIO_API_BASE_URL.

What this deployment wants Twilio to call, per tenant: its inbound and status webhook URLs,
each with carrier_core.webhook's connection overrides as the fragment (so Twilio retries
our 5xx and timeouts). A number has one messaging webhook, `SmsUrl`: its `StatusCallback`
is the status of voice calls, and a message's status goes to the StatusCallback of its send
(every send of ours names the status URL). A Messaging Service has both: `InboundRequestUrl`
and `StatusCallback`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import typer

from carrier_core.settings import DEFAULT_TENANT, MESSAGING_SERVICE_SID, Settings, TwilioAccount
from carrier_core.tenants import AUTH_TOKEN, account_for, config_of
from carrier_core.webhook import with_overrides, without_fragment
from omni_cli.context import TWILIO_API, CliFailure, Profile, http, mask_numbers
from omni_cli.tables import Column, print_table
from omni_cli.tenants import Secrets, get_tenant, tenant_arg

app = typer.Typer(
    help="The account's phone numbers and Messaging Services: where Twilio sends their webhooks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TWILIO_MESSAGING_API = "https://messaging.twilio.com"
PHONE_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")
# A list is read whole, a page at a time; this many pages at most (100,000 numbers).
PAGE_SIZE = 1000
MAX_PAGES = 100
TENANT_OPTION = typer.Option(DEFAULT_TENANT, "--tenant", help="Whose account: a tenant's, or 'default', the deployment's own.")


@dataclass(frozen=True)
class Target:
    """Where one tenant's webhooks should point, and the account to reach Twilio as."""

    account: TwilioAccount
    inbound_url: str
    status_url: str
    api_base: str
    messaging_base: str


def deployment_settings(profile: Profile) -> Settings:
    """The stage's settings with the default tenant's public webhook URLs filled in: a
    --inbound-url/--status-url first, then INBOUND_WEBHOOK_URL/STATUS_WEBHOOK_URL, then
    the stage's own (the local stack's, or Terraform's output)."""
    settings = profile.settings
    account = settings.account
    given = {"inbound": profile.inbound_url, "status": profile.status_url}
    configured = {"inbound": account.inbound_webhook_url, "status": account.status_webhook_url}
    urls = {service: (None if given[service] else configured[service]) or profile.webhook_url(service) for service in given}
    filled = dataclasses.replace(account, inbound_webhook_url=urls["inbound"], status_webhook_url=urls["status"])
    return dataclasses.replace(settings, account=filled)


def target(profile: Profile, tenant: str) -> Target:
    """The tenant's account and the URLs its webhooks should have."""
    settings = deployment_settings(profile)
    if tenant == DEFAULT_TENANT:
        account = settings.account
    else:
        profile.bind()
        item = get_tenant(tenant_arg(tenant))
        stored = Secrets(profile).read(tenant)
        if AUTH_TOKEN not in stored:
            raise CliFailure(f"tenant {tenant!r} has no auth token stored: `tenants add --replace` it")
        account = account_for(settings, config_of(item), stored)
    if not (account.inbound_webhook_url and account.status_webhook_url):  # deployment_settings fills both
        raise CliFailure(f"the {settings.stage} stage's webhook URLs are not known: give --inbound-url and --status-url")
    local = settings.twilio_api_base_url
    return Target(
        account=account,
        inbound_url=with_overrides(account.inbound_webhook_url),
        status_url=with_overrides(account.status_webhook_url),
        api_base=(local or TWILIO_API).rstrip("/"),
        messaging_base=(local or TWILIO_MESSAGING_API).rstrip("/"),
    )


class TwilioRest:
    """The few REST calls these commands make, as one account."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.auth = target.account.rest_credentials
        self.account_sid = target.account.account_sid

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return http(method, url, "Twilio API", auth=self.auth, **kwargs)

    def _numbers_url(self) -> str:
        return f"{self.target.api_base}/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers"

    def _pages(self, base: str, first: str, params: dict[str, str], items: str, next_link: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, following its next-page links on `base` (never elsewhere:
        Twilio's links are relative, or absolute on the API's own host)."""
        url: str | None = first
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._call("GET", url, params=params)
            page = answer(response, f"listing {items}")
            yield from page.get(items) or []
            link = next_link(page)
            url, params = (on_base(base, link), {}) if link else (None, {})
        raise CliFailure(f"more than {MAX_PAGES * PAGE_SIZE} {items}: not listed")

    def numbers(self, phone_number: str | None = None) -> list[dict[str, Any]]:
        """The account's numbers; only `phone_number` when given (Twilio's filter is partial,
        so the whole number is compared here)."""
        params = {"PageSize": str(PAGE_SIZE), **({"PhoneNumber": phone_number} if phone_number else {})}
        found = self._pages(
            self.target.api_base, self._numbers_url() + ".json", params, "incoming_phone_numbers", lambda p: p.get("next_page_uri")
        )
        return [n for n in found if phone_number is None or n.get("phone_number") == phone_number]

    def update_number(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        return answer(self._call("POST", f"{self._numbers_url()}/{sid}.json", data=form), "updating the number")

    def services(self) -> list[dict[str, Any]]:
        base = self.target.messaging_base
        return list(
            self._pages(
                base, base + "/v1/Services", {"PageSize": str(PAGE_SIZE)}, "services", lambda p: (p.get("meta") or {}).get("next_page_url")
            )
        )

    def update_service(self, sid: str, form: dict[str, str]) -> dict[str, Any] | None:
        """The service as updated; None when the account has no such service."""
        response = self._call("POST", f"{self.target.messaging_base}/v1/Services/{sid}", data=form)
        if response.status_code == 404:
            return None
        return answer(response, "updating the Messaging Service")


def on_base(base: str, link: str) -> str:
    """A page link's path and query on `base`."""
    parts = urlsplit(link)
    return base + parts.path + (f"?{parts.query}" if parts.query else "")


def answer(response: requests.Response, doing: str) -> dict[str, Any]:
    """The JSON of a 2xx answer; any other is a one-line failure with Twilio's code."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if 200 <= response.status_code < 300 and isinstance(body, dict):
        return body
    if isinstance(body, dict) and body.get("code"):
        reason = f"{body['code']} {body.get('message') or ''}".strip()
    else:
        reason = f"HTTP {response.status_code}"
    raise CliFailure(f"Twilio answered {response.status_code} {doing}: {reason}"[:300])


def target_arg(value: str) -> str:
    if not (PHONE_NUMBER.fullmatch(value) or MESSAGING_SERVICE_SID.fullmatch(value)):
        raise CliFailure("NUMBER_OR_MG: a phone number (+E.164) or a Messaging Service SID (MG followed by 32 hex digits)")
    return value


def unset(value: Any) -> bool:
    """Twilio answers an unset URL or SID as "" or null."""
    return value is None or value == ""


def url_problems(what: str, actual: Any, wanted: str) -> list[str]:
    """Why `actual` is not the URL wanted: unset, elsewhere, or without our overrides."""
    if unset(actual):
        return [f"no {what} URL"]
    if without_fragment(str(actual)) != without_fragment(wanted):
        return [f"{what} points elsewhere"]
    if str(actual) != wanted:
        return [f"{what} lacks the connection overrides"]
    return []


def method_problems(what: str, method: Any) -> list[str]:
    return [] if unset(method) or str(method).upper() == "POST" else [f"{what} method is {method}, not POST"]


def number_problems(number: dict[str, Any], goal: Target) -> list[str]:
    problems = url_problems("inbound", number.get("sms_url"), goal.inbound_url) + method_problems("inbound", number.get("sms_method"))
    if not unset(number.get("sms_application_sid")):
        problems.append(f"its messages go to application {number['sms_application_sid']}, not its SmsUrl")
    return problems


def service_problems(service: dict[str, Any], goal: Target) -> list[str]:
    problems = url_problems("inbound", service.get("inbound_request_url"), goal.inbound_url)
    problems += method_problems("inbound", service.get("inbound_method"))
    problems += url_problems("status", service.get("status_callback"), goal.status_url)
    if service.get("use_inbound_webhook_on_number"):
        problems.append("inbound messages go to each number's own SmsUrl (use_inbound_webhook_on_number)")
    return problems


@app.command("configure")
def configure(
    ctx: typer.Context,
    number_or_mg: str = typer.Argument(
        ..., metavar="NUMBER_OR_MG", help="A phone number of the account (+E.164) or a Messaging Service SID (MG…)."
    ),
    tenant: str = TENANT_OPTION,
) -> None:
    """Point a number's or a Messaging Service's webhooks at this deployment, with the overrides.

    A number: SmsUrl (POST) is set to the tenant's inbound URL; its StatusCallback, which is
    for voice calls, is left alone (each send names the status URL). A Messaging Service:
    InboundRequestUrl (POST) and StatusCallback. Nothing else is changed."""
    profile: Profile = ctx.obj
    value = target_arg(number_or_mg)
    goal = target(profile, tenant)
    rest = TwilioRest(goal)
    account = goal.account.account_sid
    if PHONE_NUMBER.fullmatch(value):
        found = rest.numbers(value)
        if not found:
            raise CliFailure(f"account {account} has no number {profile.number(value)}")
        updated = rest.update_number(str(found[0]["sid"]), {"SmsUrl": goal.inbound_url, "SmsMethod": "POST"})
        profile.console.print(f"number {profile.number(value)} ({updated.get('sid')}) of account {account}:")
        profile.console.print(f"  inbound  {updated.get('sms_url')} ({updated.get('sms_method')})")
        profile.console.print("  status   named by each send (a number's StatusCallback is for calls)")
        if not unset(updated.get("sms_application_sid")):
            application = updated["sms_application_sid"]
            profile.console.print(
                f"  warning  application {application} handles its messages, not SmsUrl: remove it from the number at Twilio"
            )
        return
    form = {"InboundRequestUrl": goal.inbound_url, "InboundMethod": "POST", "StatusCallback": goal.status_url}
    service = rest.update_service(value, form)
    if service is None:
        raise CliFailure(f"account {account} has no Messaging Service {value}")
    profile.console.print(f"Messaging Service {value} of account {account}:")
    profile.console.print(f"  inbound  {service.get('inbound_request_url')} ({service.get('inbound_method')})")
    profile.console.print(f"  status   {service.get('status_callback')}")
    if service.get("use_inbound_webhook_on_number"):
        profile.console.print(
            "  warning  use_inbound_webhook_on_number is on: Twilio sends inbound messages to each number's own SmsUrl; "
            "configure those numbers too"
        )


def rows(profile: Profile, goal: Target, rest: TwilioRest) -> list[dict[str, Any]]:
    """One row per number, then per Messaging Service: what it points at, and what is wrong."""
    out: list[dict[str, Any]] = []
    for number in sorted(rest.numbers(), key=lambda n: str(n.get("phone_number"))):
        out.append(
            {
                "kind": "number",
                "sid": number.get("sid"),
                "phone": number.get("phone_number"),
                "inbound": number.get("sms_url") or None,
                "status": None,
                "problems": number_problems(number, goal),
            }
        )
    for service in sorted(rest.services(), key=lambda s: str(s.get("sid"))):
        name = str(service.get("friendly_name") or "")
        out.append(
            {
                "kind": "service",
                "sid": service.get("sid"),
                "name": name if profile.show_numbers else mask_numbers(name),
                "inbound": service.get("inbound_request_url") or None,
                "status": service.get("status_callback") or None,
                "problems": service_problems(service, goal),
            }
        )
    return out


# The SID (PN…/MG…) is never cut nor left out; the URLs fold, and go first on a narrow terminal.
NUMBER_COLUMNS = [
    Column("kind", drop=3),
    Column("sid", identifier=True),
    Column("number / name", drop=5),
    Column("inbound", breakable=True, drop=2),
    Column("status", breakable=True, drop=1),
    Column("ok", drop=4),
]


@app.command("list")
def list_numbers(
    ctx: typer.Context,
    tenant: str = TENANT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the account, the URLs wanted and each number and service as JSON."),
) -> None:
    """List the account's numbers and Messaging Services and what each points at, flagging
    any that point elsewhere than this deployment or lack the connection overrides."""
    profile: Profile = ctx.obj
    goal = target(profile, tenant)
    found = rows(profile, goal, TwilioRest(goal))
    flagged = sum(1 for row in found if row["problems"])
    if as_json:
        profile.print_json(
            {
                "tenant": goal.account.tenant,
                "account_sid": goal.account.account_sid,
                "wanted": {"inbound": goal.inbound_url, "status": goal.status_url},
                "items": found,
                "flagged": flagged,
            }
        )
        return
    # The URLs without their fragment, to keep the table narrow: `ok` says whether the
    # overrides are there, and --json shows the URLs whole.
    cells = []
    for row in found:
        label = profile.number(row["phone"]) if row["kind"] == "number" else row["name"]
        status = without_fragment(row["status"]) if row["status"] else "(each send's)" if row["kind"] == "number" else ""
        inbound = without_fragment(row["inbound"]) if row["inbound"] else ""
        cells.append([row["kind"], str(row["sid"]), label, inbound, status, "; ".join(row["problems"]) or "yes"])
    title = f"numbers and Messaging Services of {goal.account.account_sid} ({len(found)}, {flagged} flagged)"
    print_table(profile.console, NUMBER_COLUMNS, cells, title)
    profile.console.print(f"wanted: inbound {goal.inbound_url}")
    profile.console.print(f"        status  {goal.status_url}")
