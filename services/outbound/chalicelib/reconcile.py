"""The reconciler: every message Twilio has, we have.

Twilio does not retry a webhook we answered 5xx unless its URL asks it to, and even then
gives up; a status callback can be lost the same way. So a scheduled run (app.reconcile,
every 5 minutes) lists each account's Messages sent since its checkpoint (minus OVERLAP, for
clocks and late sent dates), newest first, at most `max_pages` pages a run, and:

- an inbound message we do not have is stored with the inbound webhook's own single
  conditional write (carrier_core.inbound.store_inbound), its history entry's source
  `reconciled`: the stream publishes it as message.received like any other, and the webhook,
  should it still arrive, is a duplicate. An MMS's media are read from the message's Media
  list, so the media re-host copies them as it does a webhook's;
- an outbound message of ours whose status at Twilio is further than ours moves through the
  same forward-only state machine (carrier_core.status.store.record_status), the report's
  source `reconciled`. Nothing ever moves back; a message that is not ours (another tenant's,
  or sent outside this platform) is left alone.

Each account (the default tenant's and every registered tenant's) has its checkpoint in the
tenants table (carrier_core.models.ReconcileCheckpointModel). README.md ("Reconciler").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from pynamodb.exceptions import PynamoDBException
from twilio.base.exceptions import TwilioException

from carrier_core.errors import CarrierError
from carrier_core.inbound import RECONCILED_SOURCE, InboundMessage, store_inbound
from carrier_core.logs import append_keys
from carrier_core.metrics import Fact
from carrier_core.models import MessageModel, ReconcileCheckpointModel, expiry, iso, utc_now
from carrier_core.settings import DEFAULT_TENANT, Settings
from carrier_core.status.machine import loggable_status, rank_of
from carrier_core.status.store import Outcome, StatusReport, record_status
from carrier_core.tenant_scan import registered_tenants
from carrier_core.tenants import RESERVED_KEY_PREFIX, TenantDirectory, tenant_of

from chalicelib.scheduled_count import ScheduledCount, count_scheduled
from chalicelib.twilio_client import get_client

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
# An account read for the first time is read this far back.
FIRST_LOOKBACK = timedelta(hours=1)
PAGE_SIZE = 100
MAX_PAGES = 10
# The time a page usually takes, and more (a list call, a media list per MMS, the writes): no
# account or page is begun with less left. A run cut short by the Lambda's timeout saves no
# checkpoint, so the next run reads the same window again: nothing is lost, nothing doubled.
PAGE_SECONDS = 5.0


def checkpoint_key(account_sid: str) -> str:
    """The tenants-table key of an account's checkpoint: never a tenant id (it has "#" and "/")."""
    return f"{RESERVED_KEY_PREFIX}reconcile/{account_sid}"


@dataclass
class AccountReport:
    """What one account's run found and did."""

    tenant: str
    listed: int = 0
    inbound_stored: int = 0
    outbound_advanced: int = 0
    pages: int = 0
    complete: bool = False
    since: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "listed": self.listed,
            "inbound_stored": self.inbound_stored,
            "outbound_advanced": self.outbound_advanced,
            "pages": self.pages,
            "complete": self.complete,
            "since": self.since,
            "error": self.error,
        }


@dataclass
class ReconcileReport:
    accounts: list[AccountReport] = field(default_factory=list)
    # A full run's count of scheduled messages per account (chalicelib/scheduled_count.py).
    scheduled: ScheduledCount | None = None

    @property
    def reconciled(self) -> int:
        return sum(a.inbound_stored + a.outbound_advanced for a in self.accounts)

    @property
    def metrics(self) -> list[Fact]:
        """MessagesReconciled (0 too, so the alarm's metric always has data), per direction
        beside it, and ReconcileFailed per account whose run failed."""
        facts = [Fact("MessagesReconciled", value=float(self.reconciled))]
        inbound = sum(a.inbound_stored for a in self.accounts)
        outbound = sum(a.outbound_advanced for a in self.accounts)
        facts += [Fact("MessagesReconciled", {"direction": "inbound"}, float(inbound))] if inbound else []
        facts += [Fact("MessagesReconciled", {"direction": "outbound"}, float(outbound))] if outbound else []
        facts += [Fact("ReconcileFailed") for a in self.accounts if a.error is not None]
        return facts + (self.scheduled.metrics if self.scheduled is not None else [])

    def as_dict(self) -> dict[str, Any]:
        scheduled = self.scheduled.as_dict() if self.scheduled is not None else None
        return {"reconciled": self.reconciled, "accounts": [a.as_dict() for a in self.accounts], "scheduled": scheduled}


