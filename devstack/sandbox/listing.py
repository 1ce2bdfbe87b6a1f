"""Twilio's Messages list: filters, order and paging, as `GET .../Messages.json` answers them.

Filters and the page shape follow Twilio's OpenAPI spec (ListMessageResponse):
https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-resources
`DateSent>` and `DateSent<` are the on-or-after / on-or-before forms (a URL's
`DateSent>=2026-01-15` is the key `DateSent>`); each accepts a date (`YYYY-MM-DD`,
compared on the day in GMT) or an ISO 8601 instant, which the SDK sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlencode

from devstack.sandbox.errors import invalid
from devstack.sandbox.messages import Message

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
FILTERS = ("To", "From", "DateSent", "DateSent<", "DateSent>")


@dataclass(frozen=True)
class Moment:
    """A DateSent bound: a whole GMT day, or an instant."""

    value: datetime | date

    @classmethod
    def parse(cls, name: str, raw: str) -> Moment:
        try:
            if len(raw) == 10:
                return cls(date.fromisoformat(raw))
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(20001, f"Invalid {name}: {raw!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
        return cls(parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc))

    def compare(self, moment: datetime) -> int:
        """-1, 0 or 1 as `moment` is before, within or after this bound."""
        if isinstance(self.value, datetime):
            # Twilio keeps a message's dates to the second (RFC 2822): so is it compared.
            moment = moment.replace(microsecond=0)
            return (moment > self.value) - (moment < self.value)
        day = moment.astimezone(timezone.utc).date()
        return (day > self.value) - (day < self.value)


def sent_at(message: Message) -> datetime:
    """The time a message is listed under: when it was sent, or, not sent yet, created.

    Twilio's filter is on the sent date; a queued message has none yet, and the sandbox
    lists it under its creation time so that a search just after a create finds it.
    """
    return message.date_sent or message.date_created


@dataclass(frozen=True)
class MessageList:
    """A validated list request: its filters and which page."""

    filters: dict[str, str]
    on: Moment | None
    before: Moment | None
    after: Moment | None
    page_size: int
    page_number: int

    @classmethod
    def from_query(cls, query: Mapping[str, Sequence[str]]) -> MessageList:
        """Read the query; a malformed value is Twilio's 400 code 20001."""
        first = {name: values[0] for name, values in query.items() if values}
        filters = {name: first[name] for name in FILTERS if first.get(name)}
        moments = {name: Moment.parse(name, filters[name]) if name in filters else None for name in ("DateSent", "DateSent<", "DateSent>")}
        return cls(
            filters=filters,
            on=moments["DateSent"],
            before=moments["DateSent<"],
            after=moments["DateSent>"],
            page_size=_whole(first, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
            page_number=_whole(first, "Page", 0, 0, None),
        )

    def admits(self, message: Message) -> bool:
        """True when the message passes every filter given."""
        to, sender = self.filters.get("To"), self.filters.get("From")
        if to is not None and message.request.to != to:
            return False
        if sender is not None and message.from_ != sender:
            return False
        moment = sent_at(message)
        return (
            (self.on is None or self.on.compare(moment) == 0)
            and (self.before is None or self.before.compare(moment) <= 0)
            and (self.after is None or self.after.compare(moment) >= 0)
        )

    def page(self, path: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
        """This list's page of `resources` (already filtered and ordered), shaped as Twilio's."""
        start = self.page_number * self.page_size
        chunk = resources[start : start + self.page_size]
        last = start + self.page_size >= len(resources)
        return {
            "messages": chunk,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
            "page": self.page_number,
            "page_size": self.page_size,
            "uri": self._uri(path, self.page_number),
            "first_page_uri": self._uri(path, 0),
            "next_page_uri": None if last else self._uri(path, self.page_number + 1),
            "previous_page_uri": self._uri(path, self.page_number - 1) if self.page_number > 0 else None,
        }

    def _uri(self, path: str, number: int) -> str:
        params: dict[str, str | int] = {**self.filters, "PageSize": self.page_size, "Page": number}
        if number > 0:
            params["PageToken"] = f"PA{number * self.page_size}"  # opaque to clients, as Twilio's is
        return f"{path}?{urlencode(params)}"


def _whole(first: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = first.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise invalid(20001, f"Invalid {name}: must be a whole number {bound}")
    return int(raw)
