"""Inbound p50 as the messages table grows: 1k, 10k and 100k stored messages."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from bench.local import DynamoDB, load_service, webhook_event
from bench.measure import Result, at_most, p50_ms

SIZES = (1_000, 10_000, 100_000)
SCALE_LIMIT = 1.2
LOADERS = 4
# Handler calls before the first figure: a fresh JVM is still compiling after a few hundred.
WARM_UP = 2000


def fill(ddb: DynamoDB, table: str, item: dict[str, dict[str, str]], count: int) -> None:
    """Add `count` copies of `item`, each under a SID of its own, 25 to a BatchWriteItem."""

    def load(batches: int) -> None:
        client = ddb.client()
        for _ in range(batches):
            writes = [{"PutRequest": {"Item": {**item, "sid": {"S": "SM" + uuid.uuid4().hex}}}} for _ in range(25)]
            while writes:
                left = client.batch_write_item(RequestItems={table: writes}).get("UnprocessedItems", {})
                writes = left.get(table, [])

    batches = count // 25
    with ThreadPoolExecutor(LOADERS) as pool:
        list(pool.map(load, [batches // LOADERS + (1 if i < batches % LOADERS else 0) for i in range(LOADERS)]))


def inbound_at_scale(ddb: DynamoDB, samples: int) -> list[Result]:
    from tests.support.forms import sms

    module = load_service("inbound", ddb.direct)
    settings = module.runtime.settings
    url, token, handler = settings.inbound_webhook_url, settings.auth_token, module.app

    from chalicelib.message import InboundMessage  # the chalicelib load_service imported
    from chalicelib.store import item_fields

    from carrier_core.models import MessageModel
    from carrier_core.writes import values

    item = values(MessageModel, item_fields(InboundMessage.from_form(sms()), settings))
    # A fresh DynamoDB Local is slow until the JVM has compiled its hot paths: warm it first,
    # or the smallest table would look the slowest.
    warm_up = [webhook_event(url, sms(), token) for _ in range(WARM_UP)]
    for event in warm_up:
        handler(event, None)
    stored, figures = len(warm_up), {}
    for size in SIZES:
        fill(ddb, settings.messages_table, item, max(0, size - stored))
        stored = size
        events = [webhook_event(url, sms(), token) for _ in range(samples)]
        figures[size] = p50_ms(lambda i: handler(events[i], None), samples)
        stored += samples
    first, last = figures[SIZES[0]], figures[SIZES[-1]]
    rows = [Result(f"inbound p50 with {size:,} messages stored", figures[size], None, "ms", "-", True) for size in SIZES[:-1]]
    return rows + [at_most(f"inbound p50 with {SIZES[-1]:,} stored vs {SIZES[0]:,}", last, first, "ms", SCALE_LIMIT)]
