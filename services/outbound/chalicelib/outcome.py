"""What one POST /messages came to, and the metrics it counts (the app emits them)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from carrier_core.errors import CarrierError
from carrier_core.metrics import Fact
from carrier_core.vocabulary import Channel


class Kind(str, enum.Enum):
    """How a send ended for the caller."""

    SENT = "sent"  # Twilio has the message: 202 with its SID
    RETRYING = "retrying"  # handed to the retry worker: 202 with our RQ id
    REFUSED = "refused"  # refused here or by Twilio: the error's 4xx
    REPLAYED = "replayed"  # an earlier request with the same Idempotency-Key answered it
    # Twilio may have sent it, no message it holds is certainly this one's (adoption.py):
    # 202 with our RQ id and status unknown, kept for a reconciler, never sent again
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SendOutcome:
    """The resource to answer with, or the error to raise, and what happened on the way."""

    kind: Kind
    resource: dict[str, Any] | None = None
    error: CarrierError | None = None
    retried: tuple[str, ...] = ()  # the error code of each failed attempt that was tried again
    adopted: bool = False  # found at Twilio after a lost answer rather than answered
    stored: bool = True  # the message write succeeded (False: Twilio has it, the table not yet)
    opt_out_learned: bool = False  # Twilio's 21610 was recorded in the opt-out table
    channel: Channel = field(kw_only=True)  # the request's, whatever became of it

    @property
    def sid(self) -> str | None:
        """What an Idempotency-Key's replays answer with: the message, or the retrying send."""
        if self.kind in (Kind.SENT, Kind.RETRYING, Kind.UNKNOWN) and self.resource is not None:
            return str(self.resource["sid"])
        return None


def metrics_for(outcome: SendOutcome) -> list[Fact]:
    """The metrics one send counts; dimensions are closed sets, never a SID or number."""
    metrics = [Fact("TwilioRetried", {"error_code": code}) for code in outcome.retried]
    if outcome.kind is Kind.SENT:
        metrics.append(Fact("OutboundAccepted", {"channel": outcome.channel.value}))
        if outcome.adopted:
            metrics.append(Fact("OutboundReconciled"))
        if not outcome.stored:
            metrics.append(Fact("OutboundUnstored"))
    elif outcome.kind is Kind.RETRYING:
        metrics.append(Fact("OutboundRetrying"))
    elif outcome.kind is Kind.UNKNOWN:
        metrics.append(Fact("OutboundUnknown"))
    elif outcome.kind is Kind.REPLAYED:
        metrics.append(Fact("OutboundReplayed"))
    elif outcome.error is not None:
        metrics.append(Fact("OutboundRejected", {"error_code": outcome.error.code}))
    if outcome.opt_out_learned:
        metrics.append(Fact("OptOutLearned"))
    return metrics
