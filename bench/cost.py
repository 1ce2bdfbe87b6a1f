"""Cost at scale, on paper, from what this run measured.

DynamoDB units come from the real items' sizes (a message with its history grown through a
whole lifecycle) and the calls each event makes; Lambda time from the measured handler
overhead, scaled to the function's memory, plus the waits no machine here can measure (AWS's
DynamoDB and Twilio's API, stated below as assumptions). Prices are AWS's public on-demand
list prices for us-east-1 on PRICE_DATE; check them before you budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.measure import Call, Result

PRICE_DATE = "2025-06-01"
PRICES = {  # US dollars per million of each unit, us-east-1, on-demand
    "dynamodb_write_unit": 0.625,  # since the 2024-11-01 on-demand price cut
    "dynamodb_read_unit": 0.125,
    "lambda_request": 0.20,
    "lambda_gb_second_arm64": 13.3334,  # $0.0000133334 per GB-second
    "api_gateway_rest_request": 3.50,  # first 333 million a month
    "eventbridge_custom_event": 1.00,  # the hand-off's one event per message or status change
}
MEMORY_MB = {"inbound": 512, "status": 512, "send": 1024}  # infra/roots/*/main.tf
FULL_VCPU_MB = 1769  # Lambda gives a function one vCPU at 1,769 MB, a share of one below it
DYNAMODB_MS = 5.0  # assumption: one in-region DynamoDB request, single-digit ms at p50
TWILIO_CREATE_MS = 250.0  # assumption: Twilio's Messages create, answered from us-east-1


@dataclass(frozen=True)
class Event:
    name: str
    calls: list[Call]
    item: dict[str, Any]  # the stored item at its usual size, low-level DynamoDB JSON
    overhead_ms: float  # handler p50 minus the raw requests' p50, measured on this machine
    waits_ms: float  # what the function waits for that is not our code


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for one attribute value (its documented item-size rules)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = Decimal(inner).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(v.encode() if isinstance(v, str) else v) for v in inner)
    if kind == "NS":
        return sum(attribute_size({"N": v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def units(event: Event, optout_item_bytes: int = 100) -> tuple[float, float]:
    """Write and read request units one event uses."""
    kb = math.ceil(item_size(event.item) / 1024)
    writes = reads = 0.0
    for operation, params in event.calls:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            writes += kb
        elif operation == "TransactWriteItems":
            writes += 2 * sum(kb for _ in params["TransactItems"])
        elif operation == "GetItem":
            size_kb = math.ceil(optout_item_bytes / 4096)
            reads += size_kb if params.get("ConsistentRead") else size_kb / 2
    return writes, reads


def dollars_per_million(event: Event) -> tuple[float, float, float, dict[str, float]]:
    memory = MEMORY_MB[event.name]
    lambda_ms = max(0.0, event.overhead_ms) * max(1.0, FULL_VCPU_MB / memory) + event.waits_ms
    billed_ms = math.ceil(lambda_ms)
    writes, reads = units(event)
    parts = {
        "dynamodb": writes * PRICES["dynamodb_write_unit"] + reads * PRICES["dynamodb_read_unit"],
        "lambda": PRICES["lambda_request"] + billed_ms / 1000 * memory / 1024 * PRICES["lambda_gb_second_arm64"],
        "api_gateway": PRICES["api_gateway_rest_request"],
        "eventbridge": PRICES["eventbridge_custom_event"] if event.name != "send" else 0.0,
    }
    return writes, reads, lambda_ms, parts


def cost_rows(events: list[Event]) -> list[Result]:
    rows = []
    for event in events:
        writes, reads, lambda_ms, parts = dollars_per_million(event)
        total = sum(parts.values())
        detail = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        rows.append(
            Result(
                f"cost per million {event.name} events, {PRICE_DATE} prices ({detail})",
                total,
                None,
                "USD",
                f"{writes:g} WRU {reads:g} RRU {lambda_ms:.0f} ms",
                True,
            )
        )
        rows.append(
            Result(
                f"stored item size after a {event.name} event's lifecycle",
                item_size(event.item),
                None,
                "bytes",
                "< 400 KB item limit",
                item_size(event.item) < 400 * 1024,
            )
        )
    return rows


def lifecycle_item(ddb: Any, table: str, sid: str, deliver: Any) -> dict[str, Any]:
    """The stored item of `sid` once `deliver` has posted queued, sent and delivered for it."""
    for status in ("queued", "sent", "delivered"):
        deliver(status, sid)
    item: dict[str, Any] = ddb.client().get_item(TableName=table, Key={"sid": {"S": sid}}, ConsistentRead=True)["Item"]
    return item
