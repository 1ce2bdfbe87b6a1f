"""`chalice local`'s gateway, answering what API Gateway answers itself in our error shape.

Deployed, infra/modules/service/api.tf maps API Gateway's own answers (an unknown path,
throttling, ...) to `{"error": {...}}` bodies. `chalice local` answers an unknown path with
`403 {"message": "Missing Authentication Token"}`, a method it has no handler for with an
HTML 501, a non-numeric or 5,000-digit Content-Length by dropping the connection, a
Content-Length of 10 GB by waiting for it, and a body shorter than its Content-Length by
waiting until the client gives up. `install()` patches chalice.local so that
devstack/serve.py's server answers those in the deployed API's shape.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import local

from carrier_core.errors import CarrierError, MethodNotAllowed, PayloadTooLarge, RequestRejected, RouteNotFound
from devstack.framing import GATEWAY_MAX_BYTES, BodyRefused, content_length

JSON_HEADERS = {"Content-Type": "application/json"}
# What API Gateway accepts; anything else gets 405 in our shape instead of an HTML 501.
METHODS = ("GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS")
# A body that stops arriving for this long before its Content-Length is complete never will:
# Twilio sends a webhook's body with its head, and gives up on the webhook after 15 s.
BODY_IDLE_SECONDS = 3.0


class JsonGatewayError(local.LocalGatewayException):
    """A gateway answer with our error body; CODE is set per instance."""

    def __init__(self, error: CarrierError, headers: dict[str, str] | None = None) -> None:
        super().__init__({**JSON_HEADERS, **(headers or {})}, json.dumps(error.to_body()).encode("utf-8"))
        self.CODE = error.http_status


class JsonErrorGateway(local.LocalGateway):
    """LocalGateway whose unknown path is a 404 `not_found`, as the deployed API answers."""

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            self.event_converter.create_lambda_event(method=method, path=path, headers=headers, body=body)
        except ValueError as exc:  # no route matches: what API Gateway calls MISSING_AUTHENTICATION_TOKEN
            raise JsonGatewayError(RouteNotFound("No such endpoint.")) from exc
        return super().handle_request(method, path, headers, body)


def _guarded(handler: Any) -> None:
    """The request handler's entry: a body length it cannot read is a 400, one past API
    Gateway's limit a 413 (before any of the body is read), and a body that ends or stops
    before its length a 400; never a dropped socket or a wait for bytes that never come."""
    try:
        handler.framed_body = _read_body(handler, content_length(handler.headers.get("content-length"), GATEWAY_MAX_BYTES))
    except BodyRefused as exc:
        error = PayloadTooLarge(exc.message) if exc.status == 413 else RequestRejected(exc.message)
        handler.close_connection = True
        handler._send_error_response(JsonGatewayError(error, {"Connection": "close"}))
        return
    _generic_handle(handler)


def _read_body(handler: Any, length: int) -> bytes | None:
    """The `length` bytes of the body (None for none, as chalice.local reads it); BodyRefused
    when the client closes before they are all in or sends none for BODY_IDLE_SECONDS."""
    if not length:
        return None
    connection = handler.connection
    previous = connection.gettimeout()
    connection.settimeout(BODY_IDLE_SECONDS)  # each wait for more bytes, not the whole read
    try:
        body: bytes = handler.rfile.read(length)
    except TimeoutError:
        body = b""
    finally:
        connection.settimeout(previous)
    if len(body) < length:
        raise BodyRefused(400, f"The body is shorter than the {length} bytes its Content-Length announces")
    return body


def _parse_payload(handler: Any) -> tuple[dict[str, str], bytes | None]:
    """chalice.local's own, with the body _guarded has read."""
    return dict(handler.headers), handler.framed_body


def _send_error(handler: Any, code: int, message: str | None = None, explain: str | None = None) -> None:
    """http.server's own errors (bad request line, unknown method, URI too long) in our shape."""
    error: CarrierError = MethodNotAllowed() if code == 501 else RequestRejected()
    body = json.dumps(error.to_body()).encode("utf-8")
    handler.close_connection = True
    handler.send_response(error.http_status if code == 501 else code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    if handler.command != "HEAD" and code >= 200 and code not in (204, 304):
        handler.wfile.write(body)


_generic_handle = local.ChaliceRequestHandler._generic_handle


def install() -> None:
    """Patch chalice.local in this process; the CLI's server then uses the patched classes."""
    local.LocalGateway = JsonErrorGateway  # type: ignore[misc]
    handler_cls: Any = local.ChaliceRequestHandler
    for method in METHODS:
        setattr(handler_cls, f"do_{method}", _guarded)
    handler_cls.send_error = _send_error
    handler_cls._parse_payload = _parse_payload
