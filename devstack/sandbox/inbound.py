"""The customer's side: an inbound message arrives at an account, and its webhook goes out.

Control API (no auth; not Twilio's):
  POST /_sandbox/inbound   {"from", "to", "body"?, "account_sid"?, "deliver"?, "url"?, "sid"?}
       creates an inbound Message at the account (default: the sandbox's first), listed and
       fetched like any other (`direction` `inbound`, `status` `received`, `date_sent` now),
       and, unless `deliver` is false, POSTs the signed webhook to the account's inbound URL
       as Twilio would. 201 {"sid", "webhook": {"status", "attempts"} | null}.
       `url`: where the webhook goes; default: the first account's INBOUND_WEBHOOK_URL (the
       stack's inbound service). Another account has no default: a tenant's is
       `/twilio/<tenant>/inbound`, which the sandbox cannot know, so it must be given.
       `sid`: an `MM…` SID whose media were hosted beforehand (POST /_sandbox/media
       ?message_sid=…&account_sid=…): the message carries them (NumMedia, MediaUrlN).
  POST /_sandbox/inbound/{sid}/deliver   posts the message's webhook (again): a webhook that
       arrives late, or Twilio's retry of one that failed. 200 {"sid", "webhook"}.
  GET/DELETE /_sandbox/inbound           every webhook delivery so far (DELETE clears them).

A delivery is tried up to lifecycle.CALLBACK_ATTEMPTS times while the answer is a 5xx, a 429
or no answer, as Twilio retries a webhook whose URL asks it to (connection overrides): a
test that wants the webhook lost for good passes `"deliver": false`, or makes every attempt fail.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from carrier_core.signature import compute_signature
from devstack.sandbox.errors import TwilioApiError, invalid, not_found
from devstack.sandbox.lifecycle import CALLBACK_ATTEMPTS, _attempt
from devstack.sandbox.media import store_of
from devstack.sandbox.messages import API_VERSION, E164, MAX_BODY, MESSAGING_SERVICE_SID, CreateMessage, Message, num_segments

if TYPE_CHECKING:
    from devstack.sandbox.server import Sandbox

FIELDS = ("from", "to", "body", "account_sid", "deliver", "url", "sid", "messaging_service_sid")
MM_SID = re.compile(r"^MM[0-9a-f]{32}$")
DELIVER = re.compile(r"^/_sandbox/inbound/(?P<sid>(?:SM|MM)[0-9a-f]{32})/deliver$")
LOG_LIMIT = 100_000


@dataclass(frozen=True)
class InboundSpec:
    """A valid POST /_sandbox/inbound body."""

    from_: str
    to: str
    body: str
    account_sid: str | None
    deliver: bool
    url: str | None
    sid: str | None
    # The Messaging Service the `to` number belongs to: Twilio then names it in the webhook.
    messaging_service_sid: str | None = None

    @classmethod
    def from_json(cls, raw: bytes) -> InboundSpec:
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            raise invalid(20001, "the body must be a JSON object") from None
        if not isinstance(data, dict):
            raise invalid(20001, "the body must be a JSON object")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise invalid(20001, f"unknown field {unknown[0][:40]!r}; accepted: {', '.join(FIELDS)}")
        text = {name: data.get(name) for name in ("from", "to", "body", "account_sid", "url", "sid", "messaging_service_sid")}
        for name, value in text.items():
            if value is not None and not isinstance(value, str):
                raise invalid(20001, f"{name} must be a string")
        for name in ("from", "to"):
            if not text[name] or not E164.match(str(text[name]).removeprefix("whatsapp:")):
                raise invalid(21211, f"{name} must be an E.164 number (a whatsapp: prefix is allowed)")
        body = text["body"] or ""
        if len(body) > MAX_BODY:
            raise invalid(21617, "The concatenated message body exceeds the 1600 character limit.")
        deliver = data.get("deliver", True)
        if not isinstance(deliver, bool):
            raise invalid(20001, "deliver must be true or false")
        url = text["url"]
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise invalid(20001, "url must be an http(s) URL")
        sid = text["sid"]
        if sid is not None and not MM_SID.match(sid):
            raise invalid(20001, "sid must be MM followed by 32 lowercase hex digits")
        service = text["messaging_service_sid"]
        if service is not None and not MESSAGING_SERVICE_SID.match(service):
            raise invalid(20001, "messaging_service_sid must be MG followed by 32 hex digits")
        return cls(str(text["from"]), str(text["to"]), body, text["account_sid"], deliver, url, sid, service)


class Inbound:
    """The inbound messages of one sandbox, where their webhooks go, and each delivery made."""

    def __init__(self, sandbox: Sandbox, default_url: str | None) -> None:
        self._sandbox = sandbox
        self._default_url = default_url
        self._lock = threading.Lock()
        self._urls: dict[str, str | None] = {}  # message SID -> its webhook URL
        self._tokens: dict[str, str] = {}  # message SID -> its idempotency token, kept across redeliveries
        self.deliveries: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)

    def receive(self, spec: InboundSpec, media_base: str) -> dict[str, Any]:
        """Create the message and, unless told not to, deliver its webhook."""
        sandbox = self._sandbox
        account = spec.account_sid or sandbox.account_sid
        if sandbox.accounts.get(account) is None:
            raise invalid(20001, "account_sid must be an account the sandbox hosts (POST /_sandbox/accounts adds one)")
        url = spec.url or (self._default_url if account == sandbox.account_sid else None)
        if spec.deliver and url is None:
            raise invalid(20001, "no inbound URL is known for this account: give url (a tenant's is /twilio/<tenant>/inbound)")
        sid = spec.sid or "SM" + secrets.token_hex(16)
        media = store_of(sandbox).of_message(account, sid)
        now = datetime.now(timezone.utc)
        request = CreateMessage(
            to=spec.to,
            from_=spec.from_,
            messaging_service_sid=spec.messaging_service_sid,
            body=spec.body,
            media_urls=tuple(media_base + m.path() for m in media),
            status_callback=None,
            validity_period=None,
        )
        message = Message(
            account_sid=account,
            sid=sid,
            request=request,
            from_=spec.from_,
            status="received",
            date_created=now,
            date_updated=now,
            date_sent=now,
            segments=1 if media else num_segments(spec.body),
            direction="inbound",
        )
        with sandbox.lock:
            if sid in sandbox.messages:
                raise TwilioApiError(409, 20001, f"A message {sid} exists already")
            sandbox.messages[sid] = message
        with self._lock:
            self._urls[sid] = url
            self._tokens[sid] = str(uuid.uuid4())
        content_types = [m.content_type for m in media]
        return {"sid": sid, "webhook": self._deliver(message, content_types) if spec.deliver else None}

    def redeliver(self, sid: str, path: str, url: str | None = None) -> dict[str, Any]:
        """POST /_sandbox/inbound/{sid}/deliver: the message's webhook, once more."""
        with self._sandbox.lock:
            message = self._sandbox.messages.get(sid)
        with self._lock:
            known = sid in self._urls
            url = url or self._urls.get(sid)
        if message is None or not known:
            raise not_found(path)
        if url is None:
            raise invalid(20001, "no inbound URL is known for this message: give url")
        with self._lock:
            self._urls[sid] = url
        media = store_of(self._sandbox).of_message(message.account_sid, sid)
        return {"sid": sid, "webhook": self._deliver(message, [m.content_type for m in media])}

    def _deliver(self, message: Message, content_types: list[str]) -> dict[str, Any]:
        with self._lock:
            target = self._urls[message.sid]
            token = self._tokens[message.sid]
        assert target is not None  # checked by the callers
        # As Twilio does: the fragment (connection overrides) is neither requested nor signed.
        url, _, overrides = target.partition("#")
        params = webhook_params(message, content_types)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": compute_signature(self._sandbox.accounts.token(message.account_sid), url, params),
            "I-Twilio-Idempotency-Token": token,
        }
        data = urlencode(params).encode("utf-8")
        status: int | None = None
        error: str | None = None
        attempt = 0
        for attempt in range(1, CALLBACK_ATTEMPTS + 1):
            status, error = _attempt(url, data, headers)
            if status is not None and status < 500 and status != 429:
                break
            if attempt < CALLBACK_ATTEMPTS:
                time.sleep(0.1 * 2 ** (attempt - 1))
        record = {
            "time": datetime.now(timezone.utc).isoformat(),
            "sid": message.sid,
            "url": url,
            "overrides": overrides or None,
            "status": status,
            "attempts": attempt,
            "error": error,
        }
        with self._lock:
            self.deliveries.append(record)
        return {"status": status, "attempts": attempt, "error": error}

    def records(self, clear: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self.deliveries)
            if clear:
                self.deliveries.clear()
        return records


def webhook_params(message: Message, content_types: list[str]) -> list[tuple[str, str]]:
    """The form Twilio posts to a number's inbound URL for an incoming message."""
    pairs = [
        ("ToCountry", "US"),
        ("SmsMessageSid", message.sid),
        ("NumMedia", str(len(message.request.media_urls))),
        ("SmsSid", message.sid),
        ("SmsStatus", "received"),
        ("Body", message.request.body),
        ("To", message.request.to),
        *([("MessagingServiceSid", message.request.messaging_service_sid)] if message.request.messaging_service_sid else []),
        ("NumSegments", str(message.segments)),
        ("MessageSid", message.sid),
        ("AccountSid", message.account_sid),
        ("From", message.from_ or ""),
        ("ApiVersion", API_VERSION),
    ]
    for index, (url, content_type) in enumerate(zip(message.request.media_urls, content_types, strict=True)):
        pairs += [(f"MediaContentType{index}", content_type), (f"MediaUrl{index}", url)]
    return pairs


def default_url(env: Mapping[str, str]) -> str | None:
    """The first account's inbound URL: the stack's inbound service, as its services are told."""
    return env.get("SANDBOX_INBOUND_URL") or env.get("INBOUND_WEBHOOK_URL") or None
