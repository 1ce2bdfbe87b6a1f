"""Settings: one typed object built once per cold start from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from carrier_core.errors import ConfigurationError

STAGES = ("local", "dev", "prod")
# The tenant every tenant-less route and setting serves (carrier_core.tenants).
DEFAULT_TENANT = "default"

# The running code's version, `<git describe> sha256:<zip hash>`: set by Terraform, or by
# `make dev` to the working tree's describe; read by carrier_core.version for GET /health.
SERVICE_VERSION_ENV = "SERVICE_VERSION"

# Documented in the README. They only ever apply to the local stage, where the
# Twilio sandbox checks them; a deployed stage without credentials fails at start.
LOCAL_ACCOUNT_SID = "AC00000000000000000000000000000000"
LOCAL_AUTH_TOKEN = "local-sandbox-auth-token-0000000"
LOCAL_DEFAULT_FROM = "+15005550006"
# The local stack's REST API key (devstack sets it; the sandbox accepts it).
LOCAL_API_KEY_SID = "SK00000000000000000000000000000000"
LOCAL_API_KEY_SECRET = "local-sandbox-api-key-secret-000"

# What each service must be told: the public URL Twilio signs for the webhook it serves,
# and, for outbound, the status URL it hands Twilio.
REQUIRED_URLS: dict[str, tuple[str, ...]] = {
    "inbound": ("INBOUND_WEBHOOK_URL",),
    "status": ("STATUS_WEBHOOK_URL",),
    "outbound": ("STATUS_WEBHOOK_URL",),
}

SecretReader = Callable[[str, str], str]

# Names the first version of this service documented, still read: alias -> canonical name.
# Setting both to different values is refused at start, naming both.
ALIASES: dict[str, str] = {
    "TWILIO_INBOUND_WEBHOOK_URL": "INBOUND_WEBHOOK_URL",
    "TWILIO_STATUS_CALLBACK_URL": "STATUS_WEBHOOK_URL",
}
API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class TwilioAccount:
    """One Twilio account as the carrier deals with it: who it is, the secrets Twilio signs
    webhooks and we authenticate REST calls with, its default sender, and the URLs Twilio
    calls. Every caller receives this one value: a deployment that serves several
    businesses holds one per business."""

    account_sid: str
    auth_token: str = field(repr=False)
    tenant: str = DEFAULT_TENANT
    secondary_auth_token: str | None = field(default=None, repr=False)
    api_key_sid: str | None = None
    api_key_secret: str | None = field(default=None, repr=False)
    webhook_shared_key: str | None = field(default=None, repr=False)
    default_from_number: str | None = None
    default_messaging_service_sid: str | None = None
    inbound_webhook_url: str | None = None
    status_webhook_url: str | None = None
    # What a tenant registered: the senders it may send from (none: any, the default tenant's
    # way) and the subaccounts whose webhooks its token signs.
    senders: frozenset[str] = frozenset()
    subaccounts: frozenset[str] = frozenset()

    def allows_sender(self, sender: str) -> bool:
        """Whether a send may use `sender` (a number, whatsapp: address or MG SID)."""
        return not self.senders or sender in self.senders

    def owns_account(self, account_sid: str | None) -> bool:
        """Whether a webhook naming `account_sid` belongs to this account (or a subaccount)."""
        return account_sid == self.account_sid or account_sid in self.subaccounts

    @property
    def media_credentials(self) -> tuple[str, str]:
        """Basic-auth user and password for Twilio's media URLs: the REST credentials."""
        return self.rest_credentials

    @property
    def rest_credentials(self) -> tuple[str, str]:
        """Who REST calls authenticate as: the API key when one is set, else the account."""
        if self.api_key_sid and self.api_key_secret:
            return (self.api_key_sid, self.api_key_secret)
        return (self.account_sid, self.auth_token)

    @property
    def auth_tokens(self) -> tuple[str, ...]:
        """The tokens a webhook signature may be made with, primary first."""
        if self.secondary_auth_token:
            return (self.auth_token, self.secondary_auth_token)
        return (self.auth_token,)

    @property
    def webhook_shared_keys(self) -> tuple[str, ...]:
        """The SharedKey secrets a webhook signed with X-Twilio-Webhooks-Signature-Settings may use."""
        return (self.webhook_shared_key,) if self.webhook_shared_key else ()


