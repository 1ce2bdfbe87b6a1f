"""CloudWatch metrics as Embedded Metric Format lines, flushed once per invocation.

EMF is a JSON log line CloudWatch turns into metrics, so it costs no API call and no
library at cold start. Dimensions stay low-cardinality: service, stage, and an error code.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO

NAMESPACE = "OmniTwilioCarrier"

# Every metric the code may emit, with what it counts. Infrastructure tests check that the
# alarms and dashboard cover each; Metrics.add refuses a name missing here.
METRICS: dict[str, str] = {
    "InboundStored": "inbound messages stored for the first time (dimension channel)",
    "InboundDuplicate": "inbound deliveries of an already-stored MessageSid, answered without a write",
    "StatusRecorded": "status callbacks added to a message's history (dimension status, `unknown` for one we do not know)",
    "StatusOutOfOrder": "status callbacks kept in history only: the message had already reached a further status "
    "(the stored status reported again, as the `queued` callback after a send, is not counted)",
    "StatusDuplicate": "redeliveries of a status callback already in the history, answered without a change",
    "StatusUnknownSid": "status callbacks for a SID never stored before, kept as a new message",
    "StatusUnrecognized": "status callbacks with a status Twilio added that the state machine does not know",
    "DeliveryFailed": "messages that reached failed or undelivered (dimension error_code, the taxonomy's code)",
    "WebhookRejected": "webhook or API requests refused with a 4xx/5xx (dimension error_code)",
    "OutboundAccepted": "sends Twilio accepted, written with their SID (dimension channel)",
    "OutboundRejected": "sends refused before or by Twilio with a permanent error (dimension error_code)",
    "OutboundRetrying": "sends that ran out of in-request retries and were stored for the retry worker",
    "OutboundReplayed": "requests answered from an earlier request with the same Idempotency-Key",
    "TwilioRetried": "in-request retries of a Twilio call after a 429, 5xx or timeout (dimension error_code)",
    "RetrySent": "stored failed sends the retry worker got accepted by Twilio",
    "RetryRescheduled": "stored failed sends the retry worker tried again without success and rescheduled",
    "RetryDead": "stored failed sends given up on: attempts exhausted or a permanent error",
    "RedactionDone": "message redactions the retry worker finished at Twilio after a 20009 or no answer",
    "RedactionRescheduled": "message redactions Twilio refused again (20009: not complete yet) or did not answer, rescheduled",
    "RedactionFailed": "message redactions given up at Twilio: past the bound (13 days) or a permanent refusal",
    "FailedMessagesBacklog": "due failed sends the retry worker found waiting when it ran (one page, at most 25)",
    "HandoffPublished": "events the stream consumer put on the bus (dimension event_type)",
    "HandoffFailed": "stream batches stopped at a record that failed, to be retried (dimension error_code: the kind of failure)",
    "OutboundReconciled": "sends whose answer was lost (5xx, read timeout) found at Twilio by listing and adopted, not sent again",
    "OutboundUnknown": "sends Twilio may have sent that no message it holds is certainly theirs: "
    "kept as unknown for a reconciler, never sent again",
    "OutboundUnstored": "sends Twilio accepted whose message write failed; answered with the SID, the callbacks fill the item in",
    "OptOutLearned": "recipients recorded as opted out because Twilio answered 21610 (on a send or in a status callback)",
    "MessagesReconciled": "messages the reconciler found at Twilio and we lacked (inbound, stored) "
    "or held behind (outbound, moved forward); 0 when none (dimension direction beside the total): above 0, webhooks are being lost",
    "ScheduledMessagesMax": "the most messages any one Twilio account holds scheduled, counted by the reconciler's full run "
    "(Twilio refuses to schedule past 500,000 per account)",
    "ReconcileFailed": "accounts the reconciler could not read or write in a run (Twilio or DynamoDB failed, or the tenant's credentials)",
}


@dataclass(frozen=True)
class Fact:
    """One count an outcome stands for: what a core returns, and the app emits."""

    name: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    value: float = 1.0


class Metrics:
    """Counts for one invocation, written as one EMF line per dimension set by flush()."""

    def __init__(self, service: str, stage: str, stream: IO[str] | None = None) -> None:
        self.service = service
        self.stage = stage
        self._stream = stream
        self._counts: dict[tuple[tuple[str, str], ...], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        # Lambda runs one invocation at a time, but chalice local serves requests on threads.
        self._lock = threading.Lock()

    def add(self, name: str, value: float = 1, **dimensions: str) -> None:
        """Count `value` of metric `name` under the service/stage plus `dimensions`."""
        if name not in METRICS:
            raise ValueError(f"metric {name} is not declared in carrier_core.metrics.METRICS")
        key = tuple(sorted(dimensions.items()))
        with self._lock:
            self._counts[key][name] += value

    def emit(self, facts: Iterable[Fact]) -> None:
        """Count every fact of an outcome."""
        for fact in facts:
            self.add(fact.name, fact.value, **fact.dimensions)

    def flush(self) -> None:
        """Write and forget what was counted; a no-op when nothing was."""
        stream = self._stream or sys.stdout
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: defaultdict(float))
        for extra, values in counts.items():
            dims = {"service": self.service, "stage": self.stage, **dict(extra)}
            line = {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": NAMESPACE,
                            # The full set, and service/stage alone when there is more, so
                            # alarms on a service's total need not know every error code.
                            "Dimensions": [sorted(dims)] + ([["service", "stage"]] if extra else []),
                            "Metrics": [{"Name": name, "Unit": "Count"} for name in sorted(values)],
                        }
                    ],
                },
                **dims,
                **values,
            }
            stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        stream.flush()
