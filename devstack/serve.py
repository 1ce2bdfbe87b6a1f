"""Serve one service's Chalice app locally: `chalice local`, with a listen backlog fit for load.

`chalice local` binds with http.server's default backlog of 5, so 32 callers that each open
a new connection get resets. This runs the very same LocalGateway and request handler (the
routing and event shape of `chalice local`; API Gateway's own answers in our error shape, see
devstack/gateway.py), loaded with the stage's
configuration exactly as `chalice local --stage local` loads it, on a server whose backlog
holds a burst. It also writes one short line per request instead of http.server's
date-stamped access log.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from chalice.cli.factory import CLIFactory
from chalice.deploy.validate import validate_routes
from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer, ThreadedHTTPServer

from devstack import gateway

ROOT = Path(__file__).resolve().parent.parent
BACKLOG = 1024


class BurstServer(ThreadedHTTPServer):
    """chalice local's threaded server with a listen queue that holds a burst of callers."""

    request_queue_size = BACKLOG


class QuietHandler(ChaliceRequestHandler):
    """chalice local's handler; logs `METHOD path status ms` once per request."""

    # Headers and body leave in separate writes; with Nagle's algorithm on, a keep-alive
    # client can wait for a delayed ACK between them.
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        self._started = time.perf_counter()
        super().handle_one_request()

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        elapsed = (time.perf_counter() - getattr(self, "_started", time.perf_counter())) * 1000
        path = self.path.split("?", 1)[0]
        sys.stdout.write(f"{self.command} {path} {int(code)} {elapsed:.1f}ms\n")
        sys.stdout.flush()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{format % args}\n")


def build_server(project_dir: Path, host: str, port: int, stage: str = "local") -> LocalDevServer:
    """The Chalice app in `project_dir`, loaded the way `chalice local --stage STAGE` loads it."""
    factory = CLIFactory(project_dir=str(project_dir), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)  # as `chalice local` does: what deploy would refuse fails here too
    # What chalice.local.create_local_server does: the app keeps one request per thread.
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=QuietHandler, server_cls=BurstServer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", help="inbound, status or outbound; or any name with --project-dir")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--project-dir", type=Path, default=None, help="a Chalice project other than services/SERVICE")
    args = parser.parse_args(argv)
    # As `chalice local` does: the root logger prints each record's message (ours are JSON).
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    # PynamoDB announces at import that it found no global settings file: true, and noise.
    logging.getLogger("pynamodb").setLevel(logging.WARNING)
    gateway.install()  # unknown paths and methods answered as the deployed API answers them
    server = build_server(args.project_dir or ROOT / "services" / args.service, args.host, args.port, args.stage)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