@dataclass(frozen=True)
class Settings:
    """Everything a service reads from its environment; the Twilio account's part is `account`."""

    service: str
    stage: str
    region: str
    messages_table: str
    failed_messages_table: str
    optouts_table: str
    dynamodb_endpoint: str | None
    account: TwilioAccount
    twilio_api_base_url: str | None = None
    # Twilio's Content API origin (templates); locally the sandbox. None: content.twilio.com,
    # or twilio_api_base_url when that names a stand-in for Twilio.
    twilio_content_api_base_url: str | None = None
    message_retention_days: int = 400
    idempotency_table: str = ""
    tenants_table: str = ""
    # The SSM path holding each tenant's secrets: <prefix><tenant>/auth-token and so on.
    tenant_parameter_prefix: str = ""
    event_bus_name: str = ""
    events_dlq_name: str = ""
    # ---- media (carrier_core.media; outbound's chalicelib/media) ----
    media_bucket: str = ""
    media_link_seconds: int = 300
    media_not_ready_seconds: float = 4.0
    # The whole time one inbound item may take, waits for a 404 included.
    media_item_seconds: float = 10.0
    delete_twilio_media: bool = False
    # Outbound media_urls resolving to private, loopback, link-local or metadata addresses
    # are refused; on in every stage but local, where tests turn it on.
    ssrf_guard: bool = True

    @property
    def is_local(self) -> bool:
        return self.stage == "local"

    @classmethod
    def from_env(
        cls,
        service: str,
        environ: Mapping[str, str] | None = None,
        read_secret: SecretReader | None = None,
    ) -> Settings:
        """Read the settings of `service`; a missing required one raises ConfigurationError."""
        env = _resolve_aliases(os.environ if environ is None else environ)
        stage = _required(env, "STAGE")
        if stage not in STAGES:
            raise ConfigurationError(f"STAGE must be one of {', '.join(STAGES)}, not {stage!r}")
        local = stage == "local"
        urls = {name: env.get(name) or None for name in ("INBOUND_WEBHOOK_URL", "STATUS_WEBHOOK_URL")}
        for name in REQUIRED_URLS.get(service, ()):
            if not urls[name]:
                raise ConfigurationError(f"{name} is not set: the public URL Twilio uses")
        endpoint = env.get("DYNAMODB_ENDPOINT") or None
        if local and not endpoint:
            raise ConfigurationError("DYNAMODB_ENDPOINT is not set: the local stage needs DynamoDB Local")
        reader = read_secret or _read_ssm_parameter
        primary, secondary = _auth_tokens(env, local, reader)
        api_key_sid, api_key_secret = _api_key(env, reader)
        service_sid = env.get("TWILIO_MESSAGING_SERVICE_SID") or None
        if service_sid is not None and not MESSAGING_SERVICE_SID.match(service_sid):
            raise ConfigurationError("TWILIO_MESSAGING_SERVICE_SID must be MG followed by 32 hexadecimal digits")
        prefix = f"omni-twilio-{stage}"
        return cls(
            service=service,
            stage=stage,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            messages_table=env.get("MESSAGES_TABLE") or f"{prefix}-messages",
            failed_messages_table=env.get("FAILED_MESSAGES_TABLE") or f"{prefix}-failed-messages",
            optouts_table=env.get("OPTOUTS_TABLE") or f"{prefix}-optouts",
            dynamodb_endpoint=endpoint,
            account=TwilioAccount(
                account_sid=env.get("TWILIO_ACCOUNT_SID") or (LOCAL_ACCOUNT_SID if local else _required(env, "TWILIO_ACCOUNT_SID")),
                auth_token=primary,
                secondary_auth_token=secondary,
                api_key_sid=api_key_sid,
                api_key_secret=api_key_secret,
                webhook_shared_key=_optional_secret(env, "TWILIO_WEBHOOK_SHARED_KEY", "TWILIO_WEBHOOK_SHARED_KEY_PARAMETER", reader),
                default_from_number=env.get("TWILIO_DEFAULT_FROM_NUMBER") or (LOCAL_DEFAULT_FROM if local else None),
                default_messaging_service_sid=service_sid,
                inbound_webhook_url=urls["INBOUND_WEBHOOK_URL"],
                status_webhook_url=urls["STATUS_WEBHOOK_URL"],
            ),
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or None,
            twilio_content_api_base_url=env.get("TWILIO_CONTENT_API_BASE_URL") or None,
            message_retention_days=_positive_int(env, "MESSAGE_RETENTION_DAYS", 400),
            idempotency_table=env.get("IDEMPOTENCY_TABLE") or f"{prefix}-idempotency",
            tenants_table=env.get("TENANTS_TABLE") or f"{prefix}-tenants",
            tenant_parameter_prefix=_parameter_prefix(env.get("TENANT_PARAMETER_PREFIX") or f"/omni-twilio/{stage}/tenants/"),
            event_bus_name=env.get("EVENT_BUS_NAME") or f"{prefix}-events",
            events_dlq_name=env.get("EVENTS_DLQ_NAME") or f"{prefix}-events-dlq",
            media_bucket=env.get("MEDIA_BUCKET") or f"{prefix}-media",
            media_link_seconds=_positive_int(env, "MEDIA_LINK_SECONDS", 300),
            media_not_ready_seconds=float(_positive_int(env, "MEDIA_NOT_READY_SECONDS", 4)),
            media_item_seconds=float(_positive_int(env, "MEDIA_ITEM_SECONDS", 10)),
            delete_twilio_media=_flag(env, "DELETE_TWILIO_MEDIA", False),
            ssrf_guard=_flag(env, "MEDIA_SSRF_GUARD", not local),
        )


