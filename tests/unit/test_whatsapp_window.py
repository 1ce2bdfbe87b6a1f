"""WhatsApp identities and the 24-hour window: BSUIDs in the phone policy, the inbound put that
feeds the window's index in its one write, and free-form sends refused outside the window
before Twilio hears of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from carrier_core.errors import InvalidPhoneNumber
from carrier_core.models import MessageModel, iso, utc_now
from carrier_core.phone import is_bsuid, parse_address
from carrier_core.whatsapp import parse_iso, window_key
from tests.support.forms import BUSINESS, CUSTOMER, replace, whatsapp
from tests.support.inbound_app import InboundHarness, inbound_harness
from tests.support.outbound import SENDER, Outbound, outbound, stored, twilio  # noqa: F401

BSUID = "whatsapp:US.13491208655302741918"
WA_SENDER = "whatsapp:" + SENDER
WA_CUSTOMER = "whatsapp:+15005550010"


def body_of(response: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(response.body)
    return payload


@pytest.mark.parametrize("address", [BSUID, "whatsapp:US.ENT.7391abc", "whatsapp:BR.1"])
def test_bsuids_are_whatsapp_identities(address: str) -> None:
    assert is_bsuid(address)
    parsed = parse_address(address, "to", InvalidPhoneNumber, bsuid=True)
    assert str(parsed) == address and parsed.channel == "whatsapp"


@pytest.mark.parametrize("address", ["US.13491208655302741918", "sms:US.1", "whatsapp:us.1", "whatsapp:US.", "whatsapp:USA.1"])
def test_what_is_no_bsuid_is_refused(address: str) -> None:
    assert not is_bsuid(address)
    with pytest.raises(InvalidPhoneNumber):
        parse_address(address, "to", InvalidPhoneNumber, bsuid=True)


def test_a_bsuid_is_refused_where_it_is_not_accepted() -> None:
    with pytest.raises(InvalidPhoneNumber):
        parse_address(BSUID, "to", InvalidPhoneNumber)


# ---- inbound: the window key and the identity in the one put -------------------------


@pytest.fixture
def harness() -> Iterator[InboundHarness]:
    with inbound_harness() as h:
        yield h


def test_inbound_bsuid_is_stored_with_its_external_user_id_in_one_write(harness: InboundHarness) -> None:
    sid = "SM" + "b1" * 16
    form = replace(whatsapp(sid=sid), From=BSUID) + [("ExternalUserId", "US.13491208655302741918")]
    form = [(name, value) for name, value in form if name != "WaId"]  # no phone number shared
    harness.calls.clear()
    response = harness.post(form)
    assert response.status_code == 200
    assert sum(harness.calls.values()) == 1  # the window's index adds no request
    item = MessageModel.get(sid)
    assert (item.channel, item.from_number) == ("whatsapp", BSUID)
    assert item.wa_window == window_key("default", "whatsapp:" + BUSINESS, BSUID)
    assert dict(item.whatsapp.as_dict()) == {"profile_name": "Zoë", "external_user_id": "US.13491208655302741918"}
    (found,) = MessageModel.whatsapp_window.query(item.wa_window)
    assert found.sid == sid


def test_sms_carries_no_window_key(harness: InboundHarness) -> None:
    from tests.support.forms import sms

    sid = "SM" + "c1" * 16
    harness.post(sms(sid=sid))
    item = MessageModel.get(sid)
    assert item.wa_window is None and item.whatsapp is None


# ---- outbound: the window -----------------------------------------------------------


def customer_wrote(customer: str, ago: timedelta, sender: str = WA_SENDER) -> str:
    """An inbound WhatsApp message from `customer` to `sender`, received `ago`."""
    sid = "SM" + format(abs(hash((customer, ago, sender))), "x").rjust(32, "0")[:32]
    at = iso(utc_now() - ago)
    MessageModel(
        sid,
        direction="inbound",
        channel="whatsapp",
        from_number=customer,
        to_number=sender,
        body="hi",
        status="received",
        wa_window=window_key("default", sender, customer),
        created_at=at,
        updated_at=at,
    ).save()
    return sid


def test_free_form_to_a_customer_who_never_wrote_is_refused_before_twilio(outbound: Outbound) -> None:
    response = outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"})
    assert response.status_code == 400
    error = body_of(response)["error"]
    assert (error["code"], error["twilio_code"], error["retryable"]) == ("whatsapp_session_expired", 63016, False)
    assert outbound.twilio.requests == []
    assert MessageModel.count() == 0


def test_free_form_within_24_hours_is_sent(outbound: Outbound) -> None:
    customer_wrote(WA_CUSTOMER, timedelta(hours=23, minutes=50))
    response = outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"})
    assert response.status_code == 202
    assert body_of(response)["channel"] == "whatsapp"
    (form,) = outbound.twilio.forms()
    assert (form["To"], form["From"]) == (WA_CUSTOMER, WA_SENDER)


def test_the_latest_inbound_counts_and_24_hours_close_the_window(outbound: Outbound) -> None:
    customer_wrote(WA_CUSTOMER, timedelta(hours=30))
    assert outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"}).status_code == 400
    customer_wrote(WA_CUSTOMER, timedelta(hours=2))
    assert outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"}).status_code == 202


def test_the_window_is_per_sender_and_per_tenant(outbound: Outbound) -> None:
    customer_wrote(WA_CUSTOMER, timedelta(minutes=5), sender="whatsapp:+15005550007")
    assert outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"}).status_code == 400
    at = iso(utc_now())
    MessageModel(
        "SM" + "7" * 32,
        tenant="acme",
        direction="inbound",
        channel="whatsapp",
        from_number=WA_CUSTOMER,
        to_number=WA_SENDER,
        status="received",
        wa_window=window_key("acme", WA_SENDER, WA_CUSTOMER),
        created_at=at,
        updated_at=at,
    ).save()
    assert outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"}).status_code == 400
    assert outbound.twilio.requests == []


def test_a_bsuid_recipient_is_accepted_for_whatsapp(outbound: Outbound) -> None:
    customer_wrote(BSUID, timedelta(minutes=1))
    response = outbound.post({"to": BSUID, "from": WA_SENDER, "body": "Hello"})
    assert response.status_code == 202
    assert body_of(response)["to"] == BSUID
    (form,) = outbound.twilio.forms()
    assert form["To"] == BSUID


def test_an_sms_to_a_bsuid_is_an_invalid_phone_number(outbound: Outbound) -> None:
    response = outbound.post({"to": "US.13491208655302741918", "body": "Hello"})
    assert response.status_code == 400
    assert body_of(response)["error"]["code"] == "invalid_phone_number"
    assert outbound.twilio.requests == []


def test_an_sms_send_makes_no_window_query(outbound: Outbound) -> None:
    from tests.support.webhooks import count_dynamodb_requests

    calls = count_dynamodb_requests()
    assert outbound.post({"to": "+15005550010", "body": "Hello"}).status_code == 202
    assert "Query" not in calls
    customer_wrote(WA_CUSTOMER, timedelta(minutes=1))
    calls.clear()
    assert outbound.post({"to": WA_CUSTOMER, "from": WA_SENDER, "body": "Hello"}).status_code == 202
    assert calls["Query"] == 1


def test_an_inbound_whatsapp_message_shows_when_its_window_closes(outbound: Outbound) -> None:
    sid = customer_wrote(WA_CUSTOMER, timedelta(hours=1))
    item = stored(sid)
    assert item is not None
    closes = body_of(outbound.get(sid))["whatsapp"]["window_closes_at"]
    assert closes == iso(parse_iso(item.created_at) + timedelta(hours=24))
    assert closes > iso(utc_now() + timedelta(hours=22))
    sent = body_of(outbound.post({"to": "+15005550010", "body": "Hello"}))
    assert sent["whatsapp"] is None  # not a WhatsApp message: null, never missing


def test_a_kept_local_messages_table_gains_the_window_index() -> None:
    """`.dev/` keeps tables across runs: one made before the index gets it at the next start."""
    import boto3
    from moto import mock_aws

    from carrier_core.models import bind_models
    from devstack.tables import add_missing_indexes, local_settings

    with mock_aws():
        bind_models(local_settings("https://dynamodb.us-east-1.amazonaws.com"))
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=MessageModel.Meta.table_name,
            KeySchema=[{"AttributeName": "sid", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "sid", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert sorted(add_missing_indexes(MessageModel)) == ["customer", "scheduled", "whatsapp_window"]
        indexes = client.describe_table(TableName=MessageModel.Meta.table_name)["Table"]["GlobalSecondaryIndexes"]
        projections = {index["IndexName"]: index["Projection"]["ProjectionType"] for index in indexes}
        assert projections == {"customer": "INCLUDE", "scheduled": "ALL", "whatsapp_window": "KEYS_ONLY"}
        assert add_missing_indexes(MessageModel) == []


def test_cli_show_prints_the_window_and_masks_the_identity() -> None:
    from datetime import datetime, timezone

    from omni_cli.context import Profile
    from omni_cli.messages import whatsapp_rows

    fields = {"profile_name": "Zoë", "external_user_id": "US.13491208655302741918", "window_closes_at": "2026-12-02T10:00:00.000Z"}
    before = whatsapp_rows(fields, Profile(), now=datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc))
    assert before == [
        ("whatsapp external_user_id", "***1918"),
        ("whatsapp profile_name", "Zoë"),
        ("whatsapp window closes", "2026-12-02T10:00:00.000Z (open)"),
    ]
    after = dict(whatsapp_rows(fields, Profile(), now=datetime(2026, 12, 2, 10, 0, 1, tzinfo=timezone.utc)))
    assert after["whatsapp window closes"].endswith("(closed: only a template (content_sid) may be sent)")
    assert Profile().number(BSUID) == "whatsapp:***1918"
