"""A media server that misbehaves on purpose, on 127.0.0.1 only: it trickles bytes, cuts
a body short of its Content-Length, sends lengths int() misreads, and records who sent
credentials. Every loop is bounded by the body's length and stops when the server does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast


@dataclass(frozen=True)
class Reply:
    """What one path answers; `headers` override the computed ones (values go out as latin-1)."""

    body: bytes
    content_type: str = "application/pdf"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    send_bytes: int | None = None  # stop after this many bytes and close: a cut connection
    trickle_seconds: float = 0.0  # the pause before each byte


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None


class HostileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def serve(self, path: str, reply: Reply) -> str:
        self.replies[path] = reply
        return self.url(path)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, with_body: bool) -> None:
        server = cast(HostileServer, self.server)
        server.seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
        reply = server.replies.get(self.path)
        if reply is None or self.command == "DELETE":
            self.send_response(404 if reply is None else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(reply.status)
        headers = {"Content-Type": reply.content_type, "Content-Length": str(len(reply.body)), **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        if with_body:
            self._write(server, reply)
        self.close_connection = True

    def _write(self, server: HostileServer, reply: Reply) -> None:
        body = reply.body[: reply.send_bytes] if reply.send_bytes is not None else reply.body
        step = 1 if reply.trickle_seconds else len(body) or 1
        try:
            for start in range(0, len(body), step):
                if reply.trickle_seconds and server.stopping.wait(reply.trickle_seconds):
                    return
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
        except OSError:
            return  # the client gave up

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._answer(with_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer(with_body=False)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    server = HostileServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
