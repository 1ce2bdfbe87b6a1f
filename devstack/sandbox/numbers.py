"""Phone numbers and Messaging Services: where Twilio sends an account's messaging webhooks.

The subset of two Twilio resources that pointing webhooks at a deployment needs, per hosted
account, shaped as Twilio's OpenAPI specs have them:
- IncomingPhoneNumber (api v2010, `/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers…`),
  authenticated as the path's account like the Messages routes;
- Messaging v1 Service (`https://messaging.twilio.com/v1/Services…`, served here under the
  sandbox's own origin), authenticated as whoever the credentials name: an account SID and
  its token, or an API key SID and its secret, each seeing its own account's services.

The sandbox keeps what these routes set; it does not (yet) deliver inbound messages to a
number's `sms_url` or a service's `inbound_request_url` by itself. Fields the spec marks
nullable and Twilio often answers as "" (an unset URL or application SID) are null here,
which is what the spec's schema allows; a client should read both as unset.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from devstack.sandbox import errors
from devstack.sandbox.errors import TwilioApiError, invalid
from devstack.sandbox.messages import API_VERSION, E164, _is_http_url, rfc2822

Form = Mapping[str, Sequence[str]]

NUMBERS = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers\.json$")
NUMBER = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers/(?P<sid>[^/]+)\.json$")
SERVICES = "/v1/Services"
SERVICE = re.compile(r"^/v1/Services/(?P<sid>[^/]+)$")

APPLICATION_SID = re.compile(r"^AP[0-9a-fA-F]{32}$")
# `PhoneNumber` filters a list by a whole or partial number, `*` standing for any one digit.
NUMBER_PATTERN = re.compile(r"^\+?[0-9*]{1,15}$")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_FRIENDLY_NAME = 64
MAX_VALIDITY_PERIOD = 36000
METHODS = ("GET", "POST")

# What an update (or a create) of each resource may set, by form name. Twilio accepts more
# (voice receive mode, emergency addresses, bundles, sending windows, ...): the sandbox
# ignores any other field, as it does on Messages.
NUMBER_URLS = ("SmsUrl", "SmsFallbackUrl", "StatusCallback", "VoiceUrl", "VoiceFallbackUrl")
NUMBER_METHODS = ("SmsMethod", "SmsFallbackMethod", "StatusCallbackMethod", "VoiceMethod", "VoiceFallbackMethod")
SERVICE_URLS = ("InboundRequestUrl", "FallbackUrl", "StatusCallback")
SERVICE_METHODS = ("InboundMethod", "FallbackMethod")
SERVICE_FLAGS = (
    "StickySender",
    "MmsConverter",
    "SmartEncoding",
    "FallbackToLongCode",
    "AreaCodeGeomatch",
    "SynchronousValidation",
    "UseInboundWebhookOnNumber",
)
SCAN_MESSAGE_CONTENT = ("inherit", "enable", "disable")
# Twilio's error for a webhook URL that is not one: https://www.twilio.com/docs/api/errors/21502
INVALID_URL = 21502


def snake(name: str) -> str:
    """A form field's name as the resource spells it: `SmsUrl` → `sms_url`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    """Messaging v1's dates: ISO 8601 in UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def friendly(number: str) -> str:
    """How Twilio names a number by default: `(500) 555-0006` for a North American one."""
    if re.fullmatch(r"\+1[0-9]{10}", number):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


@dataclass
class IncomingNumber:
    """One number an account owns, with its messaging and voice settings."""

    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    created: datetime
    updated: datetime
    # By resource field (`sms_url`, ...): None is unset.
    settings: dict[str, Any] = field(default_factory=dict)

    def resource(self) -> dict[str, Any]:
        """The `api.v2010.account.incoming_phone_number` resource, every field of the spec."""
        unset_urls = {snake(name): None for name in NUMBER_URLS}
        methods = {snake(name): "POST" for name in NUMBER_METHODS}
        return {
            "account_sid": self.account_sid,
            "address_sid": None,
            "address_requirements": "none",
            "api_version": API_VERSION,
            "beta": False,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(self.updated),
            "friendly_name": self.friendly_name,
            "identity_sid": None,
            "phone_number": self.phone_number,
            "origin": "twilio",
            "sid": self.sid,
            "sms_application_sid": None,
            "trunk_sid": None,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{self.sid}.json",
            "voice_receive_mode": "voice",
            "voice_application_sid": None,
            "voice_caller_id_lookup": False,
            "emergency_status": "Inactive",
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "bundle_sid": None,
            "status": "in-use",
            **unset_urls,
            **methods,
            **self.settings,
        }


