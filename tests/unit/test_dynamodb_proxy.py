"""The DynamoDB proxy against an upstream that closes idle kept-alive connections, as
DynamoDB Local (Jetty) does after 30 s: a request that meets a connection closed before it
goes again on a fresh one; a request that had a byte of its answer is never sent twice."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from devstack import framing
from devstack.dynamodb import HOST, CountingProxy

IDLE_SECONDS = 0.2
REQUEST = (
    b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}"
)
ANSWER = b'{"ok":true}'


class IdleClosingUpstream:
    """An HTTP/1.1 server on a real socket that keeps connections alive, answers each request
    200, and closes a connection idle for IDLE_SECONDS (a FIN, or a reset when `reset`).
    With `answer_bytes`, each connection's second request gets that many bytes of an answer
    and then the connection closes."""

    def __init__(self, reset: bool = False, answer_bytes: int | None = None) -> None:
        self.reset = reset
        self.answer_bytes = answer_bytes
        self.requests = 0
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                try:
                    head = await asyncio.wait_for(framing.read_head(reader), IDLE_SECONDS)
                except TimeoutError:
                    return
                if head is None:
                    return
                _, headers = framing.parse_head(head)
                await framing.read_body(reader, headers, 1 << 20)
                self.requests += 1
                served += 1
                answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s" % (
                    len(ANSWER),
                    ANSWER,
                )
                if self.answer_bytes is not None and served == 2:
                    writer.write(answer[: self.answer_bytes])
                    await writer.drain()
                    return
                writer.write(answer)
                await writer.drain()
        finally:
            if self.reset:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes]:
    writer.write(REQUEST)
    await writer.drain()
    head = await framing.read_head(reader)
    assert head is not None
    status_line, headers = framing.parse_head(head)
    return int(status_line.split()[1]), await framing.read_body(reader, headers, 1 << 20)


def through_proxy(
    upstream: IdleClosingUpstream, client: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[object]]
) -> object:
    """Run `client` on one connection to a proxy in front of `upstream`; what it returns."""

    async def main() -> object:
        behind = await asyncio.start_server(upstream.serve, HOST, 0)
        proxy = CountingProxy(behind.sockets[0].getsockname()[1])
        front = await asyncio.start_server(proxy.serve, HOST, 0)
        async with behind, front:
            reader, writer = await asyncio.open_connection(HOST, front.sockets[0].getsockname()[1])
            try:
                return await client(reader, writer)
            finally:
                writer.close()
                proxy.close_clients()

    return asyncio.run(main())


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "reset"])
def test_a_request_on_a_connection_the_upstream_closed_while_idle_is_sent_again_on_a_fresh_one(reset: bool) -> None:
    upstream = IdleClosingUpstream(reset=reset)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[tuple[int, bytes]]:
        answers = [await exchange(reader, writer)]
        await asyncio.sleep(IDLE_SECONDS * 3)  # the upstream has closed the proxy's connection
        answers.append(await exchange(reader, writer))
        answers.append(await exchange(reader, writer))  # the fresh connection is kept alive
        return answers

    assert through_proxy(upstream, client) == [(200, ANSWER)] * 3
    assert (upstream.requests, upstream.connections) == (3, 2)


@pytest.mark.parametrize("answer_bytes", [1, 20])
def test_a_request_that_had_a_byte_of_its_answer_is_never_sent_again(answer_bytes: int) -> None:
    upstream = IdleClosingUpstream(answer_bytes=answer_bytes)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[int]:
        return [(await exchange(reader, writer))[0] for _ in range(2)]

    assert through_proxy(upstream, client) == [200, 503]
    assert (upstream.requests, upstream.connections) == (2, 1)


def test_a_fresh_connection_that_fails_is_not_tried_again() -> None:
    """Only a kept-alive connection can have gone stale; a new one that fails means DynamoDB
    Local is not serving, and the 503 says so."""
    upstream = IdleClosingUpstream()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream.connections += 1
        writer.close()

    upstream.serve = refuse  # type: ignore[method-assign]

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
        return (await exchange(reader, writer))[0]

    assert through_proxy(upstream, client) == 503
    assert upstream.connections == 1
