"""`make dev`'s inspector: one page of recent messages with their status timeline and
events, media links, failed sends, and the sandbox's requests and status callbacks.

    python -m devstack.inspector --port 8007 --dynamodb URL --aws URL --sandbox URL --outbound URL [--data-dir DIR]

GET / is the page; GET /live is its content alone, which the page's script fetches every
second; GET /health answers 200. Everything is read when a page is asked for.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.inspector.page import live, page
from devstack.inspector.sources import Sources


def _policy(nonce: str) -> str:
    """Only the page's own script runs, whatever a message body holds; it may fetch /live."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'"
    )


class Handler(BaseHTTPRequestHandler):
    server: InspectorServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        nonce = secrets.token_urlsafe(16)
        if path == "/health":
            self._send(200, "text/plain; charset=utf-8", "ok", nonce)
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", page(self.server.sources.snapshot(), self.server.outbound_url, nonce), nonce)
        elif path == "/live":
            self._send(200, "text/html; charset=utf-8", live(self.server.sources.snapshot(), self.server.outbound_url), nonce)
        else:
            self._send(404, "text/plain; charset=utf-8", "not found: / is the inspector", nonce)

    def _send(self, status: int, content_type: str, text: str, nonce: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", _policy(nonce))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        # The page polls /live every second: one line per poll would bury the stack's output.
        if str(code) not in ("200", "304"):
            sys.stdout.write(f"{self.command} {self.path.split('?', 1)[0]} {code}\n")
            sys.stdout.flush()


class InspectorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sources: Sources, outbound_url: str) -> None:
        super().__init__(address, Handler)
        self.sources = sources
        self.outbound_url = outbound_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8007)
    parser.add_argument("--dynamodb", default="http://127.0.0.1:8000")
    parser.add_argument("--aws", default="http://127.0.0.1:8005")
    parser.add_argument("--sandbox", default="http://127.0.0.1:8004")
    parser.add_argument("--outbound", default="http://127.0.0.1:8003")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the events read here across restarts")
    args = parser.parse_args(argv)
    sources = Sources(args.dynamodb, args.aws, args.sandbox, args.data_dir)
    server = InspectorServer((args.host, args.port), sources, args.outbound)
    server.serve_forever()
    return 0
