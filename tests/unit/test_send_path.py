"""The send reads as one line: following POST /messages through the code enters each of the
outbound service's concept modules once, in the order the send takes its steps.

Traced, not read: every call that the orchestrating code (the route in app.py, the steps in
send.py) makes into another chalicelib module is recorded by module, in order. A method of
a value a step was handed (the parsed request, the prepared media, the Idempotency-Key's
ledger) reads that value rather than entering a step, so it is not a stay.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from tests.support.outbound import CUSTOMER, Outbound, outbound, twilio  # noqa: F401

OUTBOUND = Path(__file__).resolve().parents[2] / "services" / "outbound"
# Where the send is orchestrated: the route and the steps' core.
ORCHESTRATORS = frozenset({OUTBOUND / "app.py", OUTBOUND / "chalicelib" / "send.py"})
# Each step's module, in the order a send enters it (send.py's docstring says why).
SMS_WITH_KEY = ["request", "idempotency", "send", "optouts", "window", "retry", "twilio_client", "messages", "accepted", "outcome"]
MMS = ["request", "idempotency", "send", "optouts", "window", "media", "retry", "twilio_client", "messages", "accepted", "outcome"]


def stays(run: Callable[[], Any], package: Path = OUTBOUND / "chalicelib", orchestrators: frozenset[Path] = ORCHESTRATORS) -> list[str]:
    """The modules of `package` the orchestrators call into while `run` runs, in order, a
    repeated neighbour folded into one stay."""
    ledger_reads = {name for name in vars(ledger_protocol()) if not name.startswith("_")}
    modules: list[str] = []

    def on_call(frame: FrameType, event: str, arg: object) -> None:
        callee = Path(frame.f_code.co_filename)
        caller = frame.f_back
        if event != "call" or callee.parent != package or caller is None:
            return None
        if Path(caller.f_code.co_filename) not in orchestrators or Path(caller.f_code.co_filename) == callee:
            return None
        value = dataclasses.is_dataclass(frame.f_locals.get("self"))
        if value or (callee.stem == "idempotency" and frame.f_code.co_name in ledger_reads):
            return None
        if not modules or modules[-1] != callee.stem:
            modules.append(callee.stem)
        return None

    sys.settrace(on_call)  # returns no local tracer: calls only
    try:
        run()
    finally:
        sys.settrace(None)
    return modules


def ledger_protocol() -> type:
    """The Ledger protocol the send is handed: its methods are the ledger's reads."""
    idempotency = sys.modules.get("chalicelib.idempotency")
    ledger: type = idempotency.Ledger if idempotency is not None else object
    return ledger


@pytest.mark.parametrize(
    ("payload", "key", "expected"),
    [
        ({"to": CUSTOMER, "body": "Your code is 1234"}, "key-1", SMS_WITH_KEY),
        ({"to": CUSTOMER, "body": "Your photo", "media_urls": ["https://example.com/a.jpg"]}, None, MMS),
    ],
    ids=["sms-with-key", "mms"],
)
def test_a_send_enters_each_concept_module_once_in_order(
    outbound: Outbound, payload: dict[str, Any], key: str | None, expected: list[str]
) -> None:
    outbound.post({"to": CUSTOMER, "body": "warm up"})  # imports and clients, out of the trace
    answers: list[Any] = []
    traced = stays(lambda: answers.append(outbound.post(payload, key=key)))
    assert answers[0].status_code == 202, answers[0].body
    assert traced == expected
    assert len(traced) == len(set(traced)), "a module the send had left was entered again"


def test_the_trace_counts_a_return_to_a_module_already_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: an orchestrator that goes a -> b -> a is three stays."""
    package = tmp_path / "steps"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def first():\n    return 1\n\ndef again():\n    return 3\n")
    (package / "b.py").write_text("def second():\n    return 2\n")
    (package / "core.py").write_text("from steps import a, b\n\ndef run():\n    return a.first() + b.second() + a.again()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    core = importlib.import_module("steps.core")
    assert stays(core.run, package, frozenset({package / "core.py"})) == ["a", "b", "a"]
