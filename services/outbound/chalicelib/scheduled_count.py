"""How many messages each Twilio account holds scheduled, against Twilio's limit.

Twilio keeps at most 500,000 scheduled messages per account and refuses to schedule more
(https://www.twilio.com/docs/messaging/features/message-scheduling). Nothing in Twilio's API
counts them, so the reconciler's full run (every 5 minutes) counts ours: a scan of the
messages table's sparse `scheduled` index (only sends that were ever scheduled have its key),
keeping those still `scheduled`, reading the tenant alone, and adding up per account (two
tenants on one account share its limit). The metric `ScheduledMessagesMax` is the largest
account's count; its alarm fires well before the limit. A scan the Lambda's time cuts short
emits what it counted, a lower bound, and says so in the report.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import ScanError

from carrier_core.errors import CarrierError
from carrier_core.metrics import Fact
from carrier_core.models import MessageModel
from carrier_core.status.machine import MessageStatus
from carrier_core.storage import storage_error
from carrier_core.tenants import TenantDirectory, tenant_of

log = logging.getLogger(__name__)

LIMIT = 500_000
# An account past this share of the limit is logged as a warning on every count.
WARN_SHARE = 0.8
# The scan stops for the Lambda's end with this many seconds left.
MARGIN = 2.0


@dataclass
class ScheduledCount:
    """Scheduled messages per Twilio account SID (a tenant whose account is unknown now: by
    its tenant id), and whether the whole index was read."""

    by_account: dict[str, int] = field(default_factory=dict)
    complete: bool = True

    @property
    def largest(self) -> int:
        return max(self.by_account.values(), default=0)

    @property
    def metrics(self) -> list[Fact]:
        return [Fact("ScheduledMessagesMax", value=float(self.largest))]

    def as_dict(self) -> dict[str, Any]:
        return {"by_account": dict(self.by_account), "largest": self.largest, "limit": LIMIT, "complete": self.complete}


def count_scheduled(tenants: TenantDirectory, time_left: Callable[[], float]) -> ScheduledCount:
    """Count the messages still scheduled, per account."""
    by_tenant: Counter[str] = Counter()
    result = ScheduledCount()
    scan = MessageModel.scheduled.scan(
        filter_condition=MessageModel.status == MessageStatus.SCHEDULED.value, attributes_to_get=["sid", "tenant"]
    )
    try:
        for item in scan:
            if time_left() < MARGIN:
                result.complete = False
                break
            by_tenant[tenant_of(item.tenant)] += 1
    except ScanError as exc:
        raise storage_error(exc) from exc
    by_account: Counter[str] = Counter()
    for tenant, count in by_tenant.items():
        try:
            account = tenants.settings_for(tenant).account.account_sid
        except CarrierError:
            account = tenant  # a tenant removed since: still counted, under its id
        by_account[account] += count
    result.by_account = dict(by_account)
    for account, count in by_account.items():
        level = logging.WARNING if count >= WARN_SHARE * LIMIT else logging.INFO
        log.log(level, "scheduled messages counted", extra={"account_sid": account, "scheduled": count, "limit": LIMIT})
    return result
