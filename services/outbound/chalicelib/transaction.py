"""A transaction of ours with another item's write, and what a cancelled one tells."""

from __future__ import annotations

from typing import Protocol

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from carrier_core.models import OptOutModel
from carrier_core.storage import response_code
from carrier_core.writes import Transaction


class Companion(Protocol):
    """Another item's write that must land in the same transaction as one of ours (an
    Idempotency-Key's claim with the opt-out check, its completion with the message)."""

    def add_to(self, tx: TransactWrite) -> None:
        """Add the write to `tx`, last."""

    def landed(self) -> None:
        """Called once the transaction holding it committed."""


class CompanionRefused(Exception):
    """The companion's own condition failed, so nothing was written."""


def transaction() -> Transaction:
    """A TransactWriteItems on the models' connection (every table shares it)."""
    return Transaction(connection=OptOutModel._get_connection().connection)


def failed_conditions(exc: TransactWriteError) -> list[bool] | None:
    """Per item, whether its condition cancelled the transaction; None when it was not
    cancelled by conditions (a timeout, a throttle: nothing is known)."""
    if response_code(exc) != "TransactionCanceledException":
        return None
    reasons = exc.cancellation_reasons or []
    return [reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons]
