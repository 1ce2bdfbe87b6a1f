"""What every app's error handling shares, kept free of Chalice so it is unit-testable."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from carrier_core.errors import (
    CarrierError,
    InternalError,
    MethodNotAllowed,
    RouteNotFound,
    UnsupportedContentType,
)
from carrier_core.storage import failure_kind

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}

R = TypeVar("R")

# Chalice answers some requests itself, before our view runs, in its own error shape.
_CHALICE_ERRORS: dict[str, type[CarrierError]] = {
    "UnsupportedMediaType": UnsupportedContentType,
    "MethodNotAllowedError": MethodNotAllowed,
    "NotFoundError": RouteNotFound,
}


def error_parts(exc: BaseException) -> tuple[int, dict[str, str], str]:
    """Status, headers and JSON body for any exception; unknown ones become internal_error."""
    if not isinstance(exc, CarrierError):
        log.error("unhandled error", extra={"error_type": type(exc).__name__}, exc_info=exc)
        exc = InternalError()
    elif exc.http_status >= 500:
        # DynamoDB's error code or the innermost exception's class: what failed, never a value.
        cause = failure_kind(exc.__cause__) if exc.__cause__ is not None else None
        log.warning("request failed", extra={"error_code": exc.code, "cause": cause})
    return exc.http_status, dict(JSON_HEADERS), json.dumps(exc.to_body())


def handles_errors(response_cls: Callable[..., R]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Decorate a view so any exception becomes a `response_cls` with our JSON error body."""

    def decorate(view: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> R:
            try:
                return view(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the edge: nothing escapes as a traceback
                status, headers, body = error_parts(exc)
                return response_cls(body=body, headers=headers, status_code=status)

        return wrapper

    return decorate


def translate_framework_error(status: int, body: Any) -> tuple[int, dict[str, str], str] | None:
    """Our error body for one of Chalice's own error responses, or None if it is not one."""
    if status < 400 or not isinstance(body, dict) or "Code" not in body:
        return None
    error_cls = _CHALICE_ERRORS.get(str(body["Code"]))
    error = error_cls(str(body.get("Message", ""))) if error_cls else InternalError()
    return error.http_status if error_cls else status, dict(JSON_HEADERS), json.dumps(error.to_body())


def error_code_of(body: Any) -> str:
    """The taxonomy code in an error response body, for metrics."""
    try:
        payload = json.loads(body) if isinstance(body, (str, bytes)) else body
        return str(payload["error"]["code"])
    except (ValueError, TypeError, KeyError):
        return "unknown"