@dataclass
class Service:
    """One Messaging Service of an account."""

    sid: str
    account_sid: str
    created: datetime
    updated: datetime
    settings: dict[str, Any]

    def resource(self, origin: str) -> dict[str, Any]:
        """The `messaging.v1.service` resource; its links are absolute under `origin`."""
        url = f"{origin}{SERVICES}/{self.sid}"
        links = {
            "phone_numbers": "PhoneNumbers",
            "short_codes": "ShortCodes",
            "alpha_senders": "AlphaSenders",
            "messages": "Messages",
            "us_app_to_person": "Compliance/Usa2p",
            "us_app_to_person_usecases": "Compliance/Usa2p/Usecases",
            "channel_senders": "ChannelSenders",
            "destination_alpha_senders": "DestinationAlphaSenders",
        }
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "date_created": _iso(self.created),
            "date_updated": _iso(self.updated),
            "us_app_to_person_registered": False,
            "url": url,
            "links": {name: f"{url}/{part}" for name, part in links.items()},
            **self.settings,
        }


def new_service_settings(friendly_name: str) -> dict[str, Any]:
    """A new service's settings: Twilio's defaults, inbound messages dropped until a URL is set."""
    return {
        "friendly_name": friendly_name,
        "inbound_request_url": None,
        "inbound_method": "POST",
        "fallback_url": None,
        "fallback_method": "POST",
        "status_callback": None,
        "sticky_sender": True,
        "mms_converter": True,
        "smart_encoding": True,
        "scan_message_content": "inherit",
        "fallback_to_long_code": False,
        "area_code_geomatch": True,
        "synchronous_validation": False,
        "validity_period": MAX_VALIDITY_PERIOD,
        "usecase": "undeclared",
        "use_inbound_webhook_on_number": False,
    }


