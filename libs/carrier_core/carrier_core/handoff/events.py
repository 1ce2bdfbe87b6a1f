"""Which events a stored change means, derived from the stream record alone.

The messages table's stream carries every write (NEW_AND_OLD_IMAGES); a write is an event
only when it changed what the workflow engine cares about:

- message.received: an inbound message is complete. Without media that is its INSERT (the
  inbound put is conditional, so a redelivered webhook writes nothing and adds no record).
  With media it is the one update that takes its last item out of `pending`
  (carrier_core.media.rehost, conditional on the items still pending): the engine never
  gets a message whose media it cannot open yet.
- message.status_changed: the stored status rank rose. A late, repeated or out-of-order
  callback only appends to the history (carrier_core.status.store), leaves the rank as it
  was, and so is no event.
- contact.opted_out / contact.opted_in: an opt-out record's `opted_out` flipped.
- message.redacted: the one update that set a message's `redaction` (its body and media
  removed here). The events above carry bodies, so consumers purge their copies on it.

An image without a status (some emulators write a key-only INSERT before the item an
UpdateItem creates) has nothing to say and yields nothing. The event id hashes the change
(what, which item, the status or state reached), never the record's sequence number, so
the same change yields the same id whichever record, retry or replay carries it.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from carrier_core.errors import from_twilio_code
from carrier_core.stream.records import Image, StreamRecord
from carrier_core.status.machine import known_status, rule_of, stored_rank
from carrier_core.tenants import tenant_of, unscoped
from carrier_core.vocabulary import Channel, Direction, MediaStatus, OptOutSource
from carrier_core.whatsapp import window_closes_at

SOURCE = "omni.twilio"
# The `schema_version` of every detail; bump with a new file in schema/ (events.v<major>.json).
# 1.1: media items add sha256, status and sniffed_content_type (optional in the schema).
# 1.2: contact events add `source`; `keyword` and `message_sid` are null when no inbound
# message carried the change (an operator's, or Twilio's 21610), as they always were.
# 1.3: every detail adds `tenant` (carrier_core.tenants), "default" for the tenant-less routes.
# 1.4: message.redacted (a message's body and media removed; consumers purge their copies).
# 1.5: message details add `whatsapp`: a WhatsApp message's own fields as the message resource
# shows them (an inbound one's webhook parameters and window_closes_at; an outbound template
# send's content_sid and content_variables, a repeated send's requeued_from), null for SMS/MMS.
SCHEMA_VERSION = "1.5"
INBOUND = Direction.INBOUND.value
MEDIA_PENDING = MediaStatus.PENDING.value
MEDIA_FIELDS = ("url", "content_type", "stored_url", "size", "sha256", "status", "sniffed_content_type")

_NAMESPACE = uuid.UUID("0b5c7d4e-2f1a-5d7e-9c3b-6a8f1e2d4c5b")


class EventType(str, enum.Enum):
    """The `detail-type` of each event the carrier publishes."""

    MESSAGE_RECEIVED = "message.received"
    MESSAGE_STATUS_CHANGED = "message.status_changed"
    CONTACT_OPTED_OUT = "contact.opted_out"
    CONTACT_OPTED_IN = "contact.opted_in"
    MESSAGE_REDACTED = "message.redacted"


@dataclass(frozen=True)
class Event:
    """One event for the bus; `key` orders it (a message's SID, a contact's number and sender)."""

    type: EventType
    key: str
    detail: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.detail["event_id"])

    @cached_property
    def detail_json(self) -> str:
        """The detail as PutEvents carries it, serialised once for both its size and the put."""
        return json.dumps(self.detail, separators=(",", ":"), sort_keys=True)


def event_id(event_type: EventType, key: str, change: str) -> str:
    """The same stored change always gives the same id, so consumers can drop duplicates."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_type.value}|{key}|{change}"))


def derive(record: StreamRecord, messages_table: str, optouts_table: str) -> list[Event]:
    """The events one stream record means; [] for a write that changed nothing they carry."""
    if record.table == optouts_table:
        return optout_events(record)
    if record.table == messages_table:
        return message_events(record)
    raise ValueError(f"record from an unexpected table {record.table!r}")


def message_events(record: StreamRecord) -> list[Event]:
    new, old = record.new, record.old or {}
    if new is None or "status" not in new:
        return []  # a REMOVE (TTL expiry) or a key-only image
    if new.get("redaction") and not old.get("redaction"):
        # The one update that removed the body (services/outbound chalicelib/redaction.py),
        # and nothing else: no arrival or status move rides on it.
        return [_redaction_event(new)]
    if new.get("direction") == INBOUND:
        if _media_pending(new):
            return []  # the re-host's update finishes it and is the event
        if "status" in old and not _media_pending(old):
            return []  # it was complete already: a later change is no second arrival
        return [_message_event(EventType.MESSAGE_RECEIVED, new, None)]
    new_rank = _rank(new)
    old_rank = _rank(old) if "status" in old else None
    if old_rank is not None and new_rank <= old_rank:
        return []  # history only: a late, repeated or unknown status
    return [_message_event(EventType.MESSAGE_STATUS_CHANGED, new, old.get("status"))]


