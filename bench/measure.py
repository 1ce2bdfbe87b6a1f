"""What every benchmark shares: results, medians, interleaved p50s, DynamoDB capture and replay.

A warm handler is compared with the very DynamoDB requests it makes: one handler call runs
under `captured_dynamodb_calls()`, which records each low-level call (operation and
parameters) botocore is asked to make; the reference then replays those calls, with the
message's SID swapped for a fresh one, through a plain botocore client. Same operations, same
expressions, same item, same DynamoDB Local: the difference is our code.
"""

from __future__ import annotations

import copy
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.client import BaseClient

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Result:
    """One row of `make bench`: a figure, what it is compared with, and the verdict."""

    name: str
    value: float
    reference: float | None
    unit: str
    target: str
    passed: bool
    ratio: float | None = None

    def line(self) -> str:
        ref = f"{self.reference:.4g}" if self.reference is not None else "-"
        ratio = f"{self.ratio:.2f}" if self.ratio is not None else "-"
        verdict = "pass" if self.passed else "MISSED"
        return f"{self.name:<58} {self.value:>10.4g} {ref:>10} {ratio:>6} {self.unit:<9} {self.target:<22} {verdict}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": f"{self.name} ({self.unit})",
            "value": round(self.value, 4),
            "reference": None if self.reference is None else round(self.reference, 4),
            "ratio": None if self.ratio is None else round(self.ratio, 4),
            "target": self.target,
            "pass": self.passed,
        }


HEADER = f"{'measure':<58} {'value':>10} {'reference':>10} {'ratio':>6} {'unit':<9} {'target':<22} verdict"


def at_most(name: str, value: float, reference: float, unit: str, limit: float) -> Result:
    """A figure that passes when value / reference <= limit (a cost: time, size)."""
    ratio = value / reference
    return Result(name, value, reference, unit, f"ratio <= {limit:g}", ratio <= limit, ratio)


def at_least(name: str, value: float, reference: float, unit: str, limit: float) -> Result:
    """A figure that passes when value / reference >= limit (a rate)."""
    ratio = value / reference
    return Result(name, value, reference, unit, f"ratio >= {limit:g}", ratio >= limit, ratio)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def p50_ms(run: Callable[[int], None], count: int, start: int = 0) -> float:
    samples = []
    for i in range(start, start + count):
        began = time.perf_counter()
        run(i)
        samples.append(time.perf_counter() - began)
    return median(samples) * 1000


def compare_p50(handle: Callable[[int], None], reference: Callable[[int], None], count: int, block: int = 25) -> tuple[float, float]:
    """p50 of `handle` and of `reference` in ms, interleaved in blocks so drift hits both."""
    handler_ms, reference_ms = [], []
    for start in range(0, count, block):
        size = min(block, count - start)
        handler_ms.append(p50_ms(handle, size, start))
        reference_ms.append(p50_ms(reference, size, start))
    return median(handler_ms), median(reference_ms)


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


@contextmanager
def captured_dynamodb_calls() -> Iterator[list[Call]]:
    """Record every DynamoDB call any botocore client makes inside the block."""
    calls: list[Call] = []
    original = BaseClient._make_api_call

    def capture(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls.append((operation_name, copy.deepcopy(api_params)))
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = capture
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original


def substitute(value: Any, old: str, new: str) -> Any:
    """`value` with every occurrence of the string `old` replaced by `new`, at any depth."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {key: substitute(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, old, new) for item in value]
    return value


def replayer(client: Any, calls: list[Call], sid: str, others: Sequence[str]) -> Callable[[int], None]:
    """A function that makes `calls` again through `client`, call i for the SID `others[i]`
    instead of `sid`. Each call's parameters are built beforehand, as the handler's events are,
    so neither side's timing includes building its input."""
    methods = [getattr(client, xform_name(operation)) for operation, _ in calls]
    prepared = [[substitute(params, sid, other) for _, params in calls] for other in others]

    def replay(i: int) -> None:
        for method, params in zip(methods, prepared[i]):
            method(**params)

    return replay
