"""Content API templates: what a send with ContentSid names, and their WhatsApp approval.

The read subset of Twilio's Content API v1 (`https://content.twilio.com`, served here under the
sandbox's own origin), shaped as Twilio's OpenAPI spec `twilio_content_v1` has it:

- `GET /v1/Content`: the account's templates, oldest first, Content v1's `meta` paging;
- `GET /v1/Content/{Sid}`: one template (`content.v1.content`), its `variables` the names it
  declares, each with a sample value;
- `GET /v1/Content/{Sid}/ApprovalRequests`: its WhatsApp approval
  (`content.v1.content.approval_fetch`), `whatsapp.status` one of APPROVAL_STATUSES.

Like Messaging v1 they have no account in the path: they authenticate as whoever the
credentials name and see that account's templates only (another's is 404 20404).

Templates are made through the control API (`POST /_sandbox/content`) in any approval status,
and moved between statuses there too (`POST /_sandbox/content/{Sid}`): Twilio's own create and
approval request need Meta's review, which the sandbox does not play.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from devstack.sandbox import errors
from devstack.sandbox.errors import TwilioApiError, invalid
from devstack.sandbox.messages import CONTENT_SID
from devstack.sandbox.numbers import Paging

Form = Mapping[str, Sequence[str]]

CONTENTS = "/v1/Content"
CONTENT = re.compile(r"^/v1/Content/(?P<sid>[^/]+)$")
APPROVALS = re.compile(r"^/v1/Content/(?P<sid>[^/]+)/ApprovalRequests$")
# The control API's: every template, one template's approval.
CONTROL = "/_sandbox/content"
CONTROL_ONE = re.compile(r"^/_sandbox/content/(?P<sid>[^/]+)$")

# WhatsApp's template statuses as the Content API reports them; `unsubmitted` is a template
# never sent for approval.
APPROVAL_STATUSES = ("unsubmitted", "received", "pending", "approved", "rejected", "paused", "disabled")
CATEGORIES = ("UTILITY", "MARKETING", "AUTHENTICATION")
# What Twilio's status callback says when a send names a template WhatsApp will not take:
# https://www.twilio.com/docs/api/errors/63040 (rejected), 63041 (paused), 63042 (disabled).
REFUSALS: dict[str, tuple[int, str]] = {
    "rejected": (63040, "Template rejected"),
    "paused": (63041, "Template paused"),
    "disabled": (63042, "Template disabled"),
}
VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
MAX_VARIABLES = 100
MAX_NAME = 512
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Template:
    """One Content API template of an account and its WhatsApp approval."""

    sid: str
    account_sid: str
    friendly_name: str
    language: str
    variables: dict[str, str]
    body: str
    created: datetime
    updated: datetime
    # None: never submitted to WhatsApp.
    whatsapp: dict[str, Any] | None = field(default=None)

    def resource(self, origin: str) -> dict[str, Any]:
        """The `content.v1.content` resource; its links absolute under `origin`."""
        url = f"{origin}{CONTENTS}/{self.sid}"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "friendly_name": self.friendly_name,
            "language": self.language,
            "variables": dict(self.variables),
            "types": {"twilio/text": {"body": self.body}},
            "url": url,
            "date_created": _iso(self.created),
            "date_updated": _iso(self.updated),
            "links": {"approval_create": f"{url}/ApprovalRequests/whatsapp", "approval_fetch": f"{url}/ApprovalRequests"},
        }

    @property
    def status(self) -> str:
        return str(self.whatsapp["status"]) if self.whatsapp else "unsubmitted"

    def approval(self, origin: str) -> dict[str, Any]:
        """The `content.v1.content.approval_fetch` resource."""
        whatsapp = self.whatsapp or {"status": "unsubmitted"}
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "whatsapp": {
                "type": "whatsapp",
                "name": whatsapp.get("name") or self.friendly_name,
                "category": whatsapp.get("category") or "UTILITY",
                "content_type": "twilio/text",
                "status": whatsapp["status"],
                "rejection_reason": whatsapp.get("rejection_reason") or "",
                "allow_category_change": True,
            },
            "url": f"{origin}{CONTENTS}/{self.sid}/ApprovalRequests",
        }

    def view(self, origin: str) -> dict[str, Any]:
        """What the control API answers: the resource and its WhatsApp approval (null: never submitted)."""
        return {**self.resource(origin), "whatsapp": self.approval(origin)["whatsapp"] if self.whatsapp else None}


def _text(spec: Mapping[str, Any], name: str, default: str | None, limit: int = MAX_NAME) -> str:
    value = spec.get(name, default)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise invalid(20001, f"{name} must be a string of 1 to {limit} characters")
    return value


def _variables(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_VARIABLES:
        raise invalid(20001, f"variables must be an object of at most {MAX_VARIABLES} names to sample values")
    for name, sample in value.items():
        if not VARIABLE_NAME.match(name) or not isinstance(sample, str):
            raise invalid(20001, "each variable is a name of letters, digits or _ (up to 64) with a string sample value")
    return dict(value)


def _approval(value: object) -> dict[str, Any] | None:
    """A WhatsApp approval spec: {"status", "name"?, "category"?, "rejection_reason"?}, or
    null / a status of `unsubmitted` for a template never submitted."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(20001, "whatsapp must be an object with a status, or null")
    unknown = sorted(set(value) - {"status", "name", "category", "rejection_reason"})
    if unknown:
        raise invalid(20001, f"unknown field whatsapp.{unknown[0]}")
    status = value.get("status")
    if status not in APPROVAL_STATUSES:
        raise invalid(20001, f"whatsapp.status must be one of {', '.join(APPROVAL_STATUSES)}")
    if status == "unsubmitted":
        return None
    category = value.get("category", "UTILITY")
    if category not in CATEGORIES:
        raise invalid(20001, f"whatsapp.category must be one of {', '.join(CATEGORIES)}")
    approval: dict[str, Any] = {"status": status, "category": category}
    for name in ("name", "rejection_reason"):
        if value.get(name) is not None:
            approval[name] = _text(value, name, None)
    return approval


