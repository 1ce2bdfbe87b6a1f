"""WhatsApp: the customer-service window, and the fields Twilio's inbound webhook adds for it.

Outside the 24 hours that follow a customer's last message to a business sender, WhatsApp
accepts only approved templates; a free-form send there fails at Twilio with 63016 after
Twilio accepted it. The window is read from the messages table's `whatsapp_window` index,
whose key every inbound WhatsApp item carries (written by its one put), so the webhook pays
nothing for it and a send pays one query (services/outbound chalicelib/window.py), and only
a free-form WhatsApp send.
https://www.twilio.com/docs/whatsapp/key-concepts#the-customer-service-window
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from carrier_core.models import iso
from carrier_core.tenants import scoped

WINDOW = timedelta(hours=24)
# Separates the sender from the customer in a window key: no address holds it.
KEY_SEPARATOR = "|"

# Twilio's WhatsApp parameters of the inbound webhook, by the name kept in the `whatsapp`
# object. https://www.twilio.com/docs/messaging/guides/webhook-request#whatsapp-specific-parameters
KNOWN_FIELDS = {
    "ProfileName": "profile_name",
    "WaId": "wa_id",
    "ExternalUserId": "external_user_id",
    "ButtonText": "button_text",
    "ButtonPayload": "button_payload",
    "ListId": "list_id",
    "ListTitle": "list_title",
    "MessageType": "message_type",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "Address": "address",
    "Label": "label",
    "OriginalRepliedMessageSid": "original_replied_message_sid",
}
# Click-to-WhatsApp ads: ReferralBody, ReferralCtwaClid, … Twilio adds to them without
# notice, so every one is kept, by its snake_case name, rather than refused or dropped.
REFERRAL_PREFIX = "Referral"
MAX_REFERRAL_FIELDS = 32
CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


# What a redaction keeps of the `whatsapp` object: identifiers and kinds, never what the
# customer wrote, chose, shared or is called (button and list texts, location, the profile
# name, an ad's text) nor a template's variables.
KEPT_ON_REDACTION = frozenset({"wa_id", "external_user_id", "message_type", "original_replied_message_sid", "content_sid", "requeued_from"})


def redacted_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The `whatsapp` object of a redacted message."""
    return {name: value for name, value in fields.items() if name in KEPT_ON_REDACTION}


def snake_case(name: str) -> str:
    """`ReferralCtwaClid` -> `referral_ctwa_clid`."""
    return CAMEL_BOUNDARY.sub("_", name).lower()


def whatsapp_fields(form: Mapping[str, str]) -> dict[str, str]:
    """The WhatsApp parameters of an inbound form, snake_case; empty ones left out."""
    fields = {kept: form[name] for name, kept in KNOWN_FIELDS.items() if form.get(name)}
    referrals = sorted(name for name in form if name.startswith(REFERRAL_PREFIX) and form[name])
    for name in referrals[:MAX_REFERRAL_FIELDS]:
        fields[snake_case(name)[:64]] = form[name]
    return fields


def window_key(tenant: str, sender: str, customer: str) -> str:
    """The index key of one conversation: the tenant's business sender and its customer's
    WhatsApp identity (`whatsapp:+E164` or `whatsapp:CC.ID`)."""
    return scoped(tenant, f"{sender}{KEY_SEPARATOR}{customer}")


def parse_iso(stamp: str) -> datetime:
    """A timestamp `carrier_core.models.iso` wrote."""
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def window_closes_at(last_inbound_at: str) -> str:
    """When the window a message received at `last_inbound_at` opened closes."""
    return iso(parse_iso(last_inbound_at) + WINDOW)


def window_open(last_at: str | None, now: datetime) -> bool:
    """Whether a free-form message may be sent at `now` to a customer who last wrote at `last_at`."""
    return last_at is not None and now < parse_iso(last_at) + WINDOW
