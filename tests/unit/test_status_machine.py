"""The state machine as data: every Twilio status has a rule, and the ranks order the lifecycle."""

from __future__ import annotations

import json

import pytest

from carrier_core.errors import UnknownStatus
from carrier_core.status.machine import RULES, UNKNOWN_RANK, MessageStatus, known_status, parse_status, rank_of
from tests.support.sandbox import TWILIO_SPEC


# Twilio's documented lifecycle of an outbound message, earliest first, written out here
# independently of RULES so a renumbering that reorders it fails.
LIFECYCLE = [
    "receiving",
    "received",
    "scheduled",
    "canceled",
    "accepted",
    "queued",
    "sending",
    "sent",
    "partially_delivered",
    "failed",
    "undelivered",
    "delivered",
    "read",
]
TERMINAL = {"received", "canceled", "failed", "undelivered", "delivered", "read"}
FAILURES = {"failed", "undelivered"}


def test_every_status_has_a_rule_and_its_own_rank() -> None:
    assert set(RULES) == set(MessageStatus)
    ranks = [rule.rank for rule in RULES.values()]
    assert len(set(ranks)) == len(ranks)
    assert min(ranks) > UNKNOWN_RANK


def test_ranks_follow_the_lifecycle() -> None:
    assert sorted((s.value for s in MessageStatus), key=lambda s: RULES[MessageStatus(s)].rank) == LIFECYCLE


def test_terminal_and_failure_statuses() -> None:
    assert {s.value for s, rule in RULES.items() if rule.terminal} == TERMINAL
    assert {s.value for s, rule in RULES.items() if rule.failure} == FAILURES


def test_statuses_are_exactly_twilios() -> None:
    spec = json.loads(TWILIO_SPEC.read_text())
    assert {s.value for s in MessageStatus} == set(spec["components"]["schemas"]["message_enum_status"]["enum"])


@pytest.mark.parametrize("value", ["sent", "read", "partially_delivered"])
def test_known_values_parse(value: str) -> None:
    assert parse_status(value).value == value
    assert known_status(value) is MessageStatus(value)
    assert rank_of(value) == RULES[MessageStatus(value)].rank


@pytest.mark.parametrize("value", ["Sent", "carrier_accepted", "", "retrying"])
def test_unknown_value_raises_listing_the_accepted_ones(value: str) -> None:
    with pytest.raises(UnknownStatus) as raised:
        parse_status(value)
    assert raised.value.code == "unknown_status" and raised.value.http_status == 400
    assert all(s.value in raised.value.message for s in MessageStatus)
    assert known_status(value) is None and rank_of(value) is None
