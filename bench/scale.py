"""Inbound p50 as the messages table grows: 1k, 10k and 100k stored messages."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from bench.local import DynamoDB, load_service, webhook_event
from bench.measure import Result, at_most, compare_p50

SIZES = (1_000, 10_000, 100_000)
SCALE_LIMIT = 1.2
LOADERS = 4
# Requests before the first figure: a fresh JVM is still compiling after a few hundred.
WARM_UP = 2000
REFERENCE_TABLE = "omni-twilio-bench-reference"


def batch_write(client: Any, table: str, writes: list[dict[str, Any]]) -> None:
    """One BatchWriteItem of up to 25 `writes`, again with whatever DynamoDB left unprocessed."""
    while writes:
        left = client.batch_write_item(RequestItems={table: writes}).get("UnprocessedItems", {})
        writes = left.get(table, [])


def fill(ddb: DynamoDB, table: str, item: dict[str, dict[str, str]], count: int) -> None:
    """Add `count` copies of `item`, each under a SID of its own, 25 to a BatchWriteItem."""

    def load(batches: int) -> None:
        client = ddb.client()
        for _ in range(batches):
            batch_write(client, table, [{"PutRequest": {"Item": {**item, "sid": {"S": "SM" + uuid.uuid4().hex}}}} for _ in range(25)])

    batches = count // 25
    with ThreadPoolExecutor(LOADERS) as pool:
        list(pool.map(load, [batches // LOADERS + (1 if i < batches % LOADERS else 0) for i in range(LOADERS)]))


def inbound_at_scale(ddb: DynamoDB, samples: int) -> list[Result]:
    """The inbound handler's p50 at each size, each beside a reference that does not grow.

    The sizes are measured one after the other (a table cannot shrink back to 1k), so the
    machine may be faster or slower at one step than at another. Each step therefore
    interleaves the handler with a raw PutItem of the same item that overwrites one key of
    a one-item table, and the steps are compared by handler / reference: what grows with
    the stored messages, without what the machine did meanwhile.
    """
    from tests.support.forms import sms

    module = load_service("inbound", ddb.direct)
    settings = module.runtime.settings
    url, token, handler = settings.account.inbound_webhook_url, settings.account.auth_token, module.app

    from chalicelib.message import InboundMessage  # the chalicelib load_service imported
    from chalicelib.store import item_fields

    from carrier_core.models import MessageModel
    from carrier_core.writes import values

    item = values(MessageModel, item_fields(InboundMessage.from_form(sms()), settings))
    client = ddb.client()
    client.create_table(
        TableName=REFERENCE_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "sid", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "sid", "KeyType": "HASH"}],
    )

    def reference(_: int) -> None:
        client.put_item(TableName=REFERENCE_TABLE, Item=item)

    # A fresh DynamoDB Local is slow until the JVM has compiled its hot paths: warm both
    # sides first, or the smallest table would look the slowest. The warm-up's messages are
    # deleted again, so the first step has the size it names.
    warm_up = [sms() for _ in range(WARM_UP)]
    for i, form in enumerate(warm_up):
        handler(webhook_event(url, form, token), None)
        reference(i)
    sids = [dict(form)["MessageSid"] for form in warm_up]
    for start in range(0, len(sids), 25):
        batch_write(client, settings.messages_table, [{"DeleteRequest": {"Key": {"sid": {"S": sid}}}} for sid in sids[start : start + 25]])
    stored, figures = 0, {}
    for size in SIZES:
        fill(ddb, settings.messages_table, item, max(0, size - stored))
        stored = size
        events = [webhook_event(url, sms(), token) for _ in range(samples)]
        figures[size] = compare_p50(partial(run_event, handler, events), reference, samples)
        stored += samples
    rows = [
        Result(
            f"inbound p50 with {size:,} messages stored, vs a one-item PutItem",
            figures[size][0],
            figures[size][1],
            "ms",
            "-",
            True,
            figures[size][0] / figures[size][1],
        )
        for size in SIZES
    ]
    (first, first_ref), (last, last_ref) = figures[SIZES[0]], figures[SIZES[-1]]
    return rows + [
        at_most(
            f"inbound p50 with {SIZES[-1]:,} stored vs {SIZES[0]:,}, each over its reference",
            last / last_ref,
            first / first_ref,
            "x",
            SCALE_LIMIT,
        )
    ]


def run_event(handler: Any, events: list[Any], i: int) -> Any:
    """The handler on the i-th of this step's events (bound per step, not per loop)."""
    return handler(events[i], None)
