"""The inbound media worker: copy each pending item of a new inbound message to the bucket.

Driven by the messages table's stream (the inbound service's `rehost_media` function in
AWS, the local stack's poller here), never by the webhook, which stays one write. Items of
a message download side by side, and so do the messages of a batch, so one item that 404s
for its few seconds, or trickles until its deadline, delays no other.
The results land in one update whose condition is that every item is still `pending`: a
redelivered record finds them finished and writes nothing, and the update that does land
is the one the hand-off turns into `message.received` (carrier_core.handoff.events).
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from pynamodb.exceptions import UpdateError

from carrier_core.stream.batch import BatchOutcome
from carrier_core.handoff.handler import HandoffConfig
from carrier_core.stream.records import Image, StreamRecord
from carrier_core.media.fetch import Fetched, FetchFailed, basic_auth, download
from carrier_core.media.storage import s3_client, stored_url, upload
from carrier_core.models import MediaItem, MessageModel, iso, utc_now
from carrier_core.settings import DEFAULT_TENANT, Settings, TwilioAccount
from carrier_core.tenants import TenantDirectory, tenant_of
from carrier_core.vocabulary import MediaStatus

log = logging.getLogger(__name__)

# Twilio accepts MMS up to 5 MB and WhatsApp documents up to 16 MB.
MAX_INBOUND_BYTES = 20 * 1024 * 1024
# Messages of a batch re-hosted at once, each with up to 10 items side by side.
MESSAGES_AT_ONCE = 8
# Where the account's credentials may go: Twilio's media URLs are all on api.twilio.com
# (the CDN copy it redirects to is signed and takes none). Scheme, host and port, so that
# neither clear text nor another port on a trusted host ever sees them.
TWILIO_MEDIA_ORIGINS = frozenset({("https", "api.twilio.com", 443)})
DEFAULT_PORTS = {"http": 80, "https": 443}

Fetch = Callable[[str, "tuple[str, str] | None"], Fetched]


def pending_items(record: StreamRecord, messages_table: str) -> list[int]:
    """Indexes of the media items the record's new image has still to copy."""
    new = record.new
    if record.table != messages_table or new is None or new.get("direction") != "inbound":
        return []
    return [i for i, m in enumerate(new.get("media") or []) if isinstance(m, dict) and m.get("status") == MediaStatus.PENDING.value]


