"""`chalice local`'s gateway, answering what API Gateway answers itself in our error shape.

Deployed, infra/modules/service/api.tf maps API Gateway's own answers (an unknown path,
throttling, ...) to `{"error": {...}}` bodies. `chalice local` answers an unknown path with
`403 {"message": "Missing Authentication Token"}`, a method it has no handler for with an
HTML 501 and a non-numeric Content-Length by dropping the connection. `install()` patches
chalice.local so that devstack/serve.py's server answers those in the deployed API's shape.
"""
from __future__ import annotations

import json
from typing import Any

from chalice import local

from carrier_core.errors import CarrierError, MethodNotAllowed, RequestRejected, RouteNotFound

JSON_HEADERS = {"Content-Type": "application/json"}
# What API Gateway accepts; anything else gets 405 in our shape instead of an HTML 501.
METHODS = ("GET", "PUT", "POST", "HEAD", "DELETE", "PATCH", "OPTIONS")


class JsonGatewayError(local.LocalGatewayException):
    """A gateway answer with our error body; CODE is set per instance."""

    def __init__(self, error: CarrierError) -> None:
        super().__init__(dict(JSON_HEADERS), json.dumps(error.to_body()).encode("utf-8"))
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
    """The request handler's entry: a body length it cannot read is a 400, not a dropped socket."""
    raw = handler.headers.get("content-length", "0")
    if not raw.isascii() or not raw.isdigit():
        handler.close_connection = True
        handler._send_error_response(JsonGatewayError(RequestRejected("Content-Length is not a whole number")))
        return
    _generic_handle(handler)


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
