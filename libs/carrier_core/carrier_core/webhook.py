"""Reading a Twilio webhook request: size, content type, form body and signature."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from carrier_core.errors import (
    ConfigurationError,
    InvalidField,
    InvalidSignature,
    MalformedBody,
    MissingField,
    PayloadTooLarge,
    UnsupportedContentType,
)
from carrier_core.settings import MESSAGING_SERVICE_SID
from carrier_core.signature import FormPairs, signature_algorithm, validate_signature
from carrier_core.storage import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, worst_case_seconds

# Twilio's own webhook bodies are a few KiB; anything this large is not from Twilio.
# chalice local enforces no limit and API Gateway's is 10 MB, so the app must.
MAX_BODY_BYTES = 64 * 1024

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


# Twilio's webhook connection overrides, a fragment on every URL we hand Twilio
# (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides). Left alone,
# Twilio retries a messaging webhook only when it cannot connect, so a 503 of ours (storage
# down, a tenant's secrets unreadable) would be the end of that message or status. These ask
# for up to 3 retries on a failed connect, a read timeout or a 5xx, within Twilio's 15 s:
# connect 3 s, read 14 s (over the slowest answer we give, SLOWEST_ANSWER_SECONDS), all
# attempts 15 s. The fragment is not part of the URL Twilio signs, nor of the request.
CONNECTION_OVERRIDES = (("ct", "3000"), ("rt", "14000"), ("tt", "15000"), ("rc", "3"), ("rp", "ct,rt,5xx"))
# A tenant's cold first request: its two reads, each tried once (carrier_core.tenants), then
# the webhook's storage call at its worst (carrier_core.storage).
SLOWEST_ANSWER_SECONDS = 2 * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS) + worst_case_seconds()


def with_overrides(url: str) -> str:
    """`url` with our connection overrides as its fragment (any fragment it had replaced)."""
    return url.partition("#")[0] + "#" + "&".join(f"{name}={value}" for name, value in CONNECTION_OVERRIDES)


def without_fragment(url: str) -> str:
    """The URL Twilio requests and signs: the one it was handed, less its fragment."""
    return url.partition("#")[0]


def loggable_url(url: str | None) -> str | None:
    """`url` as a log line may show it: any user:password@ before the host dropped."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def check_size(headers: Mapping[str, str], raw_body: bytes | str | None) -> None:
    """Raise PayloadTooLarge when the declared or actual body exceeds MAX_BODY_BYTES."""
    declared = headers.get("content-length", "")
    size = len(raw_body or b"")
    if (declared.isdigit() and int(declared) > MAX_BODY_BYTES) or size > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"request body is larger than {MAX_BODY_BYTES} bytes")


