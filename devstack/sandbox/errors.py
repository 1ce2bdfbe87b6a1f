"""Twilio's REST error codes as the sandbox answers them, in Twilio's error JSON.

Codes and wording follow https://www.twilio.com/docs/api/errors/<code>; the body shape is
what api.twilio.com returns: `{"code", "message", "more_info", "status"}`.
"""

from __future__ import annotations

from typing import Any


class TwilioApiError(Exception):
    """One REST error: the HTTP status and Twilio's numeric code and message."""

    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def authenticate() -> TwilioApiError:
    """Missing or wrong basic-auth credentials."""
    return TwilioApiError(401, 20003, "Authenticate")


def not_found(path: str) -> TwilioApiError:
    """Twilio answers a resource it does not know, or another account's, with 20404."""
    return TwilioApiError(404, 20404, f"The requested resource {path} was not found")


def invalid(code: int, message: str) -> TwilioApiError:
    """A 400 for a request Twilio's validation rejects."""
    return TwilioApiError(400, code, message)


def too_many_requests(retry_after: int | str | None) -> TwilioApiError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return TwilioApiError(429, 20429, "Too Many Requests", headers)


def server_error(status: int) -> TwilioApiError:
    return TwilioApiError(status, 20500, "Internal Server Error")