def reconcile(
    settings: Settings,
    tenants: TenantDirectory,
    time_left: Callable[[], float],
    since: datetime | None = None,
    tenant: str | None = None,
    now: datetime | None = None,
    max_pages: int = MAX_PAGES,
) -> ReconcileReport:
    """Reconcile every account (or only `tenant`'s). `since` reads from that time instead of
    the checkpoint, and then leaves the checkpoint as it is (a run by hand)."""
    now = now or utc_now()
    report = ReconcileReport()
    seen: set[str] = set()
    for name in [tenant] if tenant else [DEFAULT_TENANT, *(str(t.tenant) for t in registered_tenants())]:
        if time_left() < PAGE_SECONDS:
            break
        append_keys(tenant=name)
        account_report = AccountReport(name)
        report.accounts.append(account_report)
        try:
            account_settings = tenants.settings_for(name)
            account_sid = account_settings.account.account_sid
            if account_sid in seen:  # two tenants on one account: it is read once
                continue
            seen.add(account_sid)
            reconcile_account(account_settings, name, account_report, time_left, since, now, max_pages)
        except (CarrierError, PynamoDBException, TwilioException, requests.RequestException) as exc:
            account_report.error = type(exc).__name__
            log.warning("reconcile failed", extra={"error_type": type(exc).__name__})
    if tenant is None:
        try:
            report.scheduled = count_scheduled(tenants, time_left)
        except CarrierError as exc:
            log.warning("scheduled messages not counted", extra={"error_type": type(exc).__name__})
    log.info("reconciled", extra={"reconciled": report.reconciled, "accounts": len(report.accounts)})
    return report


def reconcile_account(
    settings: Settings,
    tenant: str,
    report: AccountReport,
    time_left: Callable[[], float],
    since: datetime | None,
    now: datetime,
    max_pages: int,
) -> None:
    """One account: list from its checkpoint (or `since`), reconcile each page, move the checkpoint."""
    account_sid = settings.account.account_sid
    checkpoint = _checkpoint(account_sid)
    if since is not None:
        lower, upper, target = since, None, now
    else:
        start = _parse(checkpoint.since) if checkpoint else now - FIRST_LOOKBACK
        lower = start - OVERLAP
        upper = _parse(checkpoint.resume_before) if checkpoint and checkpoint.resume_before else None
        target = _parse(checkpoint.target) if checkpoint and checkpoint.target else now
    report.since = iso(lower)
    client, _ = get_client(settings)
    messages = client.api.v2010.accounts(account_sid).messages
    filters: dict[str, Any] = {"date_sent_after": lower}
    if upper is not None:
        filters["date_sent_before"] = upper
    page: Any = messages.page(page_size=PAGE_SIZE, **filters)
    oldest: datetime | None = None
    while True:
        report.pages += 1
        instances = list(page)
        reconcile_page(settings, tenant, instances, report, now)
        sent = [i.date_sent for i in instances if i.date_sent is not None]
        if sent:
            oldest = min([*sent, *([oldest] if oldest else [])])
        page = page.next_page()
        if page is None:
            report.complete = True
            break
        if report.pages >= max_pages or time_left() < PAGE_SECONDS:
            break
    if since is not None:
        return  # a run by hand leaves the scheduled pass's checkpoint alone
    if report.complete:
        _save(account_sid, since=target, resume_before=None, target=None, now=now)
    else:
        # DateSent<= is inclusive and Twilio's dates have whole seconds: the next run reads
        # on from the oldest second reached, so none sent in it is skipped (a repeat changes
        # nothing). It makes progress unless one second holds more than a run's pages.
        resume = oldest if oldest is not None else upper
        _save(account_sid, since=start, resume_before=resume, target=target, now=now)


def reconcile_page(settings: Settings, tenant: str, instances: list[Any], report: AccountReport, now: datetime) -> None:
    """Reconcile one page of Twilio's message resources against what we store."""
    report.listed += len(instances)
    ours = _stored({str(i.sid) for i in instances})
    for instance in instances:
        sid = str(instance.sid)
        direction = str(instance.direction or "")
        item = ours.get(sid)
        if direction == "inbound":
            if item is None and str(instance.status or "") == "received" and _store_inbound(settings, tenant, instance):
                report.inbound_stored += 1
        elif (
            direction.startswith("outbound")
            and item is not None
            and tenant_of(item.tenant) == tenant
            and _advance(settings, instance, item, now)
        ):
            report.outbound_advanced += 1


