"""The AWS emulator: moto server, plus a count of the DynamoDB requests it served.

The count (GET /_devstack/requests, DELETE to reset) lets the end-to-end tests and the
benchmarks prove how many DynamoDB requests an event costs, from outside the services.
POST /_devstack/faults `{"target": "UpdateItem", "table": name, "count": N, "delay": s}`
holds the next N such requests naming that table (a transaction: in any item) for `delay` seconds and then answers a 500 without
applying them, so a client with a shorter read timeout sees DynamoDB time out (DELETE
clears it); it is how the end-to-end tests make a write fail after Twilio accepted.
"""
from __future__ import annotations

import argparse
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, Callable

from moto.moto_server.threaded_moto_server import MotoRequestHandler  # type: ignore[attr-defined]
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

STATS_PATH = "/_devstack/requests"
FAULTS_PATH = "/_devstack/faults"

StartResponse = Callable[..., Any]


class CountingApp:
    """WSGI middleware counting requests by X-Amz-Target (e.g. DynamoDB_20120810.PutItem)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.dynamodb_lock = threading.Lock()
        self.fault: dict[str, Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == STATS_PATH:
            return self.stats(environ, start_response)
        if environ.get("PATH_INFO") == FAULTS_PATH:
            return self.faults(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            with self.lock:
                self.counts[target] += 1
        delay = self._take_fault(environ, target) if target and self.fault is not None else None
        if delay is not None:
            # Outside the DynamoDB lock: a held request must not stall every other one.
            time.sleep(delay)
            body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}'
            start_response("500 Internal Server Error", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
            return [body]
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

    def _take_fault(self, environ: dict[str, Any], target: str) -> float | None:
        """The delay of the armed fault when it takes this request (counted down), else None.
        Reads the body to see the table, then puts it back for moto."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        with self.lock:
            fault = self.fault
            if fault is None or not target.endswith("." + fault["target"]):
                return None
            if fault["table"] not in _table_names(json.loads(body or b"{}")):
                return None
            fault["count"] -= 1
            if fault["count"] <= 0:
                self.fault = None
            return float(fault["delay"])

    def faults(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD")
        with self.lock:
            if method == "POST":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
                self.fault = {"target": str(spec["target"]), "table": str(spec["table"]), "count": int(spec.get("count", 1)), "delay": float(spec.get("delay", 0))}
            elif method == "DELETE":
                self.fault = None
            body = json.dumps(self.fault).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def stats(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        with self.lock:
            body = json.dumps(dict(self.counts)).encode()
            if environ.get("REQUEST_METHOD") == "DELETE":
                self.counts.clear()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _table_names(value: Any) -> set[str]:
    """Every TableName in a request: one for an item request, one per item of a transaction."""
    if isinstance(value, dict):
        names = {str(value["TableName"])} if "TableName" in value else set()
        return names.union(*(_table_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_table_names(v) for v in value))
    return set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    app = CountingApp(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
