"""The Twilio accounts the sandbox hosts, each with its own auth token and API keys.

Every REST route under `/2010-04-01/Accounts/{AccountSid}/` authenticates as that account,
with its SID and auth token or one of its API keys; its messages and media are its own.
The account the sandbox starts with (the local one, or the environment's) is always there;
the control API adds others and rotates their credentials:

  POST /_sandbox/accounts        {"account_sid", "auth_token", "api_key_sid"?, "api_key_secret"?}
                                 201 added; 200 already there with the same values; 409 else
  GET  /_sandbox/accounts        every account's public view, the first one first
  GET  /_sandbox/accounts/{AC}   one account's public view; 404 if unknown
  PUT  /_sandbox/accounts/{AC}   {"auth_token"?, "api_key_sid"?, "api_key_secret"?} replaces
                                 the credentials given (the old ones stop working); 200

A public view never holds a secret: `{"account_sid", "api_key_sids", "date_created",
"date_updated"}`. A bad request is 400 naming the field at fault.
"""

from __future__ import annotations

import hmac
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY_SID = re.compile(r"^SK[0-9a-fA-F]{32}$")
CREATE_FIELDS = ("account_sid", "auth_token", "api_key_sid", "api_key_secret")


class AccountError(Exception):
    """A control-API request about accounts that cannot be done: the HTTP status, and the
    request field at fault (None when no one field is)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        # The shape of the sandbox's other errors, plus the field.
        return {
            "code": 20404 if self.status == 404 else 20001,
            "message": self.message,
            "more_info": None,
            "status": self.status,
            "field": self.field,
        }


@dataclass(frozen=True)
class Account:
    """One account's credentials; replaced whole when they rotate."""

    sid: str
    auth_token: str = field(repr=False)
    api_keys: Mapping[str, str] = field(repr=False)
    created: datetime
    updated: datetime

    def secret(self, user: str) -> str | None:
        """The secret that authenticates `user` (this account's SID or one of its API key
        SIDs) as this account; None for any other user."""
        return self.auth_token if user == self.sid else self.api_keys.get(user)

    def view(self) -> dict[str, Any]:
        """What the control API shows of the account: no secret."""
        return {
            "account_sid": self.sid,
            "api_key_sids": sorted(self.api_keys),
            "date_created": self.created.isoformat(),
            "date_updated": self.updated.isoformat(),
        }