class Contents:
    """Every hosted account's templates, by SID."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: dict[str, Template] = {}

    def add(self, account_sid: str, spec: Mapping[str, Any], origin: str) -> dict[str, Any]:
        """POST /_sandbox/content: a template in any approval status; its view."""
        allowed = {"account_sid", "sid", "friendly_name", "language", "variables", "body", "whatsapp"}
        unknown = sorted(set(spec) - allowed)
        if unknown:
            raise invalid(20001, f"unknown field {unknown[0]}; accepted: {', '.join(sorted(allowed))}")
        sid = spec.get("sid") or "HX" + secrets.token_hex(16)
        if not isinstance(sid, str) or not CONTENT_SID.match(sid):
            raise invalid(20001, "sid must be HX followed by 32 hexadecimal digits")
        name = _text(spec, "friendly_name", None)
        variables = _variables(spec.get("variables"))
        body = _text(spec, "body", " ".join(f"{{{{{n}}}}}" for n in variables) or name, 1600)
        now = datetime.now(timezone.utc)
        template = Template(sid, account_sid, name, _text(spec, "language", "en", 16), variables, body, now, now)
        template.whatsapp = _approval(spec.get("whatsapp", {"status": "approved"}))
        with self._lock:
            if sid in self._templates:
                raise TwilioApiError(409, 20001, f"a template {sid} exists already")
            self._templates[sid] = template
            return template.view(origin)

    def set_approval(self, sid: str, spec: Mapping[str, Any], origin: str) -> dict[str, Any]:
        """POST /_sandbox/content/{Sid} {"status", ...}: its WhatsApp approval moves (approved,
        paused, ...); the view."""
        approval = _approval(spec)
        with self._lock:
            template = self._templates.get(sid)
            if template is None:
                raise errors.not_found(f"{CONTROL}/{sid}")
            template.whatsapp = approval
            template.updated = datetime.now(timezone.utc)
            return template.view(origin)

    def views(self, origin: str) -> list[dict[str, Any]]:
        with self._lock:
            return [t.view(origin) for t in sorted(self._templates.values(), key=lambda t: (t.created, t.sid))]

    def _template(self, account_sid: str, sid: str, path: str) -> Template:
        with self._lock:
            template = self._templates.get(sid)
        if template is None or template.account_sid != account_sid:
            raise errors.not_found(path)
        return template

    def refusal(self, account_sid: str, sid: str | None) -> tuple[int, str] | None:
        """The error a WhatsApp send of template `sid` fails with after its create (63040,
        63041, 63042), or None: an approved template, or one the sandbox does not host."""
        with self._lock:
            template = self._templates.get(sid or "")
        if template is None or template.account_sid != account_sid:
            return None
        return REFUSALS.get(template.status)

    def list(self, account_sid: str, query: Form, origin: str) -> dict[str, Any]:
        paging = Paging.from_query(query)
        with self._lock:
            found = [
                t.resource(origin)
                for t in sorted(self._templates.values(), key=lambda t: (t.created, t.sid))
                if t.account_sid == account_sid
            ]
        return paging.v1_page(found, origin + CONTENTS, "contents")

    def fetch(self, account_sid: str, sid: str, path: str, origin: str) -> dict[str, Any]:
        return self._template(account_sid, sid, path).resource(origin)

    def approvals(self, account_sid: str, sid: str, path: str, origin: str) -> dict[str, Any]:
        return self._template(account_sid, sid, path).approval(origin)


def handles(path: str) -> bool:
    """Whether `path` is one of Twilio's Content routes the sandbox serves."""
    return path == CONTENTS or bool(CONTENT.match(path) or APPROVALS.match(path))


def route(contents: Contents, method: str, path: str, query: Form, account_sid: str, origin: str) -> tuple[int, dict[str, Any]]:
    """Answer one Content API request of `account_sid` (authenticated already): (status, body)."""
    if method != "GET":
        raise TwilioApiError(405, 20004, f"Method {method} not allowed on {path}: the sandbox serves the Content API's reads")
    if path == CONTENTS:
        return 200, contents.list(account_sid, query, origin)
    if match := APPROVALS.match(path):
        return 200, contents.approvals(account_sid, match["sid"], path, origin)
    if match := CONTENT.match(path):
        return 200, contents.fetch(account_sid, match["sid"], path, origin)
    raise errors.not_found(path)
