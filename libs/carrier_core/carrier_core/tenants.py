"""Tenants: the businesses one deployment serves, each on its own Twilio account.

A tenant is chosen from the request's path (`/twilio/{tenant}/inbound`,
`/tenants/{tenant}/messages`), never from the body: a webhook's body is only trusted once
its signature is checked, and the key to check it with is the tenant's.

Where a tenant lives:
- its configuration (account SID, API key SID, senders, subaccounts) in the tenants table;
- its secrets (auth token, the secondary token kept through a rotation, the API key's
  secret) in SSM Parameter Store SecureStrings `<TENANT_PARAMETER_PREFIX><tenant>/<name>`,
  never in the table, a log line or an event.

The tenant `default` is the deployment's own account, from the environment, exactly as
before tenants existed: the tenant-less routes serve it and its data carries no tenant
prefix, so what was stored before reads the same.

A container caches each tenant for CACHE_SECONDS, so a warm webhook reads nothing beyond
its one write. A webhook whose signature fails re-reads its tenant once (a token rotated
since the cache filled), at most once per REFRESH_SECONDS per tenant, so a flood of forged
requests costs at most one SSM read per tenant per REFRESH_SECONDS. An unknown tenant is
remembered as unknown for UNKNOWN_SECONDS; at most MAX_CACHED tenants are held.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pynamodb.exceptions import GetError

from carrier_core.errors import AccountMismatch, InvalidSignature, SenderNotAllowed, StorageUnavailable, TenantNotFound
from carrier_core.signature import FormPairs
from carrier_core.settings import DEFAULT_TENANT, MESSAGING_SERVICE_SID, Settings, TwilioAccount
from carrier_core.logs import append_keys
from carrier_core.webhook import loggable_url, read_webhook
from carrier_core.storage import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, storage_error

log = logging.getLogger(__name__)

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
# Keys of the tenants table that are not tenants (the reconciler's checkpoints) start with
# this: no tenant id can, since TENANT_ID admits neither "#" nor "/".
RESERVED_KEY_PREFIX = "#"
CACHE_SECONDS = 300.0
REFRESH_SECONDS = 10.0
UNKNOWN_SECONDS = 60.0
MAX_CACHED = 1024

# The SecureStrings of a tenant, by parameter name under its path.
AUTH_TOKEN, SECONDARY_AUTH_TOKEN, API_KEY_SECRET = "auth-token", "secondary-auth-token", "api-key-secret"
SECRET_NAMES = (AUTH_TOKEN, SECONDARY_AUTH_TOKEN, API_KEY_SECRET)


def is_tenant_id(value: str) -> bool:
    return bool(TENANT_ID.fullmatch(value))


def scoped(tenant: str, key: str) -> str:
    """A key that is the tenant's alone: `<tenant>/<key>`; the default tenant's keys are bare.

    Tenant ids have no "/", and nothing scoped this way (senders, Idempotency-Keys of
    tenants) is ever compared with a bare key of another tenant, so no two tenants share one.
    """
    return key if tenant == DEFAULT_TENANT else f"{tenant}/{key}"


def unscoped(tenant: str, key: str) -> str:
    """The key `scoped` was given."""
    prefix = f"{tenant}/"
    return key[len(prefix) :] if tenant != DEFAULT_TENANT and key.startswith(prefix) else key


def tenant_of(stored: str | None) -> str:
    """The tenant an item belongs to: its `tenant` attribute, absent for the default tenant."""
    return stored or DEFAULT_TENANT


def stored_tenant(tenant: str) -> str | None:
    """What an item stores as its tenant: nothing for the default tenant."""
    return None if tenant == DEFAULT_TENANT else tenant


def webhook_url(public_url: str | None, tenant: str, kind: str) -> str | None:
    """The URL Twilio signs for a tenant's webhook: the configured URL with its
    `/twilio/<kind>` made `/twilio/<tenant>/<kind>`, any path before it kept (API Gateway's
    `/<stage>`), its query dropped (it is the tenant-less route's own)."""
    if not public_url:
        return None
    parts = urlsplit(public_url)
    base, found, _ = parts.path.rpartition("/twilio/")
    return urlunsplit((parts.scheme, parts.netloc, f"{base if found else ''}/twilio/{tenant}/{kind}", "", ""))


def parameter_name(settings: Settings, tenant: str, secret: str) -> str:
    return f"{settings.tenant_parameter_prefix}{tenant}/{secret}"


@dataclass(frozen=True)
class TenantConfig:
    """What the tenants table holds of a tenant (no secrets)."""

    tenant: str
    account_sid: str
    api_key_sid: str | None
    senders: frozenset[str]
    subaccounts: frozenset[str]


def account_for(settings: Settings, config: TenantConfig, secrets: dict[str, str]) -> TwilioAccount:
    """The tenant's TwilioAccount: its credentials, its senders, its webhook URLs."""
    base = settings.account
    numbers = sorted(s.partition(":")[2] if s.startswith("whatsapp:") else s for s in config.senders if not MESSAGING_SERVICE_SID.match(s))
    services = sorted(s for s in config.senders if MESSAGING_SERVICE_SID.match(s))
    return TwilioAccount(
        tenant=config.tenant,
        account_sid=config.account_sid,
        auth_token=secrets[AUTH_TOKEN],
        secondary_auth_token=secrets.get(SECONDARY_AUTH_TOKEN) or None,
        api_key_sid=config.api_key_sid if secrets.get(API_KEY_SECRET) else None,
        api_key_secret=secrets.get(API_KEY_SECRET) or None,
        default_from_number=numbers[0] if numbers else None,
        default_messaging_service_sid=services[0] if services else None,
        inbound_webhook_url=webhook_url(base.inbound_webhook_url, config.tenant, "inbound"),
        status_webhook_url=webhook_url(base.status_webhook_url, config.tenant, "status"),
        senders=config.senders,
        subaccounts=config.subaccounts,
    )


def default_account(settings: Settings) -> TwilioAccount:
    """The default tenant on its tenant route: the environment's account, tenant URLs."""
    base = settings.account
    return dataclasses.replace(
        base,
        inbound_webhook_url=webhook_url(base.inbound_webhook_url, DEFAULT_TENANT, "inbound"),
        status_webhook_url=webhook_url(base.status_webhook_url, DEFAULT_TENANT, "status"),
    )


Loader = Callable[[str], "TwilioAccount | None"]


class TenantDirectory:
    """Each tenant's TwilioAccount, read once and cached per container (see the module doc)."""

    def __init__(self, settings: Settings, load: Loader | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._load = load or StoredTenants(settings).load
        self._clock = clock
        self._lock = threading.Lock()
        # tenant -> (read at, account or None for unknown)
        self._cache: OrderedDict[str, tuple[float, TwilioAccount | None]] = OrderedDict()
        self.reads = 0

    def account(self, tenant: str) -> TwilioAccount | None:
        """The tenant's account, None when no such tenant is registered."""
        if tenant == DEFAULT_TENANT:
            return default_account(self.settings)
        if not is_tenant_id(tenant):
            return None
        now = self._clock()
        with self._lock:
            cached = self._cache.get(tenant)
        if cached is not None:
            read_at, account = cached
            if now - read_at < (CACHE_SECONDS if account is not None else UNKNOWN_SECONDS):
                return account
        return self._read(tenant, now)

    def refresh(self, tenant: str) -> TwilioAccount | None:
        """The tenant re-read, after its cached token failed a signature; None when the last
        read is younger than REFRESH_SECONDS (nothing new to learn) or the tenant is unknown."""
        if tenant == DEFAULT_TENANT or not is_tenant_id(tenant):
            return None
        now = self._clock()
        with self._lock:
            cached = self._cache.get(tenant)
        if cached is not None and now - cached[0] < REFRESH_SECONDS:
            return None
        return self._read(tenant, now)

    def _read(self, tenant: str, now: float) -> TwilioAccount | None:
        account = self._load(tenant)
        with self._lock:
            self.reads += 1
            self._cache[tenant] = (now, account)
            self._cache.move_to_end(tenant)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return account

    def settings_for(self, tenant: str) -> Settings:
        """The settings a tenant's API request runs with; TenantNotFound for an unknown one."""
        if tenant == DEFAULT_TENANT:
            return self.settings
        account = self.account(tenant)
        if account is None:
            raise TenantNotFound(f"no tenant {tenant!r} is registered")
        return dataclasses.replace(self.settings, account=account)


class StoredTenants:
    """Reads a tenant: one GetItem on the tenants table, one GetParameters for its secrets.

    Each is tried once with the storage timeouts and no retry (3 s at worst), so a cold
    tenant's webhook, its two reads and its one write together stay inside Twilio's 15 s.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._ssm: Any = None

    def load(self, tenant: str) -> TwilioAccount | None:
        config = self.config(tenant)
        if config is None:
            return None
        return account_for(self.settings, config, self.secrets(tenant))

    def config(self, tenant: str) -> TenantConfig | None:
        from carrier_core.models import TenantModel

        try:
            item = TenantModel.get(tenant)
        except TenantModel.DoesNotExist:
            return None
        except GetError as exc:
            raise storage_error(exc) from exc
        return config_of(item)

    def secrets(self, tenant: str) -> dict[str, str]:
        names = {parameter_name(self.settings, tenant, secret): secret for secret in SECRET_NAMES}
        try:
            response = self.ssm().get_parameters(Names=list(names), WithDecryption=True)
        except Exception as exc:  # botocore's errors: the secrets cannot be read now, maybe later
            log.warning("tenant secrets unreadable", extra={"tenant": tenant, "error": type(exc).__name__})
            raise StorageUnavailable("the tenant's credentials cannot be read") from exc
        found = {names[p["Name"]]: str(p["Value"]) for p in response.get("Parameters", []) if p.get("Name") in names}
        if AUTH_TOKEN not in found:
            # Registered without a token: nothing it sends can be checked; an operator must fix it.
            log.error("tenant has no auth token", extra={"tenant": tenant})
            raise StorageUnavailable("the tenant's credentials are incomplete")
        return found

    def ssm(self) -> Any:
        if self._ssm is None:
            import botocore.config
            import botocore.session

            config = botocore.config.Config(
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                read_timeout=READ_TIMEOUT_SECONDS,
                retries={"total_max_attempts": 1},
            )
            # Locally AWS_ENDPOINT_URL_SSM points it at the stack's moto server.
            self._ssm = botocore.session.get_session().create_client("ssm", region_name=self.settings.region, config=config)
        return self._ssm


def config_of(item: Any) -> TenantConfig:
    """A TenantModel item as a TenantConfig."""
    return TenantConfig(
        tenant=str(item.tenant),
        account_sid=str(item.account_sid),
        api_key_sid=item.api_key_sid or None,
        senders=frozenset(item.senders or ()),
        subaccounts=frozenset(item.subaccounts or ()),
    )


# ---- webhooks ------------------------------------------------------------------


def read_tenant_webhook(
    directory: TenantDirectory,
    tenant: str,
    read: Callable[[TwilioAccount], FormPairs],
) -> tuple[TwilioAccount, FormPairs]:
    """Check a tenant's webhook with the tenant's secrets: its account and its form.

    An unknown tenant answers exactly as a bad signature does, so tenants cannot be
    enumerated. A failed signature re-reads the tenant once (a rotated token) before it
    stands. A signed form naming an account that is not the tenant's (nor one of its
    subaccounts) is AccountMismatch: the token is the tenant's, the message is not.
    """
    account = directory.account(tenant)
    if account is None:
        raise InvalidSignature("X-Twilio-Signature does not match the request")
    try:
        form = read(account)
    except InvalidSignature:
        fresh = directory.refresh(tenant)
        if fresh is None:
            raise
        account = fresh
        form = read(account)
    if not account.owns_account(dict(form).get("AccountSid")):
        raise AccountMismatch("the webhook's AccountSid is not this tenant's Twilio account")
    return account, form


def read_routed_webhook(directory: TenantDirectory, tenant: str | None, request: Any, kind: str) -> tuple[TwilioAccount, FormPairs]:
    """A webhook's account and form: `tenant` None for the tenant-less route (the environment's
    account, as before tenants), else the tenant's, read as read_tenant_webhook does. `kind`:
    "inbound" or "status", whose URL Twilio signed."""

    checked: list[str | None] = [None]

    def read(account: TwilioAccount) -> FormPairs:
        url = account.inbound_webhook_url if kind == "inbound" else account.status_webhook_url
        checked[0] = url
        return read_webhook(request, account.auth_tokens, url, account.webhook_shared_keys)

    try:
        if tenant is None:
            account = directory.settings.account
            return account, read(account)
        append_keys(tenant=tenant)
        return read_tenant_webhook(directory, tenant, read)
    except InvalidSignature:
        # Only on failure, so the hot path pays nothing. A signature made for another URL
        # (a tunnel, a proxy's host) is the usual cause: the log says which URL was checked,
        # never the token or the signature. None: the tenant is unknown, nothing was checked.
        log.warning("webhook signature refused", extra={"webhook": kind, "checked_url": loggable_url(checked[0])})
        raise


def check_sender(account: TwilioAccount, senders: Iterable[str]) -> None:
    """SenderNotAllowed unless the tenant registered every one of `senders`."""
    for sender in senders:
        if not account.allows_sender(sender):
            raise SenderNotAllowed("the sender is not registered for this tenant")


def tenant_or_404(tenant: str) -> str:
    """The path's tenant id when it is one; TenantNotFound otherwise."""
    if tenant != DEFAULT_TENANT and not is_tenant_id(tenant):
        raise TenantNotFound("no such tenant")
    return tenant
