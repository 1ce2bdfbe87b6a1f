"""The hand-off consumer of this service's Lambda, and what one batch counts as metrics."""

from __future__ import annotations

from collections import Counter
from functools import cache

from carrier_core.stream.batch import BatchOutcome
from carrier_core.handoff.handler import Handoff, HandoffConfig
from carrier_core.metrics import Fact
from carrier_core.settings import Settings


def metrics_for(outcome: BatchOutcome) -> list[Fact]:
    """Events published by type, and a failed record by kind of failure (never a SID)."""
    by_type = Counter(event.type.value for event in outcome.published)
    metrics = [Fact("HandoffPublished", {"event_type": t}, float(n)) for t, n in sorted(by_type.items())]
    if outcome.error is not None:
        metrics.append(Fact("HandoffFailed", {"error_code": outcome.error.split(":", 1)[0]}))
    return metrics


@cache
def consumer(settings: Settings) -> Handoff:
    """One consumer per cold start; its EventBridge client is built on the first batch."""
    return Handoff(HandoffConfig.from_settings(settings))