def _first(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _url(name: str, value: str) -> str | None:
    """A webhook URL field: "" clears it; anything else must be an http(s) URL."""
    if value == "":
        return None
    if not _is_http_url(value):
        raise invalid(INVALID_URL, f"{name} is not a valid URL: {value[:200]}")
    return value


def _method(name: str, value: str) -> str:
    if value.upper() not in METHODS:
        raise invalid(20001, f"{name} must be GET or POST")
    return value.upper()


def _flag(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise invalid(20001, f"{name} must be true or false")
    return value.lower() == "true"


def _friendly_name(value: str) -> str:
    if len(value) > MAX_FRIENDLY_NAME:
        raise invalid(20001, f"FriendlyName must be at most {MAX_FRIENDLY_NAME} characters")
    return value


def number_changes(form: Form) -> dict[str, Any]:
    """The settings an IncomingPhoneNumber create or update sets, validated like Twilio."""
    changes: dict[str, Any] = {}
    for name in NUMBER_URLS:
        if (value := _first(form, name)) is not None:
            changes[snake(name)] = _url(name, value)
    for name in NUMBER_METHODS:
        if (value := _first(form, name)) is not None:
            changes[snake(name)] = _method(name, value)
    if (value := _first(form, "SmsApplicationSid")) is not None:
        if value and not APPLICATION_SID.match(value):
            raise invalid(20001, "SmsApplicationSid must be AP followed by 32 hex digits, or empty")
        changes["sms_application_sid"] = value or None
    if (value := _first(form, "FriendlyName")) is not None:
        changes["friendly_name"] = _friendly_name(value)
    return changes


def service_changes(form: Form) -> dict[str, Any]:
    """The settings a Messaging Service create or update sets, validated like Twilio."""
    changes: dict[str, Any] = {}
    for name in SERVICE_URLS:
        if (value := _first(form, name)) is not None:
            changes[snake(name)] = _url(name, value)
    for name in SERVICE_METHODS:
        if (value := _first(form, name)) is not None:
            changes[snake(name)] = _method(name, value)
    for name in SERVICE_FLAGS:
        if (value := _first(form, name)) is not None:
            changes[snake(name)] = _flag(name, value)
    if (value := _first(form, "ScanMessageContent")) is not None:
        if value not in SCAN_MESSAGE_CONTENT:
            raise invalid(20001, f"ScanMessageContent must be one of {', '.join(SCAN_MESSAGE_CONTENT)}")
        changes["scan_message_content"] = value
    if (value := _first(form, "ValidityPeriod")) is not None:
        if not value.isdigit() or not 1 <= int(value) <= MAX_VALIDITY_PERIOD:
            raise invalid(20001, f"ValidityPeriod must be a whole number from 1 to {MAX_VALIDITY_PERIOD}")
        changes["validity_period"] = int(value)
    if (value := _first(form, "Usecase")) is not None:
        changes["usecase"] = value
    if (value := _first(form, "FriendlyName")) is not None:
        changes["friendly_name"] = _friendly_name(value)
    return changes


@dataclass(frozen=True)
class Paging:
    """A list request's page: `PageSize` (1-1000, default 50), `Page` and the `PageToken`
    the next page's link carries (opaque to clients, as Twilio's is)."""

    size: int
    number: int

    @classmethod
    def from_query(cls, query: Form) -> Paging:
        return cls(_whole(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE), _whole(query, "Page", 0, 0, None))

    def chunk(self, items: list[Any]) -> tuple[list[Any], bool]:
        """This page's items, and whether it is the last page."""
        start = self.number * self.size
        return items[start : start + self.size], start + self.size >= len(items)

    def v1_page(self, found: list[Any], base: str, key: str) -> dict[str, Any]:
        """This page of `found` as the v1 APIs answer a list (Messaging's Services, the
        Content API): the items under `key`, and `meta` with the page links."""
        chunk, last = self.chunk(found)
        return {
            key: chunk,
            "meta": {
                "page": self.number,
                "page_size": self.size,
                "first_page_url": self.link(base, {}, 0),
                "previous_page_url": self.link(base, {}, self.number - 1) if self.number > 0 else None,
                "url": self.link(base, {}, self.number),
                "next_page_url": None if last else self.link(base, {}, self.number + 1),
                "key": key,
            },
        }

    def link(self, path: str, filters: Mapping[str, str], number: int) -> str:
        params: dict[str, str | int] = {**filters, "PageSize": self.size, "Page": number}
        if number > 0:
            params["PageToken"] = f"PA{number * self.size}"
        return f"{path}?{urlencode(params)}"


def _whole(query: Form, name: str, default: int, low: int, high: int | None) -> int:
    raw = _first(query, name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise invalid(20001, f"Invalid {name}: must be a whole number {bound}")
    return int(raw)


def number_matches(pattern: str, number: str) -> bool:
    """Whether `number` holds `pattern` (digits, `*` for any one digit), as Twilio filters."""
    digits = pattern.lstrip("+")
    regex = "".join("[0-9]" if c == "*" else re.escape(c) for c in digits)
    return re.search(regex, number.lstrip("+")) is not None


class Numbers:
    """Every hosted account's numbers and Messaging Services, by SID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbers: dict[str, IncomingNumber] = {}
        self._services: dict[str, Service] = {}

    # ---- IncomingPhoneNumbers ----

    def provision(self, account_sid: str, form: Form) -> dict[str, Any]:
        """POST IncomingPhoneNumbers.json: the account buys `PhoneNumber`. Any well-formed
        number no hosted account owns is available; AreaCode searches are not played."""
        number = _first(form, "PhoneNumber")
        if not number:
            raise invalid(21421, "A 'PhoneNumber' is required: the sandbox provisions a given number, not an AreaCode search")
        if not E164.match(number):
            raise invalid(21421, "PhoneNumber is invalid")
        changes = number_changes(form)
        now = _now()
        with self._lock:
            if any(n.phone_number == number for n in self._numbers.values()):
                raise invalid(21422, "PhoneNumber is not available")
            item = IncomingNumber(
                sid="PN" + secrets.token_hex(16),
                account_sid=account_sid,
                phone_number=number,
                friendly_name=changes.pop("friendly_name", friendly(number)),
                created=now,
                updated=now,
                settings=changes,
            )
            self._numbers[item.sid] = item
            return item.resource()

    def list_numbers(self, account_sid: str, path: str, query: Form) -> dict[str, Any]:
        """GET IncomingPhoneNumbers.json: the account's numbers, oldest first; filters
        `PhoneNumber` (whole or partial, `*` any digit) and `FriendlyName` (exact)."""
        paging = Paging.from_query(query)
        filters = {name: value for name in ("PhoneNumber", "FriendlyName") if (value := _first(query, name))}
        pattern = filters.get("PhoneNumber")
        if pattern is not None and not NUMBER_PATTERN.match(pattern):
            raise invalid(20001, "Invalid PhoneNumber: digits, an optional leading +, and * for any digit")
        with self._lock:
            found = [
                n.resource()
                for n in sorted(self._numbers.values(), key=lambda n: (n.created, n.sid))
                if n.account_sid == account_sid
                and (pattern is None or number_matches(pattern, n.phone_number))
                and ("FriendlyName" not in filters or n.friendly_name == filters["FriendlyName"])
            ]
        chunk, last = paging.chunk(found)
        start = paging.number * paging.size
        return {
            "incoming_phone_numbers": chunk,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
            "page": paging.number,
            "page_size": paging.size,
            "uri": paging.link(path, filters, paging.number),
            "first_page_uri": paging.link(path, filters, 0),
            "next_page_uri": None if last else paging.link(path, filters, paging.number + 1),
            "previous_page_uri": paging.link(path, filters, paging.number - 1) if paging.number > 0 else None,
        }

    def number(self, account_sid: str, sid: str, path: str) -> IncomingNumber:
        with self._lock:
            item = self._numbers.get(sid)
        if item is None or item.account_sid != account_sid:
            raise errors.not_found(path)
        return item

    def update_number(self, account_sid: str, sid: str, path: str, form: Form) -> dict[str, Any]:
        """POST IncomingPhoneNumbers/{Sid}.json: the fields given replace the number's."""
        changes = number_changes(form)
        item = self.number(account_sid, sid, path)
        with self._lock:
            if "friendly_name" in changes:
                item.friendly_name = changes.pop("friendly_name")
            item.settings.update(changes)
            item.updated = _now()
            return item.resource()

    def find_number(self, account_sid: str, phone_number: str) -> dict[str, Any] | None:
        """The resource of the account's number `phone_number` (whole), or None."""
        with self._lock:
            item = next((n for n in self._numbers.values() if n.account_sid == account_sid and n.phone_number == phone_number), None)
            return item.resource() if item else None

    # ---- Messaging Services ----

    def create_service(self, account_sid: str, form: Form, origin: str) -> dict[str, Any]:
        """POST /v1/Services: FriendlyName is required."""
        name = _first(form, "FriendlyName")
        if not name:
            raise invalid(20001, "Missing required parameter FriendlyName in the post body")
        changes = service_changes(form)
        now = _now()
        service = Service("MG" + secrets.token_hex(16), account_sid, now, now, {**new_service_settings(name), **changes})
        with self._lock:
            self._services[service.sid] = service
            return service.resource(origin)

    def list_services(self, account_sid: str, query: Form, origin: str) -> dict[str, Any]:
        """GET /v1/Services: the account's services, oldest first; Messaging v1's `meta` paging."""
        paging = Paging.from_query(query)
        with self._lock:
            found = [
                s.resource(origin)
                for s in sorted(self._services.values(), key=lambda s: (s.created, s.sid))
                if s.account_sid == account_sid
            ]
        return paging.v1_page(found, origin + SERVICES, "services")

    def service(self, account_sid: str, sid: str, path: str, origin: str) -> dict[str, Any]:
        with self._lock:
            service = self._services.get(sid)
            if service is None or service.account_sid != account_sid:
                raise errors.not_found(path)
            return service.resource(origin)

    def update_service(self, account_sid: str, sid: str, path: str, form: Form, origin: str) -> dict[str, Any]:
        """POST /v1/Services/{Sid}: the fields given replace the service's."""
        changes = service_changes(form)
        with self._lock:
            service = self._services.get(sid)
            if service is None or service.account_sid != account_sid:
                raise errors.not_found(path)
            service.settings.update(changes)
            service.updated = _now()
            return service.resource(origin)


def handles(path: str) -> bool:
    """Whether `path` is one of these routes."""
    return bool(NUMBERS.match(path) or NUMBER.match(path) or path == SERVICES or SERVICE.match(path))


def route(
    numbers: Numbers,
    method: str,
    path: str,
    query: Form,
    form: Form,
    authorize: Callable[[str, str], str],
    authenticate: Callable[[], str],
    origin: str,
) -> tuple[int, dict[str, Any]]:
    """Answer one request of these routes: (status, body). `authorize(account, path)` checks
    basic auth as the path's account; `authenticate()` answers the account the credentials
    belong to. Either raises Twilio's 20003."""
    if match := NUMBERS.match(path):
        account = match["account"]
        authorize(account, path)
        if method == "GET":
            return 200, numbers.list_numbers(account, path, query)
        if method == "POST":
            return 201, numbers.provision(account, form)
    elif match := NUMBER.match(path):
        account = match["account"]
        authorize(account, path)
        if method == "GET":
            return 200, numbers.number(account, match["sid"], path).resource()
        if method == "POST":
            return 200, numbers.update_number(account, match["sid"], path, form)
    elif path == SERVICES:
        account = authenticate()
        if method == "GET":
            return 200, numbers.list_services(account, query, origin)
        if method == "POST":
            return 201, numbers.create_service(account, form, origin)
    elif match := SERVICE.match(path):
        account = authenticate()
        if method == "GET":
            return 200, numbers.service(account, match["sid"], path, origin)
        if method == "POST":
            return 200, numbers.update_service(account, match["sid"], path, form, origin)
    raise method_not_allowed(method, path)


def method_not_allowed(method: str, path: str) -> TwilioApiError:
    return TwilioApiError(405, 20004, f"Method {method} not allowed on {path}")
