"""PynamoDB models of the carrier's tables, bound to a stage's table names at cold start."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from carrier_core.settings import Settings
from carrier_core.storage import CONNECT_TIMEOUT_SECONDS, MAX_RETRY_ATTEMPTS, READ_TIMEOUT_SECONDS

UNBOUND = "unbound-call-bind_models-first"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, the API's timestamp format."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class MediaItem(MapAttribute[str, Any]):
    """One MMS media item: where Twilio serves it, its type, and our copy when we keep one.

    `content_type` is what Twilio's header said; `sniffed_content_type` what the bytes are.
    An outbound item sent as a converted copy keeps the caller's URL in `url` and its type
    in `content_type`; `sent_content_type`, `stored_url`, `size` and `sha256` describe the
    copy Twilio was given (the presigned link itself is never stored: it carries a signature).
    """

    url = UnicodeAttribute()
    content_type = UnicodeAttribute(null=True)
    stored_url = UnicodeAttribute(null=True)
    size = NumberAttribute(null=True)
    sha256 = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    sniffed_content_type = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    sent_content_type = UnicodeAttribute(null=True)


class HistoryEntry(MapAttribute[str, Any]):
    """One event in a message's life, kept even when it does not move the status."""

    status = UnicodeAttribute()
    at = UnicodeAttribute()
    error_code = NumberAttribute(null=True)
    source = UnicodeAttribute(null=True)
    event_id = UnicodeAttribute(null=True)
    raw_dlr_done_date = UnicodeAttribute(null=True)
    channel_status_message = UnicodeAttribute(null=True)


class WhatsAppWindowIndex(GlobalSecondaryIndex["MessageModel"]):
    """Inbound WhatsApp messages by (tenant, business sender, customer identity), newest last:
    the customer-service window (carrier_core.whatsapp). Sparse: only inbound WhatsApp items
    carry `wa_window`; the keys alone are projected, `created_at` is all a send reads."""

    class Meta:
        index_name = "whatsapp_window"
        projection = KeysOnlyProjection()

    wa_window = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ScheduledIndex(GlobalSecondaryIndex["MessageModel"]):
    """Scheduled sends by customer (`<tenant>/<to>`, carrier_core.tenants.scoped) and send
    time (sparse: only a scheduled send has `scheduled_for`). An opt-out reads it to cancel
    the customer's scheduled messages; the status filters out those already gone."""

    class Meta:
        index_name = "scheduled"
        projection = AllProjection()

    scheduled_for = UnicodeAttribute(hash_key=True)
    send_at = UnicodeAttribute(range_key=True)


