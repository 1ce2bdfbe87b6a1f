"""Scheduled sends: when Twilio may be asked to send a message later, and how to ask.

Twilio's rules (https://www.twilio.com/docs/messaging/features/message-scheduling): SendAt
with ScheduleType=fixed, through a Messaging Service only (without one, SendAt used to be
dropped and the message sent at once; today Twilio answers 35118), at least 300 seconds
and at most 35 days ahead. Both are checked here, before any request leaves us.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from carrier_core.errors import InvalidSendAt, ScheduleRequiresMessagingService

# Twilio refuses a SendAt under 300 s ahead; the margin covers our latency to Twilio (and
# a retry of a lost answer), so a time accepted here is not refused there.
TWILIO_MIN_LEAD_SECONDS = 300
SCHEDULE_MARGIN_SECONDS = 60
MIN_LEAD_SECONDS = TWILIO_MIN_LEAD_SECONDS + SCHEDULE_MARGIN_SECONDS
MAX_LEAD_DAYS = 35
SCHEDULE_TYPE = "fixed"


def parse_send_at(value: object, messaging_service_sid: str | None, now: datetime | None = None) -> str | None:
    """`send_at` as stored and sent (UTC, seconds, Z), or None; raises a taxonomy error
    when it is no RFC 3339 time, lies outside the window, or no Messaging Service sends it."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSendAt("send_at must be an RFC 3339 time with a UTC offset, such as 2026-05-01T09:30:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidSendAt("send_at must be an RFC 3339 time with a UTC offset, such as 2026-05-01T09:30:00Z") from exc
    if moment.tzinfo is None or "T" not in value.upper():
        raise InvalidSendAt("send_at must be an RFC 3339 time with a date, a time and a UTC offset (Z or +hh:mm)")
    if messaging_service_sid is None:
        raise ScheduleRequiresMessagingService(
            "a scheduled send needs a messaging_service_sid: Twilio schedules only through a Messaging Service", twilio_code=35118
        )
    current = now or datetime.now(timezone.utc)
    earliest = current + timedelta(seconds=MIN_LEAD_SECONDS)
    latest = current + timedelta(days=MAX_LEAD_DAYS)
    if not earliest <= moment <= latest:
        raise InvalidSendAt(f"send_at must lie from {MIN_LEAD_SECONDS} seconds to {MAX_LEAD_DAYS} days ahead")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def send_at_datetime(send_at: str) -> datetime:
    """A stored send_at as the aware datetime the Twilio SDK serializes."""
    return datetime.fromisoformat(send_at)