class MediaRehost:
    """Copies the pending media of each record's message; one conditional update per message."""

    def __init__(self, settings: Settings, s3: Any = None, fetch: Fetch | None = None, tenants: TenantDirectory | None = None) -> None:
        self.settings = settings
        # Each message's media are fetched with its tenant's credentials (carrier_core.tenants).
        self.tenants = tenants or TenantDirectory(settings)
        # The stream's names; its DLQ is the stream consumers' (the poller sends there too).
        self.config = HandoffConfig.from_settings(settings)
        self._s3 = s3
        self._fetch = fetch or self._download
        api = origin(settings.twilio_api_base_url or "")
        # Locally the sandbox stands in for Twilio on plain http; a deployed stage's own
        # API base (an edge location) is trusted over https only.
        trusted = api is not None and (settings.is_local or api[0] == "https")
        self.trusted_origins = TWILIO_MEDIA_ORIGINS | ({api} if trusted and api else set())

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = s3_client(self.settings.region)
        return self._s3

    def handle(self, records: Sequence[dict[str, Any]]) -> BatchOutcome:
        """A batch of Lambda-shaped stream records; reports the first that fails, like the hand-off.

        Messages run side by side, so a slow media server holds up only its own message (each
        item has its deadline); one message's records keep their order. A record after the
        failed one may have finished already: tried again, its condition refuses the write.
        """
        outcome = BatchOutcome(records=len(records))
        parsed = [StreamRecord.from_lambda(raw) for raw in records]
        by_message: dict[str, list[int]] = {}
        for n, record in enumerate(parsed):
            by_message.setdefault(str(record.keys.get("sid")), []).append(n)
        errors: dict[int, str] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(len(by_message), MESSAGES_AT_ONCE))) as pool:
            for failed in pool.map(lambda ns: self._in_order([(n, parsed[n]) for n in ns]), by_message.values()):
                errors.update(failed)
        if errors:
            first = min(errors)
            outcome.fail(parsed[first].sequence_number, errors[first])
            log.warning("media re-host failed", extra={"error": outcome.error})
        return outcome

    def _in_order(self, records: list[tuple[int, StreamRecord]]) -> dict[int, str]:
        """One message's records in order, up to the first that fails (storage or S3 down)."""
        for n, record in records:
            try:
                indexes = pending_items(record, self.settings.messages_table)
                if indexes and record.new is not None:  # pending items come from a new image
                    self.rehost(record.new, indexes)
            except Exception as exc:  # noqa: BLE001 - storage or S3 down: the event source tries the record again
                return {n: f"rehost_failed:{type(exc).__name__}"}
        return {}

    def rehost(self, item: Image, indexes: list[int]) -> list[MediaItem]:
        """Copy the items at `indexes`, then finish them all in one conditional update."""
        sid = str(item["sid"])
        media = [dict(m) for m in item.get("media") or []]
        tenant = tenant_of(item.get("tenant"))
        # The tenant-less routes' own account; a tenant's, read as its webhook read it. A tenant
        # removed since has none: its items are fetched without credentials, and fail.
        account = self.settings.account if tenant == DEFAULT_TENANT else self.tenants.account(tenant)
        with ThreadPoolExecutor(max_workers=min(len(indexes), 10)) as pool:
            done = dict(zip(indexes, pool.map(lambda i: self._copy(sid, i, media[i], account), indexes)))
        items = [done.get(i) or _as_item(m) for i, m in enumerate(media)]
        still_pending = None
        for i in indexes:  # each clause: item i was pending when we started, so nobody finished it
            clause = MessageModel.media[i]["status"] == MediaStatus.PENDING.value
            still_pending = clause if still_pending is None else still_pending & clause
        try:
            MessageModel(sid).update(
                actions=[MessageModel.media.set(items), MessageModel.updated_at.set(iso(utc_now()))], condition=still_pending
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                log.info("media already finished", extra={"message_sid": sid})
                return items
            raise
        stored = sum(1 for i in indexes if items[i].status == MediaStatus.STORED.value)
        log.info("media re-hosted", extra={"message_sid": sid, "stored": stored, "failed": len(indexes) - stored})
        if self.settings.delete_twilio_media:
            for i in indexes:
                if items[i].status == MediaStatus.STORED.value:
                    self._delete_at_twilio(str(media[i]["url"]), account)
        return items

    def _credentials(self, url: str, account: TwilioAccount | None) -> tuple[str, str] | None:
        """The account's credentials, for Twilio's own media hosts only."""
        return account.media_credentials if account is not None and origin(url) in self.trusted_origins else None

    def _download(self, url: str, credentials: tuple[str, str] | None) -> Fetched:
        return download(url, credentials, MAX_INBOUND_BYTES, self.settings.media_not_ready_seconds, self.settings.media_item_seconds)

    def _copy(self, sid: str, index: int, media: dict[str, Any], account: TwilioAccount | None) -> MediaItem:
        url = str(media["url"])
        item = _as_item(media)
        if origin(url) is None:  # not http(s), or a port no socket takes ("1a", 99999)
            return _failed(item, "bad_url")
        try:
            fetched = self._fetch(url, self._credentials(url, account))
        except FetchFailed as exc:
            log.warning("media item failed", extra={"message_sid": sid, "index": index, "reason": exc.reason})
            return _failed(item, exc.reason)
        with fetched.body:
            key = f"inbound/{sid}/{index}"
            content_type = fetched.sniffed_type or fetched.header_type or "application/octet-stream"
            upload(self.s3, self.settings.media_bucket, key, fetched.body, content_type, fetched.sha256)
        item.stored_url = stored_url(self.settings.media_bucket, key)
        item.size = fetched.size
        item.sha256 = fetched.sha256
        item.sniffed_content_type = fetched.sniffed_type
        item.content_type = item.content_type or fetched.header_type
        item.status = MediaStatus.STORED.value
        return item

    def _delete_at_twilio(self, url: str, account: TwilioAccount | None) -> None:
        """DELETE …/Media/{Sid}.json once our copy is safe; a failure only leaves Twilio's copy."""
        credentials = self._credentials(url, account)
        if credentials is None:
            return
        request = urllib.request.Request(url + ".json", method="DELETE")
        request.add_unredirected_header("Authorization", basic_auth(*credentials))
        try:
            # The stored Twilio media URL: http(s) only, as the webhook accepted it.
            urllib.request.urlopen(request, timeout=5).close()  # nosec B310
        except OSError as exc:
            log.warning("twilio media not deleted", extra={"error": type(exc).__name__})


@cache
def rehost_worker(settings: Settings) -> MediaRehost:
    """One worker per cold start; its S3 client is built on the first item."""
    return MediaRehost(settings)


def origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port (the default filled in) of an http(s) URL; None for any other,
    or one with user info, which no Twilio media URL has."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or "@" in parts.netloc:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _as_item(media: dict[str, Any]) -> MediaItem:
    fields = {k: media.get(k) for k in ("url", "content_type", "stored_url", "size", "sha256", "status", "sniffed_content_type", "error")}
    return MediaItem(**{k: v for k, v in fields.items() if v is not None})  # type: ignore[no-untyped-call]


def _failed(item: MediaItem, reason: str) -> MediaItem:
    item.status = MediaStatus.FAILED.value
    item.error = reason
    return item