def _rank(item: Image) -> int:
    stored = item.get("status_rank")
    if isinstance(stored, int):
        return stored
    return stored_rank(str(item.get("status", "")))


def _message_event(event_type: EventType, item: Image, previous: str | None) -> Event:
    sid = str(item["sid"])
    status = str(item["status"])
    known = known_status(status)
    error_code = item.get("error_code")
    change = "" if event_type is EventType.MESSAGE_RECEIVED else status
    detail = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(event_type, sid, change),
        "tenant": tenant_of(item.get("tenant")),
        "sid": sid,
        "direction": item.get("direction"),
        "channel": item.get("channel"),
        "from": item.get("from"),
        "to": item.get("to"),
        "body": item.get("body"),
        "media": [_media(m) for m in item.get("media") or []],
        "num_segments": item.get("num_segments"),
        "messaging_service_sid": item.get("messaging_service_sid"),
        "status": status,
        "previous_status": previous,
        "terminal": rule_of(known).terminal if known is not None else False,
        "error": _error(error_code if isinstance(error_code, int) else None),
        "occurred_at": item.get("updated_at") or item.get("created_at"),
        "whatsapp": _whatsapp(item),
    }
    return Event(event_type, sid, detail)


def _redaction_event(item: Image) -> Event:
    sid = str(item["sid"])
    detail = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(EventType.MESSAGE_REDACTED, sid, ""),
        "tenant": tenant_of(item.get("tenant")),
        "sid": sid,
        "direction": item.get("direction"),
        "channel": item.get("channel"),
        "requested_by": item.get("redaction_requested_by"),
        "requested_at": item.get("redaction_requested_at"),
        "occurred_at": item.get("redaction_requested_at"),
    }
    return Event(EventType.MESSAGE_REDACTED, sid, detail)


def _whatsapp(item: Image) -> dict[str, str] | None:
    """A WhatsApp message's own fields, as the message resource shows them (carrier_core.resource);
    None for SMS/MMS."""
    if item.get("channel") != Channel.WHATSAPP.value:
        return None
    stored = item.get("whatsapp")
    fields = {str(k): str(v) for k, v in stored.items() if v is not None} if isinstance(stored, dict) else {}
    created = item.get("created_at")
    if item.get("direction") == INBOUND and isinstance(created, str):
        fields["window_closes_at"] = window_closes_at(created)
    return fields


def _media_pending(item: Image) -> bool:
    return any(isinstance(m, dict) and m.get("status") == MEDIA_PENDING for m in item.get("media") or [])


def _media(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item.get(key) for key in MEDIA_FIELDS}


def _error(twilio_code: int | None) -> dict[str, Any] | None:
    if twilio_code is None:
        return None
    error = from_twilio_code(twilio_code)
    return {"code": error.code, "twilio_code": twilio_code, "retryable": error.retryable}


def optout_events(record: StreamRecord) -> list[Event]:
    new = record.new
    if new is None or "opted_out" not in new:
        return []
    was = (record.old or {}).get("opted_out")
    now = bool(new["opted_out"])
    # A START from a number never opted out changes no state: no event.
    if (was is None and not now) or (was is not None and bool(was) == now):
        return []
    event_type = EventType.CONTACT_OPTED_OUT if now else EventType.CONTACT_OPTED_IN
    phone, sender, tenant = str(new["phone"]), str(new["sender"]), tenant_of(new.get("tenant"))
    key = f"{phone}|{sender}"  # the stored sender: a tenant's is scoped, so keys never meet
    source = str(new.get("source") or OptOutSource.KEYWORD.value)  # stored as null for a keyword
    message_sid = new.get("message_sid")
    # A keyword's change is its inbound message. A change no message carried (an operator's,
    # Twilio's 21610) is its source and moment: keyed on the SID alone, `add; remove; add`
    # would give both opt-outs one id, and a consumer dropping seen ids would lose the second.
    change = str(message_sid) if message_sid else f"{source}|{new.get('updated_at')}"
    detail = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id(event_type, key, change),
        "tenant": tenant,
        "phone": phone,
        "sender": unscoped(tenant, sender),
        "opted_out": now,
        "keyword": new.get("keyword"),
        "message_sid": message_sid,
        "source": source,
        "occurred_at": new.get("updated_at"),
    }
    return [Event(event_type, key, detail)]