class CustomerIndex(GlobalSecondaryIndex["MessageModel"]):
    """A customer's messages, oldest first, for erasure: keys, the tenant and the redaction
    state only (no body is copied into the index)."""

    class Meta:
        index_name = "customer"
        projection = IncludeProjection(["tenant", "redaction"])

    customer = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class MessageModel(Model):
    """A message, inbound or outbound, keyed by Twilio's SID. Its stream is the hand-off."""

    class Meta:
        table_name = UNBOUND
        stream_view_type = "NEW_AND_OLD_IMAGES"
        billing_mode = "PAY_PER_REQUEST"

    sid = UnicodeAttribute(hash_key=True)
    # The tenant it belongs to (carrier_core.tenants); absent for the default tenant.
    tenant = UnicodeAttribute(null=True)
    direction = UnicodeAttribute()
    channel = UnicodeAttribute(null=True)
    from_number = UnicodeAttribute(attr_name="from", null=True)
    to_number = UnicodeAttribute(attr_name="to", null=True)
    body = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    status_rank = NumberAttribute(default=0)
    error_code = NumberAttribute(null=True)
    media = ListAttribute(of=MediaItem, null=True)
    num_segments = NumberAttribute(null=True)
    encoding = UnicodeAttribute(null=True)
    history = ListAttribute(of=HistoryEntry, null=True)
    # How many entries between the first and the latest were dropped to keep the item
    # small (carrier_core.status.store.trim_history).
    history_dropped = NumberAttribute(null=True)
    # Ids of the status reports already in `history`: a redelivered callback finds its id
    # here and is not appended twice (carrier_core.status.store).
    event_ids = UnicodeSetAttribute(null=True)
    account_sid = UnicodeAttribute(null=True)
    messaging_service_sid = UnicodeAttribute(null=True)
    profile_name = UnicodeAttribute(null=True)
    wa_id = UnicodeAttribute(null=True)
    geo = MapAttribute[str, Any](null=True)
    opt_out_keyword = UnicodeAttribute(null=True)
    # An inbound WhatsApp message's window key (carrier_core.whatsapp.window_key), written by
    # the inbound put itself so the index costs the webhook no request.
    wa_window = UnicodeAttribute(null=True)
    # An inbound WhatsApp message's own fields, snake_case (carrier_core.whatsapp.whatsapp_fields).
    whatsapp = MapAttribute[str, Any](null=True)
    # The outbound send (one POST /messages, or a stored one the retry worker runs, by its id) that
    # owns this SID: Twilio answered it with the SID, or it adopted the SID after a lost
    # answer. One SID, one send; a search never adopts a SID another send owns.
    send_id = UnicodeAttribute(null=True)
    # A scheduled send: when Twilio sends it (UTC, RFC 3339), and its key in `scheduled`.
    send_at = UnicodeAttribute(null=True)
    scheduled_for = UnicodeAttribute(null=True)
    # Redaction (carrier_core.vocabulary.Redaction): the body and media are removed here when
    # it is requested; `done` once Twilio's copy is gone too. Who asked, and the moments.
    redaction = UnicodeAttribute(null=True)
    redaction_requested_by = UnicodeAttribute(null=True)
    redaction_requested_at = UnicodeAttribute(null=True)
    redaction_updated_at = UnicodeAttribute(null=True)
    # The customer (inbound: from; outbound: to), scoped by tenant (carrier_core.tenants.scoped),
    # set by the write that stores the message, so the `customer` index costs no request.
    customer = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    whatsapp_window = WhatsAppWindowIndex()
    scheduled = ScheduledIndex()
    by_customer = CustomerIndex()


class DueIndex(GlobalSecondaryIndex["FailedMessageModel"]):
    """Failed sends waiting for a retry, by when the next try is due (sparse)."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    retry_state = UnicodeAttribute(hash_key=True)
    next_attempt_at = NumberAttribute(range_key=True)


class FailedMessageModel(Model):
    """An outbound send that Twilio did not accept, with what it takes to try again."""

    class Meta:
        table_name = UNBOUND
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute(null=True)
    request = MapAttribute[str, Any]()
    twilio_error = MapAttribute[str, Any](null=True)
    category = UnicodeAttribute()
    retryable = BooleanAttribute(default=False)
    attempts = NumberAttribute(default=0)
    retry_state = UnicodeAttribute(null=True)
    next_attempt_at = NumberAttribute(null=True)
    state = UnicodeAttribute()  # carrier_core.failed_sends.FailedState
    claimed_until = NumberAttribute(null=True)
    message_sid = UnicodeAttribute(null=True)
    # When the first attempt began, and whether an attempt may have created the message
    # unanswered (5xx, read timeout): the worker then searches Twilio from then before sending.
    first_attempt_at = UnicodeAttribute(null=True)
    maybe_created = BooleanAttribute(null=True)
    # What the retry worker runs: null for a send; "redact" for a redaction at Twilio
    # (carrier_core.failed_sends.JobKind), whose `request` holds the message's SID and tenant.
    job = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)
    due = DueIndex()


class OptOutModel(Model):
    """Whether a customer's number may be messaged by a business sender. Its stream tells
    the workflow engine of a STOP or START (carrier_core.handoff)."""

    class Meta:
        table_name = UNBOUND
        stream_view_type = "NEW_AND_OLD_IMAGES"
        billing_mode = "PAY_PER_REQUEST"

    phone = UnicodeAttribute(hash_key=True)
    # The business sender; a tenant's is scoped `<tenant>/<sender>` (carrier_core.tenants.scoped).
    sender = UnicodeAttribute(range_key=True)
    tenant = UnicodeAttribute(null=True)
    opted_out = BooleanAttribute()
    # The inbound message's keyword and SID; both empty when Twilio's 21610 told us instead.
    keyword = UnicodeAttribute(null=True)
    message_sid = UnicodeAttribute(null=True)
    # Who recorded it (carrier_core.vocabulary.OptOutSource): null for a keyword.
    source = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()


class IdempotencyModel(Model):
    """An outbound request's Idempotency-Key: who claimed it, for which request, with what result."""

    class Meta:
        table_name = UNBOUND
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)
    request_hash = UnicodeAttribute()
    state = UnicodeAttribute()
    locked_until = NumberAttribute(null=True)
    message_sid = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


