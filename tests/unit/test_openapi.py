"""services/outbound/openapi.yaml stays true: routes, request fields, resource and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from openapi_spec_validator import validate

from carrier_core import errors
from carrier_core.models import HistoryEntry, MediaItem, MessageModel
from carrier_core.resource import render_message
from tests.infra.hcl import ROOT, app_routes
from tests.support.openapi import from_schema, schema, spec, validator
from tests.support.outbound import outbound_module


def test_it_is_a_valid_openapi_document() -> None:
    validate(spec())


def test_it_describes_every_route_of_the_app_and_no_other() -> None:
    described = {(method.upper(), path) for path, ops in spec()["paths"].items() for method in ops}
    assert described == app_routes(ROOT / "services" / "outbound" / "app.py")


def test_request_fields_are_the_ones_the_parser_accepts() -> None:
    assert set(schema("SendRequest")["properties"]) == set(outbound_module("request").FIELDS)


@pytest.mark.parametrize("error_cls", [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.CarrierError)])
def test_every_error_body_matches_the_error_schema(error_cls: type[errors.CarrierError]) -> None:
    validator(schema("Error")).validate(error_cls("a human sentence", twilio_code=21211).to_body())


def test_a_rendered_message_matches_the_message_schema() -> None:
    item = MessageModel(
        "SM" + "a" * 32,
        direction="outbound",
        channel="mms",
        from_number="+15005550006",
        to_number="+15005550010",
        body="hi",
        status="undelivered",
        error_code=30003,
        media=[MediaItem(url="https://example.com/a.jpg")],
        num_segments=1,
        encoding="GSM-7",
        history=[HistoryEntry(status="sent", at="2026-01-01T00:00:00.000Z", source="callback")],
        history_dropped=3,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:01.000Z",
    )
    validator(schema("Message")).validate(render_message(item))
    bare = MessageModel("SM" + "b" * 32, direction="inbound", status="carrier_new", created_at="x", updated_at="x")
    validator(schema("Message")).validate(render_message(bare))


@settings(max_examples=25, deadline=None)
@given(from_schema(schema("SendRequest")))
def test_generated_send_requests_are_valid_for_the_schema(payload: object) -> None:
    """The fuzzers' strategies draw from the description; this proves they draw what it says."""
    validator(schema("SendRequest")).validate(payload)
