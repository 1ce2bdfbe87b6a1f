"""Which URLs Twilio signs and which Twilio the outbound service talks to, for `make dev`.

By default everything is local: webhooks are checked against the services' own addresses
and sends go to the sandbox with the documented local credentials. Two settings change
that for a developer with a real Twilio number:

- `PUBLIC_URL=https://…` (a tunnel): the inbound and status URLs become
  `PUBLIC_URL/twilio/inbound` and `PUBLIC_URL/twilio/status` (tenant routes are derived from
  them by carrier_core.tenants.webhook_url), and sends hand Twilio that status URL.
- `TWILIO=real`: the outbound service talks to api.twilio.com with TWILIO_ACCOUNT_SID and
  TWILIO_AUTH_TOKEN from the environment (and TWILIO_API_KEY_SID/SECRET when set), never the
  sandbox's local defaults. Never the default.

An explicit INBOUND_WEBHOOK_URL, STATUS_WEBHOOK_URL, TWILIO_API_BASE_URL or
TWILIO_CONTENT_API_BASE_URL in the environment wins over both the local default and what
PUBLIC_URL derives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_API_KEY_SECRET, LOCAL_API_KEY_SID, LOCAL_AUTH_TOKEN

SANDBOX, REAL = "sandbox", "real"
REAL_TWILIO = "https://api.twilio.com"
URL_SETTINGS = ("INBOUND_WEBHOOK_URL", "STATUS_WEBHOOK_URL", "TWILIO_API_BASE_URL", "TWILIO_CONTENT_API_BASE_URL")
# The settings that name Twilio itself: absent with TWILIO=real, so the SDK's own hosts are used.
TWILIO_URLS = ("TWILIO_API_BASE_URL", "TWILIO_CONTENT_API_BASE_URL")


class WiringError(RuntimeError):
    """The environment asks for something `make dev` cannot do; the message is one line."""


@dataclass(frozen=True)
class Wiring:
    """The URL settings the services run with, where each came from, and which Twilio."""

    twilio: str
    urls: Mapping[str, str]  # INBOUND_WEBHOOK_URL, STATUS_WEBHOOK_URL, and the TWILIO_URLS unless real
    origins: Mapping[str, str]  # per setting: "local", "PUBLIC_URL" or "environment"
    public_url: str | None = None

    def env(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The variables to set over `environ` for every part; TWILIO_API_BASE_URL left out
        for real Twilio (the SDK's own https://api.twilio.com), the local API key only for
        the sandbox."""
        env = dict(self.urls)
        if self.twilio == SANDBOX and not environ.get("TWILIO_API_KEY_SID"):
            # REST calls use an API key, as Twilio advises and deployed stages can; the
            # sandbox accepts the same key. Your own pair in the environment wins.
            env.update(TWILIO_API_KEY_SID=LOCAL_API_KEY_SID, TWILIO_API_KEY_SECRET=LOCAL_API_KEY_SECRET)
        return env

    @property
    def api_base_url(self) -> str:
        return self.urls.get("TWILIO_API_BASE_URL", REAL_TWILIO)

    def rows(self) -> list[tuple[str, str]]:
        """The banner's rows: what is used and why."""
        twilio = "real Twilio (TWILIO=real)" if self.twilio == REAL else "the local sandbox"
        rows = [("Twilio API", f"{self.api_base_url}  {twilio}{self._why('TWILIO_API_BASE_URL')}")]
        rows += [
            ("inbound webhook URL", self.urls["INBOUND_WEBHOOK_URL"] + self._why("INBOUND_WEBHOOK_URL")),
            ("status callback URL", self.urls["STATUS_WEBHOOK_URL"] + self._why("STATUS_WEBHOOK_URL")),
        ]
        return rows

    def _why(self, name: str) -> str:
        origin = self.origins.get(name)
        if origin == "environment":
            return f"  (from {name})"
        if origin == "PUBLIC_URL":
            return f"  (from PUBLIC_URL={self.public_url}; signatures are checked against it)"
        return ""


def wiring_for(environ: Mapping[str, str], local: Mapping[str, str]) -> Wiring:
    """The wiring `environ` asks for over the `local` defaults (the layout's addresses);
    raises WiringError with one line when it cannot be honoured."""
    mode = (environ.get("TWILIO") or SANDBOX).strip().lower()
    if mode not in (SANDBOX, REAL):
        raise WiringError(f"TWILIO={environ.get('TWILIO')!r} is not one of {SANDBOX}, {REAL}")
    public_url = (environ.get("PUBLIC_URL") or "").strip().rstrip("/") or None
    derived: dict[str, str] = {}
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise WiringError(f"PUBLIC_URL must be a base URL such as https://my-tunnel.example.app, got {public_url!r}")
        derived = {"INBOUND_WEBHOOK_URL": public_url + "/twilio/inbound", "STATUS_WEBHOOK_URL": public_url + "/twilio/status"}
    urls: dict[str, str] = {}
    origins: dict[str, str] = {}
    for name in URL_SETTINGS:
        if environ.get(name):
            urls[name], origins[name] = environ[name], "environment"
        elif name in derived:
            urls[name], origins[name] = derived[name], "PUBLIC_URL"
        elif name in TWILIO_URLS and mode == REAL:
            origins[name] = "real"
        else:
            urls[name], origins[name] = local[name], "local"
    if mode == REAL:
        check_real_credentials(environ)
    return Wiring(mode, urls, origins, public_url)


def check_real_credentials(environ: Mapping[str, str]) -> None:
    """TWILIO=real needs the account's own SID and auth token, never the sandbox's defaults."""
    sid, token = environ.get("TWILIO_ACCOUNT_SID", ""), environ.get("TWILIO_AUTH_TOKEN", "")
    if not sid or not token:
        raise WiringError("TWILIO=real needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN of your Twilio account in the environment")
    if sid == LOCAL_ACCOUNT_SID or token == LOCAL_AUTH_TOKEN or environ.get("TWILIO_API_KEY_SID") == LOCAL_API_KEY_SID:
        raise WiringError("TWILIO=real refuses the local sandbox's default credentials: set your Twilio account's own")