class TenantModel(Model):
    """A business the deployment serves: its Twilio account and the senders it may use.

    Its secrets (auth tokens, API key secret) are never here: they are SSM SecureStrings
    under the stage's tenant path (carrier_core.tenants)."""

    class Meta:
        table_name = UNBOUND
        billing_mode = "PAY_PER_REQUEST"

    tenant = UnicodeAttribute(hash_key=True)
    account_sid = UnicodeAttribute()
    api_key_sid = UnicodeAttribute(null=True)
    # Phone numbers (+E.164), Messaging Service SIDs (MG…) and WhatsApp senders (whatsapp:+…).
    senders = UnicodeSetAttribute(null=True)
    # Subaccounts whose webhooks this tenant's token may sign (AccountSid AC…).
    subaccounts = UnicodeSetAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class ReconcileCheckpointModel(Model):
    """How far the reconciler (services/outbound chalicelib/reconcile.py) has read one Twilio
    account's Messages. It lives in the tenants table under a key no tenant id can take
    (`#reconcile/<AccountSid>`: tenant ids never hold "#" or "/"), so it needs no table of its
    own; every reader of tenants skips it (carrier_core.tenants.registered_tenants).

    `since`: every message sent before it was seen. A run that ran out of pages before the
    list ended keeps `since`, notes the oldest sent time it reached (`resume_before`) and the
    time its pass began (`target`); the next run reads on from there, and the pass that
    reaches the end moves `since` to `target`."""

    class Meta:
        table_name = UNBOUND
        billing_mode = "PAY_PER_REQUEST"

    tenant = UnicodeAttribute(hash_key=True)
    account_sid = UnicodeAttribute()
    since = UnicodeAttribute()
    resume_before = UnicodeAttribute(null=True)
    target = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute()


ALL_MODELS: tuple[type[Model], ...] = (MessageModel, FailedMessageModel, OptOutModel, IdempotencyModel, TenantModel)


def bind_models(settings: Settings) -> None:
    """Point every model at the stage's tables and endpoint. Call once per cold start."""
    names = {
        MessageModel: settings.messages_table,
        FailedMessageModel: settings.failed_messages_table,
        OptOutModel: settings.optouts_table,
        IdempotencyModel: settings.idempotency_table,
        TenantModel: settings.tenants_table,
        ReconcileCheckpointModel: settings.tenants_table,
    }
    for model, name in names.items():
        meta: Any = model.Meta
        meta.table_name = name
        meta.region = settings.region
        meta.host = settings.dynamodb_endpoint
        # Twilio gives up on a webhook after 15 s: fail fast and let it retry instead
        # (the budget is worked out in carrier_core.storage).
        meta.connect_timeout_seconds = CONNECT_TIMEOUT_SECONDS
        meta.read_timeout_seconds = READ_TIMEOUT_SECONDS
        meta.max_retry_attempts = MAX_RETRY_ATTEMPTS
        model._connection = None  # drop a connection bound to earlier settings


def expiry(settings: Settings, moment: datetime) -> datetime:
    """When a record written at `moment` expires under the retention setting."""
    return moment + timedelta(days=settings.message_retention_days)
