"""What the local server answers itself, before any route runs: the project's error shape too."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.support.stack import RunningStack

SERVICES = ("inbound", "status", "outbound")
ERROR_KEYS = {"code", "message", "twilio_code", "retryable"}


def raw_exchange(stack: RunningStack, service: str, request: bytes, timeout: float = 10) -> tuple[int, dict[str, object]]:
    """Send bytes no HTTP client library would, and read the status line and JSON body."""
    status, body = stack.raw_exchange(service, request, timeout)
    return status, json.loads(body)


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


# The local server gives up on a body that stops arriving after devstack.gateway's
# BODY_IDLE_SECONDS (3 s): well inside the 15 s Twilio waits for a webhook's answer.
INCOMPLETE_BODY_ANSWERED_WITHIN = 5.0
SHORT_BODY_PATHS = {"inbound": "/twilio/inbound", "status": "/twilio/status", "outbound": "/messages"}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("half_close", [False, True], ids=["then-silent", "then-half-closed"])
def test_a_body_shorter_than_its_content_length_is_400_within_seconds(stack: RunningStack, service: str, half_close: bool) -> None:
    """10 of the 100 bytes announced, then nothing (or the client's end of the connection
    closed): an answer in our shape within seconds, not a wait for bytes that never come."""
    port = int(stack.url(service).rsplit(":", 1)[1])
    request = f"POST {SHORT_BODY_PATHS[service]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=INCOMPLETE_BODY_ANSWERED_WITHIN) as sock:
        sock.sendall(request.encode() + b"Content-Length: 100\r\n\r\nBody=hello")
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    took = time.monotonic() - started
    head, _, body = data.partition(b"\r\n\r\n")
    assert int(head.split()[1]) == 400 and took < INCOMPLETE_BODY_ANSWERED_WITHIN
    error = json.loads(body)["error"]
    assert set(error) == ERROR_KEYS and error["code"] == "request_rejected" and "Content-Length" in error["message"]


# Each local server that reads a request body, where it reads one, and how it words an error:
# the services and the DynamoDB proxy in the project's shape, the sandbox in Twilio's.
BODY_READERS = {
    "inbound": "/twilio/inbound",
    "status": "/twilio/status",
    "outbound": "/messages",
    "dynamodb": "/",
    "sandbox": "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
}


def refused_length(stack: RunningStack, part: str, length: str) -> tuple[int, dict[str, object], float]:
    """POST to `part` announcing `length` body bytes and sending none: the answer, and how long
    it took, with the server closing the connection after it (read to the end, or a timeout)."""
    request = f"POST {BODY_READERS[part]} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
    started = time.monotonic()
    status, body = raw_exchange(stack, part, request, timeout=5)
    return status, body, time.monotonic() - started


def error_code(part: str, body: dict[str, object]) -> object:
    if part == "sandbox":
        assert set(body) == {"code", "message", "more_info", "status"}
        return body["status"]
    error = body["error"]
    assert isinstance(error, dict) and error["message"]
    return error["code"]


@pytest.mark.parametrize("part", BODY_READERS)
@pytest.mark.parametrize("length", [str(10**10), str(10**12), "9" * 5000, "1" + "0" * 4999])
def test_a_body_too_large_to_wait_for_is_413(stack: RunningStack, part: str, length: str) -> None:
    status, body, took = refused_length(stack, part, length)
    assert status == 413 and took < 2
    assert error_code(part, body) == (413 if part == "sandbox" else "payload_too_large")


@pytest.mark.parametrize("part", BODY_READERS)
@pytest.mark.parametrize("length", ["-1", "twelve", "1e3", "0x10", "", "0" * 5000 + "5"])
def test_a_content_length_that_is_no_length_is_400(stack: RunningStack, part: str, length: str) -> None:
    status, body, took = refused_length(stack, part, length)
    assert status == 400 and took < 2
    assert error_code(part, body) == (400 if part == "sandbox" else "request_rejected")


@pytest.mark.parametrize(
    ("size", "status", "code"), [("ffffffffff", 413, "payload_too_large"), ("zz", 400, "request_rejected"), ("-5", 400, "request_rejected")]
)
def test_the_dynamodb_proxy_refuses_a_chunk_it_cannot_read(stack: RunningStack, size: str, status: int, code: str) -> None:
    request = f"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\n".encode()
    answered, body = raw_exchange(stack, "dynamodb", request, timeout=5)
    assert answered == status and body["error"]["code"] == code  # type: ignore[index]
