"""The hand-built writes say exactly what PynamoDB would have: same names, types and encodings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pynamodb.attributes import ListAttribute, MapAttribute

from carrier_core.models import HistoryEntry, MediaItem, MessageModel
from carrier_core.status.store import Outcome, StatusReport, planned_updates
from carrier_core.writes import value, values
from tests.support.forms import BUSINESS, mms, sms, whatsapp
from tests.support.inbound_app import InboundHarness, inbound_harness

T0 = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)


def as_model_values(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with each plain dict of a typed map turned into that MapAttribute, as a Model takes it."""
    attributes = MessageModel.get_attributes()
    typed: dict[str, Any] = {}
    for name, item in fields.items():
        element = getattr(attributes[name], "element_type", None)
        if isinstance(attributes[name], ListAttribute) and element is not None and issubclass(element, MapAttribute):
            item = [element(**entry) for entry in item]
        typed[name] = item
    return typed


@pytest.fixture
def harness() -> Iterator[InboundHarness]:
    with inbound_harness() as h:
        yield h


@pytest.mark.parametrize(
    "form",
    [
        sms(),
        sms(body="STOP"),
        mms(3),
        mms(1, body=""),
        whatsapp(),
        sms(FromCity="SPRINGFIELD", FromCountry="US", NumSegments="2"),
        sms(body="emoji \U0001f600 and \u00e9", MessagingServiceSid="MG" + "1" * 32, AccountSid="AC" + "2" * 32),
    ],
    ids=["sms", "stop", "mms", "mms without text", "whatsapp", "geo", "unicode"],
)
def test_inbound_item_is_the_models_serialisation(form: list[tuple[str, str]], harness: InboundHarness) -> None:
    from chalicelib.message import InboundMessage  # the inbound service's, loaded by the harness
    from chalicelib.store import item_fields

    fields = item_fields(InboundMessage.from_form(form), harness.app.runtime.settings)
    assert values(MessageModel, fields) == MessageModel(**as_model_values(fields)).serialize()


@pytest.mark.parametrize(
    "report",
    [
        StatusReport("sent", T0, "callback"),
        StatusReport("undelivered", T0, "callback", error_code=30003, raw_dlr_done_date="2611241400", channel_status_message="x" * 600),
        StatusReport("carrier_said_something_new", T0, "callback"),
    ],
    ids=["sent", "undelivered with details", "unknown status"],
)
def test_a_history_entry_is_the_models_serialisation(report: StatusReport) -> None:
    fields = report.history_fields()
    entry = HistoryEntry(**{k: v for k, v in fields.items() if v is not None})
    assert value(MessageModel, "history", [fields]) == {"L": MessageModel.history.serialize([entry])}


def test_media_given_as_dicts_or_as_map_attributes_serialise_alike() -> None:
    plain: list[dict[str, Any]] = [
        {"url": "https://example.com/a.jpg", "content_type": "image/jpeg", "size": 10},
        {"url": "https://example.com/b.pdf"},
    ]
    typed = [MediaItem(**item) for item in plain]
    assert value(MessageModel, "media", plain) == value(MessageModel, "media", typed) == {"L": MessageModel.media.serialize(typed)}


def test_status_update_values_are_the_models_serialisations() -> None:
    expires = T0 + timedelta(days=400)
    fields = {"from_number": BUSINESS, "num_segments": 2, "media": [MediaItem(url="https://example.com/a.jpg")]}
    [(outcome, update), (_, history_only)] = list(planned_updates("SM" + "a" * 32, StatusReport("sent", T0, "callback"), expires, fields))
    assert outcome is Outcome.ADVANCED
    assert update.key == {"sid": {"S": "SM" + "a" * 32}}
    assert update.values[":expires_at"] == {"N": str(int(expires.timestamp()))}
    assert update.values[":num_segments"] == {"N": "2"}
    assert update.values[":media"] == {"L": MessageModel.media.serialize(fields["media"])}
    assert update.names["#from"] == "from" and "#from = if_not_exists(#from, :from_number)" in update.update
    assert history_only.condition == "NOT contains(#event_ids, :event_id)"
    assert "#status = if_not_exists(#status, :status)" in history_only.update


def test_an_unknown_status_plans_only_the_history_write() -> None:
    plans = list(planned_updates("SM" + "b" * 32, StatusReport("carrier_new", T0, "callback"), T0))
    assert [outcome for outcome, _ in plans] == [Outcome.RECORDED]


def test_a_field_cannot_overwrite_what_the_report_writes() -> None:
    with pytest.raises(ValueError, match="status"):
        list(planned_updates("SM" + "c" * 32, StatusReport("sent", T0, "callback"), T0, {"status": "delivered"}))