def _store_inbound(settings: Settings, tenant: str, instance: Any) -> bool:
    """Store a message Twilio received and we never stored; True when this write stored it."""
    try:
        message = InboundMessage.from_form(_form(settings, instance))
    except CarrierError as exc:  # a resource no webhook of it would have passed either
        log.warning("reconcile skipped a message", extra={"message_sid": str(instance.sid), "error_code": exc.code})
        return False
    stored = store_inbound(message, settings, tenant, source=RECONCILED_SOURCE)
    if stored:
        log.info("inbound reconciled", extra={"message_sid": message.message_sid, "channel": message.channel})
    return stored


def _form(settings: Settings, instance: Any) -> list[tuple[str, str]]:
    """The webhook form Twilio would have posted for the message, from its resource."""
    sid = str(instance.sid)
    pairs = [
        ("MessageSid", sid),
        ("AccountSid", str(instance.account_sid or "")),
        ("From", str(instance.from_ or "")),
        ("To", str(instance.to or "")),
        ("Body", str(instance.body or "")),
    ]
    if instance.messaging_service_sid:
        pairs.append(("MessagingServiceSid", str(instance.messaging_service_sid)))
    if instance.num_segments and str(instance.num_segments).isdigit():
        pairs.append(("NumSegments", str(instance.num_segments)))
    media = _media(settings, instance) if str(instance.num_media or "0") not in ("", "0") else []
    pairs.append(("NumMedia", str(len(media))))
    for index, (url, content_type) in enumerate(media):
        pairs += [(f"MediaUrl{index}", url), (f"MediaContentType{index}", content_type)]
    return pairs


def _media(settings: Settings, instance: Any) -> list[tuple[str, str]]:
    """The message's media as its webhook names them: each item's URL (its resource's URI
    without `.json`) and content type, from the message's Media list."""
    client, _ = get_client(settings)
    base = str(client.api.base_url).rstrip("/")
    items = client.api.v2010.accounts(settings.account.account_sid).messages(str(instance.sid)).media.list(limit=10)
    return [(base + str(item.uri).removesuffix(".json"), str(item.content_type or "")) for item in items]


def _advance(settings: Settings, instance: Any, item: MessageModel, now: datetime) -> bool:
    """Move our copy forward to Twilio's status when Twilio's is further; True when it moved."""
    status = str(instance.status or "")
    rank = rank_of(status)
    if rank is None or (item.status_rank is not None and rank <= int(item.status_rank)):
        return False
    error_code = int(instance.error_code) if instance.error_code not in (None, "") else None
    report = StatusReport(status=status, at=now, source=RECONCILED_SOURCE, error_code=error_code)
    recorded = record_status(str(instance.sid), report, expiry(settings, now))
    if recorded.outcome is Outcome.ADVANCED:
        log.info(
            "outbound reconciled",
            extra={
                "message_sid": str(instance.sid),
                "stored_status": loggable_status(item.status),
                "reported_status": loggable_status(status),
            },
        )
        return True
    return False


def _stored(sids: Iterable[str]) -> dict[str, MessageModel]:
    """The messages among `sids` we store, by SID (status, rank and tenant only)."""
    keys = sorted(sids)
    if not keys:
        return {}
    names = ["sid", "tenant", "direction", "status", "status_rank"]
    attributes = [getattr(MessageModel, n).attr_name for n in names]
    return {str(item.sid): item for item in MessageModel.batch_get(keys, attributes_to_get=attributes)}


def _checkpoint(account_sid: str) -> ReconcileCheckpointModel | None:
    try:
        return ReconcileCheckpointModel.get(checkpoint_key(account_sid), consistent_read=True)
    except ReconcileCheckpointModel.DoesNotExist:
        return None


def _save(account_sid: str, since: datetime, resume_before: datetime | None, target: datetime | None, now: datetime) -> None:
    ReconcileCheckpointModel(
        checkpoint_key(account_sid),
        account_sid=account_sid,
        since=iso(since),
        resume_before=iso(resume_before) if resume_before else None,
        target=iso(target) if target else None,
        updated_at=iso(now),
    ).save()


def _parse(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
