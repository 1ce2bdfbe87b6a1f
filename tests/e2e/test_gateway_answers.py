"""What the local server answers itself, before any route runs: the project's error shape too."""
from __future__ import annotations

import json
import socket

import pytest

from tests.support.stack import RunningStack

SERVICES = ("inbound", "status", "outbound")
ERROR_KEYS = {"code", "message", "twilio_code", "retryable"}


def raw_exchange(stack: RunningStack, service: str, request: bytes) -> tuple[int, dict[str, object]]:
    """Send bytes no HTTP client library would, and read the status line and JSON body."""
    port = int(stack.url(service).rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("path", ["/nope", "/twilio", "/messages/SM1/extra", "/" + "a" * 3000, "/%ff%fe"])
def test_unknown_path_is_404_not_found(stack: RunningStack, service: str, path: str) -> None:
    response = stack.http.post(stack.url(service, path), data=b"x=1", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS and error["code"] == "not_found"
    assert "aaaa" not in response.text


@pytest.mark.parametrize("service", SERVICES)
def test_method_the_server_does_not_know_is_405(stack: RunningStack, service: str) -> None:
    status, body = raw_exchange(stack, service, b"BREW /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"  # type: ignore[index]


@pytest.mark.parametrize("service", SERVICES)
def test_content_length_that_is_not_a_number_is_400(stack: RunningStack, service: str) -> None:
    request = b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: twelve\r\nConnection: close\r\n\r\n"
    status, body = raw_exchange(stack, service, request)
    assert status == 400 and body["error"]["code"] == "request_rejected"  # type: ignore[index]
