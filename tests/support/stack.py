"""Drive the real local stack over HTTP: start it, post signed webhooks, read its tables."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from carrier_core.settings import LOCAL_AUTH_TOKEN
from devstack.stack import ROOT, Layout, Stack
from tests.support.webhooks import FORM_HEADERS, signed_form

__all__ = ["FORM_HEADERS", "RunningStack", "replay_dlq", "run_stack", "wait_for"]
# The local stack's fake AWS identity: never real credentials.
LOCAL_AWS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class RunningStack:
    layout: Layout
    log_path: Path
    http: requests.Session
    stack: Stack

    def url(self, name: str, path: str = "") -> str:
        return self.layout.url(name) + path

    def webhook_url(self, service: str) -> str:
        return self.url(service, f"/twilio/{service}")

    def post_webhook(
        self,
        service: str,
        pairs: Sequence[tuple[str, str]],
        token: str = LOCAL_AUTH_TOKEN,
        signed_url: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> requests.Response:
        """POST a form to /twilio/<service> plus `query` (`?flag`, a number's webhook URL with a
        query of its own), signed by RequestValidator for that URL unless told otherwise."""
        url = self.webhook_url(service) + query
        body, all_headers = signed_form(signed_url or url, pairs, token, signature, headers)
        return self.http.post(url, data=body, headers=all_headers, timeout=30)

    def raw_exchange(self, service: str, request: bytes, timeout: float = 10) -> tuple[int, bytes]:
        """Send bytes no HTTP client library would (a raw 0xb2 in the path, a bad method);
        the status and the body. The request should say `Connection: close`, or the server
        close the connection after its answer."""
        port = int(self.url(service).rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def get_message(self, sid: str) -> requests.Response:
        return self.http.get(self.url("outbound", f"/messages/{sid}"), timeout=10)

    def client(self, service: str) -> Any:
        """A client of DynamoDB Local (DynamoDB and DynamoDB Streams)."""
        return boto3.client(service, endpoint_url=self.url("dynamodb"), **LOCAL_AWS)

    def table(self, name: str = "messages") -> Any:
        resource = boto3.resource("dynamodb", endpoint_url=self.url("dynamodb"), **LOCAL_AWS)
        return resource.Table(f"omni-twilio-local-{name}")

    def dynamodb_requests(self, reset: bool = False) -> dict[str, int]:
        """What DynamoDB Local served (counted by its proxy), by X-Amz-Target; `reset` clears the count after reading."""
        method = self.http.delete if reset else self.http.get
        counts: dict[str, int] = method(self.url("dynamodb", "/_devstack/requests"), timeout=10).json()
        # The stream poller reads the streams all along, and its workers (the media re-host)
        # write on their own schedule; those are not the services' requests.
        return {target: n for target, n in counts.items() if not target.startswith(("DynamoDBStreams", "Worker."))}

    def start_count(self) -> None:
        """Count DynamoDB requests from now, once the sandbox has sent every status callback it
        booked: the status service's writes for earlier messages would join the count."""

        def settled() -> bool:
            return bool(self.http.get(self.url("sandbox", "/_sandbox/pending"), timeout=10).json()["steps"] == 0)

        assert wait_for(settled, timeout=30), "the sandbox still had callbacks to send"
        self.dynamodb_requests(reset=True)

    def aws_client(self, service: str) -> Any:
        """A client of the stack's second moto server (EventBridge, SQS, S3)."""
        return boto3.client(service, endpoint_url=self.url("aws"), **LOCAL_AWS)

    def stream_records(self, table: str = "messages") -> list[dict[str, Any]]:
        """Every record on the table's stream, from the trim horizon of each shard."""
        arn = self.client("dynamodb").describe_table(TableName=f"omni-twilio-local-{table}")["Table"]["LatestStreamArn"]
        streams = self.client("dynamodbstreams")
        records: list[dict[str, Any]] = []
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
                "ShardIterator"
            ]
            while iterator:
                page = streams.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(page["Records"])
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        return records

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_stack(tmp_dir: Path) -> Iterator[RunningStack]:
    """Start the whole stack on E2E_PORT_BASE (18000 by default, beside a `make dev`)."""
    layout = Layout(int(os.environ.get("E2E_PORT_BASE", "18000")), tmp_dir / "data", dynamodb_in_memory=True)
    log_path = tmp_dir / "stack.log"
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    with log_path.open("wb") as log:
        stack = Stack(layout, output=log)
        try:
            stack.start()
            yield RunningStack(layout, log_path, requests.Session(), stack)
        finally:
            stack.stop()


def replay_dlq(stack: RunningStack) -> dict[str, int]:
    """What `make replay-dlq STAGE=local` runs, against this stack; its report."""
    env = {**os.environ, "DEVSTACK_PORT_BASE": str(stack.layout.base), "DEVSTACK_DATA_DIR": str(stack.layout.data_dir)}
    done = subprocess.run([sys.executable, "-m", "devstack.replay"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    report: dict[str, int] = json.loads(done.stderr.strip().splitlines()[-1])
    return report


def wait_for(predicate: Any, timeout: float = 10, interval: float = 0.1) -> Any:
    """Poll until `predicate()` is truthy; returns its value or fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
