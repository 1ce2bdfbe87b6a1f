"""The AWS emulator: moto server, plus a count of the DynamoDB requests it served.

The count (GET /_devstack/requests, DELETE to reset) lets the end-to-end tests and the
benchmarks prove how many DynamoDB requests an event costs, from outside the services.
"""
from __future__ import annotations

import argparse
import json
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any, Callable

from moto.moto_server.threaded_moto_server import MotoRequestHandler  # type: ignore[attr-defined]
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

STATS_PATH = "/_devstack/requests"

StartResponse = Callable[..., Any]


class CountingApp:
    """WSGI middleware counting requests by X-Amz-Target (e.g. DynamoDB_20120810.PutItem)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.dynamodb_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH:
            return self.stats(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            with self.lock:
                self.counts[target] += 1
        if target and target.startswith("DynamoDB"):
            # DynamoDB applies each write to an item atomically, condition and all; moto
            # checks a condition and then mutates the item without a lock, so two concurrent
            # UpdateItems on one item can both pass, or the second creation of an item can
            # replace the first. The services' conditional writes rely on that atomicity, so
            # DynamoDB requests are served one at a time. Each is a few milliseconds.
            with self.dynamodb_lock:
                return list(self.app(environ, start_response))
        result: Iterable[bytes] = self.app(environ, start_response)
        return result

    def stats(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with self.lock:
            body = json.dumps(dict(self.counts)).encode()
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.counts.clear()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
