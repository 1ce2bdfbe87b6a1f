"""`templates`: the account's Content API templates and their WhatsApp approval.

What a send with `content_sid` may name, read as the outbound service reads it: Twilio's
Content API (content.twilio.com, v1), with the account's REST credentials (its API key when
it has one): `GET /v1/Content` for the list, `GET /v1/Content/{HX}` for one template and its
declared variables, `GET /v1/Content/{HX}/ApprovalRequests` for its WhatsApp approval.
Locally the Twilio sandbox serves them (TWILIO_CONTENT_API_BASE_URL, else
TWILIO_API_BASE_URL).
"""

from __future__ import annotations

import re
from typing import Any

import typer

from carrier_core.settings import DEFAULT_TENANT, TwilioAccount
from carrier_core.tenants import AUTH_TOKEN, account_for, config_of
from omni_cli.context import CliFailure, Profile, http, mask_numbers
from omni_cli.numbers import MAX_PAGES, answer, on_base
from omni_cli.tables import Column, print_table
from omni_cli.tenants import Secrets, get_tenant, tenant_arg

app = typer.Typer(
    help="The account's Content API templates (what content_sid names) and their WhatsApp approval.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TWILIO_CONTENT_API = "https://content.twilio.com"
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
PAGE_SIZE = 500
WHAT = "Twilio Content API"
TENANT_OPTION = typer.Option(DEFAULT_TENANT, "--tenant", help="Whose account: a tenant's, or 'default', the deployment's own.")


class Content:
    """The Content API calls these commands make, as one account."""

    def __init__(self, profile: Profile, account: TwilioAccount) -> None:
        settings = profile.settings
        self.base = (settings.twilio_content_api_base_url or settings.twilio_api_base_url or TWILIO_CONTENT_API).rstrip("/")
        self.account = account
        self.auth = account.rest_credentials

    def _get(self, path_or_url: str, doing: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        """The JSON of a 2xx answer; None for a 404 (no such template in the account)."""
        url = path_or_url if path_or_url.startswith(self.base) else self.base + path_or_url
        response = http("GET", url, WHAT, auth=self.auth, params=params)
        if response.status_code == 404:
            return None
        return answer(response, doing)

    def templates(self) -> list[dict[str, Any]]:
        """Every template of the account, following the list's pages on this base only."""
        found: list[dict[str, Any]] = []
        url: str | None = self.base + "/v1/Content"
        params: dict[str, str] = {"PageSize": str(PAGE_SIZE)}
        for _ in range(MAX_PAGES):
            if url is None:
                return found
            page = self._get(url, "listing templates", params) or {}
            found += page.get("contents") or []
            link = (page.get("meta") or {}).get("next_page_url")
            url, params = (on_base(self.base, str(link)), {}) if link else (None, {})
        raise CliFailure(f"more than {MAX_PAGES * PAGE_SIZE} templates: not listed")

    def template(self, sid: str) -> dict[str, Any] | None:
        return self._get(f"/v1/Content/{sid}", "reading the template")

    def approval(self, sid: str) -> dict[str, Any]:
        """The template's WhatsApp approval (`whatsapp`), `{}` when it has none."""
        body = self._get(f"/v1/Content/{sid}/ApprovalRequests", "reading the template's approval") or {}
        whatsapp = body.get("whatsapp")
        return whatsapp if isinstance(whatsapp, dict) else {}


def account_of(profile: Profile, tenant: str) -> TwilioAccount:
    """The tenant's Twilio account (its credentials from SSM), or the deployment's own."""
    if tenant == DEFAULT_TENANT:
        return profile.settings.account
    profile.bind()
    item = get_tenant(tenant_arg(tenant))
    stored = Secrets(profile).read(tenant)
    if AUTH_TOKEN not in stored:
        raise CliFailure(f"tenant {tenant!r} has no auth token stored: `tenants add --replace` it")
    return account_for(profile.settings, config_of(item), stored)


def content_sid_arg(value: str) -> str:
    if not CONTENT_SID.fullmatch(value):
        raise CliFailure("HX_SID: a template's SID is HX followed by 32 hexadecimal digits")
    return value


def status_of(approval: dict[str, Any]) -> str:
    return str(approval.get("status") or "unsubmitted")


def row(template: dict[str, Any], approval: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """What the list shows of one template; a name is masked as free text is."""
    name = str(template.get("friendly_name") or "")
    variables = template.get("variables") if isinstance(template.get("variables"), dict) else {}
    return {
        "sid": template.get("sid"),
        "name": name if profile.show_numbers else mask_numbers(name),
        "language": template.get("language"),
        "status": status_of(approval),
        "category": approval.get("category"),
        "variables": sorted(str(v) for v in variables or {}),
    }


# The SID is never cut nor left out; the variables fold, and go first on a narrow terminal.
TEMPLATE_COLUMNS = [
    Column("name", drop=4),
    Column("sid", identifier=True),
    Column("language", drop=2),
    Column("status", drop=5),
    Column("variables", breakable=True, drop=3),
]


@app.command("list")
def list_templates(
    ctx: typer.Context,
    tenant: str = TENANT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the account and each template as JSON."),
) -> None:
    """List the account's templates: name, HX SID, language, WhatsApp status and the variables
    each declares (only an approved template may be sent on WhatsApp)."""
    profile: Profile = ctx.obj
    account = account_of(profile, tenant)
    content = Content(profile, account)
    items = [row(t, content.approval(str(t.get("sid"))), profile) for t in content.templates()]
    items.sort(key=lambda item: (str(item["name"]).lower(), str(item["sid"])))
    if as_json:
        profile.print_json({"tenant": account.tenant, "account_sid": account.account_sid, "items": items})
        return
    cells = [[i["name"], str(i["sid"]), str(i["language"] or ""), i["status"], ", ".join(i["variables"]) or "(none)"] for i in items]
    approved = sum(1 for i in items if i["status"] == "approved")
    print_table(
        profile.console, TEMPLATE_COLUMNS, cells, f"templates of {account.account_sid} ({len(items)}, {approved} approved for WhatsApp)"
    )


@app.command("show")
def show_template(
    ctx: typer.Context,
    sid: str = typer.Argument(..., metavar="HX_SID", help="The template's SID (HX followed by 32 hexadecimal digits)."),
    tenant: str = TENANT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the template and its WhatsApp approval as JSON."),
) -> None:
    """Show one template: its WhatsApp approval, the variables it declares (with their sample
    values) and its content."""
    profile: Profile = ctx.obj
    wanted = content_sid_arg(sid)
    account = account_of(profile, tenant)
    content = Content(profile, account)
    template = content.template(wanted)
    if template is None:
        raise CliFailure(f"account {account.account_sid} has no template {wanted}")
    approval = content.approval(wanted)
    variables = template.get("variables") if isinstance(template.get("variables"), dict) else {}
    if as_json:
        profile.print_json({"tenant": account.tenant, "account_sid": account.account_sid, **template, "whatsapp": approval or None})
        return
    lines = [
        ("sid", str(template.get("sid"))),
        ("name", str(template.get("friendly_name") or "")),
        ("language", str(template.get("language") or "")),
        ("whatsapp status", status_of(approval)),
    ]
    for name in ("name", "category", "rejection_reason"):
        if approval.get(name):
            lines.append((f"whatsapp {name.replace('_', ' ')}", str(approval[name])))
    lines += [(f"variable {name}", f"sample {value!r}") for name, value in sorted((variables or {}).items())] or [("variables", "(none)")]
    for kind, body in sorted((template.get("types") or {}).items()):
        text = body.get("body") if isinstance(body, dict) else None
        lines.append((f"content {kind}", str(text) if text is not None else "(no body)"))
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        profile.console.print(f"{label:<{width}}  {value if profile.show_numbers else mask_numbers(value)}", markup=False, highlight=False)