class Accounts:
    """Every hosted account by SID, the sandbox's first account first. None is ever removed."""

    def __init__(self, sid: str, auth_token: str, api_keys: Mapping[str, str] | None = None) -> None:
        now = datetime.now(timezone.utc)
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {sid: Account(sid, auth_token, dict(api_keys or {}), now, now)}
        self.first = sid

    def get(self, sid: str) -> Account | None:
        with self._lock:
            return self._accounts.get(sid)

    def owner(self, user: str) -> Account | None:
        """The account whose SID, or one of whose API key SIDs, `user` is."""
        with self._lock:
            return self._accounts.get(user) or next((a for a in self._accounts.values() if user in a.api_keys), None)

    def token(self, sid: str) -> str:
        """The account's current auth token, which signs its status callbacks."""
        with self._lock:
            return self._accounts[sid].auth_token

    def views(self) -> list[dict[str, Any]]:
        with self._lock:
            return [account.view() for account in self._accounts.values()]

    def view(self, sid: str) -> dict[str, Any]:
        account = self.get(sid)
        if account is None:
            raise AccountError(404, f"The sandbox hosts no account {sid}")
        return account.view()

    def add(self, spec: object) -> tuple[int, dict[str, Any]]:
        """POST /_sandbox/accounts: 201 and the view when added, 200 when the account is
        already there with exactly these credentials; 409 when it is there with others."""
        values = _fields(spec, CREATE_FIELDS)
        sid = values.get("account_sid")
        if sid is None:
            raise AccountError(400, "account_sid is required", "account_sid")
        if not ACCOUNT_SID.match(sid):
            raise AccountError(400, "account_sid must be AC followed by 32 hex digits", "account_sid")
        token = values.get("auth_token")
        if token is None:
            raise AccountError(400, "auth_token is required", "auth_token")
        keys = _api_key(values)
        with self._lock:
            existing = self._accounts.get(sid)
            if existing is not None:
                differs = _difference(existing, token, keys)
                if differs is not None:
                    raise AccountError(
                        409, f"Account {sid} exists with another {differs}; PUT /_sandbox/accounts/{sid} replaces it", differs
                    )
                return 200, existing.view()
            if any(other.lower() == sid.lower() for other in self._accounts):
                raise AccountError(409, "account_sid differs only in case from an account the sandbox hosts", "account_sid")
            self._check_keys_free(sid, keys)
            now = datetime.now(timezone.utc)
            account = self._accounts[sid] = Account(sid, token, keys, now, now)
            return 201, account.view()

    def rotate(self, sid: str, spec: object) -> dict[str, Any]:
        """PUT /_sandbox/accounts/{sid}: the auth token, the API key, or both, replaced by
        those given; what is not given is kept. The old credentials stop working at once."""
        values = _fields(spec, CREATE_FIELDS)
        if values.get("account_sid", sid) != sid:
            raise AccountError(400, "account_sid, when given, must be the account of the path", "account_sid")
        keys = _api_key(values) if "api_key_sid" in values or "api_key_secret" in values else None
        token = values.get("auth_token")
        if token is None and keys is None:
            raise AccountError(400, "give an auth_token, an api_key_sid with its api_key_secret, or both", "auth_token")
        with self._lock:
            account = self._accounts.get(sid)
            if account is None:
                raise AccountError(404, f"The sandbox hosts no account {sid}")
            if keys is not None:
                self._check_keys_free(sid, keys)
            rotated = replace(
                account,
                auth_token=account.auth_token if token is None else token,
                api_keys=account.api_keys if keys is None else keys,
                updated=datetime.now(timezone.utc),
            )
            self._accounts[sid] = rotated
            return rotated.view()

    def _check_keys_free(self, sid: str, keys: Mapping[str, str]) -> None:
        # An API key belongs to one account: its SID alone names who authenticates.
        for key in keys:
            for other in self._accounts.values():
                if other.sid != sid and any(k.lower() == key.lower() for k in other.api_keys):
                    raise AccountError(409, f"API key {key} belongs to another account", "api_key_sid")


def _fields(spec: object, allowed: tuple[str, ...]) -> dict[str, str]:
    """The JSON object's fields, each a non-empty string; null is as absent."""
    if not isinstance(spec, dict):
        raise AccountError(400, "expected a JSON object")
    for name in spec:
        if name not in allowed:
            raise AccountError(400, f"unknown field {name!r}; expected {', '.join(allowed)}", str(name))
    values: dict[str, str] = {}
    for name in allowed:
        value = spec.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise AccountError(400, f"{name} must be a non-empty string", name)
        values[name] = value
    return values


def _api_key(values: Mapping[str, str]) -> dict[str, str]:
    """The API key the request names: none, or its SID with its secret."""
    sid, secret = values.get("api_key_sid"), values.get("api_key_secret")
    if sid is None and secret is None:
        return {}
    if sid is None:
        raise AccountError(400, "api_key_sid is required with api_key_secret", "api_key_sid")
    if secret is None:
        raise AccountError(400, "api_key_secret is required with api_key_sid", "api_key_secret")
    if not API_KEY_SID.match(sid):
        raise AccountError(400, "api_key_sid must be SK followed by 32 hex digits", "api_key_sid")
    return {sid: secret}


def _difference(account: Account, token: str, keys: Mapping[str, str]) -> str | None:
    """The first field in which the account differs from these credentials, or None."""
    if not hmac.compare_digest(account.auth_token.encode(), token.encode()):
        return "auth_token"
    if set(account.api_keys) != set(keys):
        return "api_key_sid"
    if any(not hmac.compare_digest(account.api_keys[k].encode(), keys[k].encode()) for k in keys):
        return "api_key_secret"
    return None