def _parameter_prefix(value: str) -> str:
    """An SSM path prefix: absolute, ending in a slash."""
    if not value.startswith("/"):
        raise ConfigurationError(f"TENANT_PARAMETER_PREFIX must be an absolute SSM path, not {value!r}")
    return value if value.endswith("/") else value + "/"


def _resolve_aliases(env: Mapping[str, str]) -> Mapping[str, str]:
    """`env` with each alias copied to its canonical name; a conflicting pair raises."""
    resolved = dict(env)
    for alias, canonical in ALIASES.items():
        alias_value, canonical_value = env.get(alias) or None, env.get(canonical) or None
        if alias_value and canonical_value and alias_value != canonical_value:
            raise ConfigurationError(f"{alias} and {canonical} are both set, to different values; set one of them")
        if alias_value and not canonical_value:
            resolved[canonical] = alias_value
    return resolved


def _api_key(env: Mapping[str, str], read_secret: SecretReader) -> tuple[str | None, str | None]:
    """The REST API key: TWILIO_API_KEY_SID with its secret from the environment or SSM.

    Both or neither: a key without its secret (or the reverse) is a mistake worth failing
    the start for, not a silent fall back to the auth token.
    """
    sid = env.get("TWILIO_API_KEY_SID") or None
    secret = env.get("TWILIO_API_KEY_SECRET") or None
    parameter = env.get("TWILIO_API_KEY_SECRET_PARAMETER") or None
    if sid is None:
        # The parameter's name alone is deployment wiring (every deployed outbound stage
        # names it); the SID switches the key on, and only then is the secret read.
        if secret:
            raise ConfigurationError("TWILIO_API_KEY_SECRET is set but TWILIO_API_KEY_SID is not")
        return None, None
    if not API_KEY_SID.match(sid):
        raise ConfigurationError("TWILIO_API_KEY_SID must be SK followed by 32 hexadecimal digits")
    if secret is None and parameter:
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        secret = read_secret(parameter, region) or None
    if secret is None:
        raise ConfigurationError("TWILIO_API_KEY_SID is set but neither TWILIO_API_KEY_SECRET nor TWILIO_API_KEY_SECRET_PARAMETER is")
    return sid, secret


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0"):
        raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
    return raw in ("true", "1")


def _auth_tokens(env: Mapping[str, str], local: bool, read_secret: SecretReader) -> tuple[str, str | None]:
    """Primary and secondary auth token: from the environment, else SSM SecureString parameters.

    Deployed stages keep the token in SSM (TWILIO_AUTH_TOKEN_PARAMETER names it), read
    once per cold start; the plain variable is for the local stage and tests.
    """
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    primary = env.get("TWILIO_AUTH_TOKEN") or None
    if primary is None and env.get("TWILIO_AUTH_TOKEN_PARAMETER"):
        primary = read_secret(env["TWILIO_AUTH_TOKEN_PARAMETER"], region)
    if primary is None:
        if not local:
            raise ConfigurationError("TWILIO_AUTH_TOKEN_PARAMETER (or TWILIO_AUTH_TOKEN) is not set")
        primary = LOCAL_AUTH_TOKEN
    secondary = env.get("TWILIO_AUTH_TOKEN_SECONDARY") or None
    if secondary is None and env.get("TWILIO_AUTH_TOKEN_SECONDARY_PARAMETER"):
        secondary = read_secret(env["TWILIO_AUTH_TOKEN_SECONDARY_PARAMETER"], region) or None
    return primary, secondary


def _optional_secret(env: Mapping[str, str], name: str, parameter_name: str, read_secret: SecretReader) -> str | None:
    """`name` from the environment, else the SSM parameter `parameter_name` names, else None."""
    if env.get(name):
        return env[name]
    parameter = env.get(parameter_name)
    if not parameter:
        return None
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return read_secret(parameter, region) or None


def _read_ssm_parameter(name: str, region: str) -> str:
    """One decrypted SSM parameter, through botocore (already loaded by pynamodb)."""
    import botocore.session  # deferred: only deployed stages pay for it

    client = botocore.session.get_session().create_client("ssm", region_name=region)
    try:
        response = client.get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:  # any failure here means the service cannot start
        raise ConfigurationError(f"cannot read SSM parameter {name}: {type(exc).__name__}") from exc
    return str(response["Parameter"]["Value"])