def parse_form(content_type: str | None, raw_body: bytes | None) -> FormPairs:
    """The form's (name, value) pairs in order, repeated names kept; JSON bodies have none."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == JSON:
        return ()
    if media_type != FORM:
        raise UnsupportedContentType(f"expected {FORM}, got {media_type or 'no Content-Type'}")
    try:
        text = (raw_body or b"").decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedBody("request body is not UTF-8 form data") from exc


def signed_urls(public_url: str, query: Iterable[tuple[str, str]] | None) -> tuple[str, ...]:
    """The URLs Twilio may have signed: the configured public URL, byte for byte, plus what
    Twilio added.

    Twilio signs the URL as it was configured, query and all (`?a=1&a=2`, `?x=a%20b`,
    `?flag`). API Gateway hands us the query parsed and decoded, so re-encoding it cannot
    give those bytes back; the configured URL is the only faithful copy of its own query.
    Only parameters beyond it (Twilio's `bodySHA256` on JSON webhooks, a query the number's
    URL has beyond the configured one, or whatever a forger added) are appended, in the order
    received, so they are signed too. API Gateway hands over `?flag` and `?flag=` alike, as
    an empty value: when one is appended, the URL with each bare (`?flag`, as a flag is
    written) comes first, then the one with each `=`.
    """
    if not query:
        return (public_url,)
    configured = Counter(parse_qsl(urlsplit(public_url).query, keep_blank_values=True))
    extra: list[tuple[str, str]] = []
    for pair in query:
        if configured[pair] > 0:
            configured[pair] -= 1
        else:
            extra.append(pair)
    if not extra:
        return (public_url,)
    prefix = public_url + ("&" if "?" in public_url else "?")
    bare = "&".join(_quote(name) + ("=" + _quote(value) if value else "") for name, value in extra)
    spelled = urlencode(extra, quote_via=quote)
    return (prefix + bare,) if bare == spelled else (prefix + bare, prefix + spelled)


def _quote(text: str) -> str:
    return quote(text, safe="")


def read_twilio_request(
    tokens: Iterable[str],
    public_url: str,
    headers: Mapping[str, str],
    query: Iterable[tuple[str, str]] | None,
    body: bytes | str | None,
    shared_keys: Iterable[str] = (),
) -> FormPairs:
    """Check size and signature of a webhook and return its form; raises taxonomy errors.

    The size check runs first so an oversized body costs no HMAC; the signature is checked
    before anything is parsed beyond the form itself. A request carrying
    X-Twilio-Webhooks-Signature-Settings was signed with a SharedKey, so only `shared_keys`
    may have made it; otherwise only the auth `tokens`.
    """
    raw_body = body.encode("utf-8") if isinstance(body, str) else body
    check_size(headers, raw_body)
    params = parse_form(headers.get("content-type"), raw_body)
    settings_header = headers.get(SIGNATURE_SETTINGS)
    keys = list(shared_keys if settings_header is not None else tokens)
    signature, algorithm = headers.get("x-twilio-signature"), signature_algorithm(settings_header)
    urls = signed_urls(public_url, query)
    for url in urls[:-1]:
        with contextlib.suppress(InvalidSignature):  # the next spelling of the query may match
            validate_signature(keys, url, params, signature, raw_body, algorithm)
            return params
    validate_signature(keys, urls[-1], params, signature, raw_body, algorithm)
    return params


SIGNATURE_SETTINGS = "x-twilio-webhooks-signature-settings"


def query_pairs(query_params: Any) -> list[tuple[str, str]]:
    """Every (name, value) of a framework's parsed query, repeated names included."""
    if not query_params:
        return []
    getlist = getattr(query_params, "getlist", None)
    if getlist is None:
        return list(query_params.items())
    return [(name, value) for name in query_params for value in getlist(name)]


def read_webhook(request: Any, tokens: Iterable[str], public_url: str | None, shared_keys: Iterable[str] = ()) -> FormPairs:
    """read_twilio_request for a framework request with `headers`, `query_params`, `raw_body`."""
    if request is None or not public_url:
        raise ConfigurationError("no request, or no public URL configured for this webhook")
    return read_twilio_request(tokens, public_url, request.headers, query_pairs(request.query_params), request.raw_body, shared_keys)


# A Twilio message SID: SM (or MM for media) and 32 hex digits, as Twilio's spec has it.
MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")


def message_sid(form: Mapping[str, str]) -> str:
    """The form's MessageSid, or its older spellings Twilio still sends beside it."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
    if not sid:
        raise MissingField("MessageSid is required")
    if not MESSAGE_SID.fullmatch(sid):
        raise InvalidField("MessageSid is not a Twilio message SID")
    return sid


def messaging_service_sid(form: Mapping[str, str]) -> str | None:
    """The form's MessagingServiceSid when it has one; InvalidField when it is not one.

    It keys opt-outs and reaches the workflow engine, so what Twilio never sends stops here.
    """
    sid = form.get("MessagingServiceSid") or None
    if sid is not None and not MESSAGING_SERVICE_SID.fullmatch(sid):
        raise InvalidField("MessagingServiceSid is not a Twilio Messaging Service SID")
    return sid


# Twilio's counts and error codes are a few digits. The bound keeps int() away from its
# 4,300-digit limit (ValueError), and DynamoDB numbers to 38 digits.
MAX_WHOLE_NUMBER_DIGITS = 9
ASCII_DIGITS = re.compile(r"^[0-9]+$")


def whole_number(form: Mapping[str, str], name: str) -> int | None:
    """An optional non-negative integer field; InvalidField when it is something else.

    Only ASCII digits: str.isdigit() also accepts "²" and "٣", which int() then refuses
    or reads as a number Twilio never sent.
    """
    raw = form.get(name, "").strip()
    if not raw:
        return None
    if not ASCII_DIGITS.match(raw) or len(raw) > MAX_WHOLE_NUMBER_DIGITS:
        raise InvalidField(f"{name} must be a whole number of at most {MAX_WHOLE_NUMBER_DIGITS} digits")
    return int(raw)
