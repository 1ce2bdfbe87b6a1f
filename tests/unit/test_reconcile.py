"""The reconciler (services/outbound/chalicelib/reconcile.py): what Twilio has and we lack is
stored once, as the webhook would have stored it; a status further at Twilio moves ours
forward, never back; the checkpoint moves on, and a run reads a bounded number of pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from carrier_core.inbound import InboundMessage, store_inbound
from carrier_core.models import MessageModel, ReconcileCheckpointModel, TenantModel, iso
from carrier_core.settings import DEFAULT_TENANT
from carrier_core.status.store import StatusReport, record_status
from carrier_core.tenant_scan import registered_tenants
from carrier_core.tenants import is_tenant_id
from devstack.sandbox.lifecycle import Outcome, advance
from tests.support.outbound import CUSTOMER, SENDER, Outbound, outbound, stored, twilio  # noqa: F401 - fixtures
from tests.support.sandbox import ACCOUNT_SID

NUMBER = SENDER


def lose_inbound(outbound: Outbound, body: str = "hello", **extra: Any) -> str:
    """A message Twilio received whose webhook never reached us."""
    spec = {"from": CUSTOMER, "to": NUMBER, "body": body, "deliver": False, **extra}
    response = requests.post(f"{outbound.twilio.url}/_sandbox/inbound", json=spec, timeout=10)
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    return sid


def run(outbound: Outbound, **kwargs: Any) -> Any:
    from chalicelib.reconcile import reconcile

    return reconcile(outbound.settings(), outbound.app.runtime.tenants, lambda: 60.0, **kwargs)


def webhook_form(sid: str, body: str = "hello") -> list[tuple[str, str]]:
    return [("MessageSid", sid), ("AccountSid", ACCOUNT_SID), ("From", CUSTOMER), ("To", NUMBER), ("Body", body), ("NumMedia", "0")]


def test_a_lost_inbound_message_is_stored_once_as_the_webhook_would_and_its_late_webhook_is_a_duplicate(outbound: Outbound) -> None:
    sid = lose_inbound(outbound, "where is my order")
    report = run(outbound)
    assert report.reconciled == 1 and report.accounts[0].inbound_stored == 1
    item = stored(sid)
    assert item is not None
    assert (item.direction, item.status, item.body, item.from_number, item.to_number, item.tenant) == (
        "inbound",
        "received",
        "where is my order",
        CUSTOMER,
        NUMBER,
        None,
    )
    assert [(h.status, h.source) for h in item.history] == [("received", "reconciled")]
    # The next run finds it stored: nothing more is written.
    assert run(outbound).reconciled == 0
    # The webhook, arriving late, makes the same conditional write: a duplicate.
    assert store_inbound(InboundMessage.from_form(webhook_form(sid, "where is my order")), outbound.settings()) is False
    assert len(stored(sid).history) == 1  # type: ignore[union-attr]
    assert [f.value for f in run(outbound).metrics if f.name == "MessagesReconciled" and not f.dimensions] == [0.0]


def test_a_message_the_webhook_stored_is_left_alone(outbound: Outbound) -> None:
    sid = lose_inbound(outbound)
    assert store_inbound(InboundMessage.from_form(webhook_form(sid)), outbound.settings()) is True
    assert run(outbound).reconciled == 0
    assert [h.source for h in stored(sid).history] == ["inbound"]  # type: ignore[union-attr]


def test_a_lost_stop_records_the_opt_out_in_the_same_write(outbound: Outbound) -> None:
    from carrier_core.models import OptOutModel

    lose_inbound(outbound, "STOP")
    assert run(outbound).reconciled == 1
    assert OptOutModel.get(CUSTOMER, NUMBER).opted_out is True


def test_a_lost_mms_carries_its_media_for_the_rehost(outbound: Outbound) -> None:
    sid = "MM" + "3c" * 16
    hosted = requests.post(
        f"{outbound.twilio.url}/_sandbox/media?message_sid={sid}&account_sid={ACCOUNT_SID}",
        data=b"\xff\xd8\xff\xe0 jpeg",
        headers={"Content-Type": "image/jpeg"},
        timeout=10,
    ).json()
    assert lose_inbound(outbound, "", sid=sid) == sid
    assert run(outbound).reconciled == 1
    item = stored(sid)
    assert item is not None and item.channel == "mms"
    assert [(m.url, m.content_type, m.status) for m in item.media] == [(hosted["url"], "image/jpeg", "pending")]


def twilio_moves(outbound: Outbound, sid: str, *statuses: str) -> None:
    """The message moves on at Twilio, its callbacks never reaching us."""
    sandbox = outbound.twilio.server.sandbox
    with sandbox.lock:
        for status in statuses:
            advance(sandbox.messages[sid], Outcome(status), datetime.now(timezone.utc))


def send(outbound: Outbound) -> str:
    response = outbound.post({"to": CUSTOMER, "body": "your code is 1234"})
    assert response.status_code == 202, response.body
    sid: str = response.json_body["sid"]
    return sid


def test_an_outbound_status_further_at_twilio_moves_ours_forward(outbound: Outbound) -> None:
    sid = send(outbound)
    assert stored(sid).status == "queued"  # type: ignore[union-attr]
    twilio_moves(outbound, sid, "sent", "delivered")
    report = run(outbound)
    assert report.accounts[0].outbound_advanced == 1
    item = stored(sid)
    assert item is not None and item.status == "delivered"
    assert (item.history[-1].status, item.history[-1].source) == ("delivered", "reconciled")
    assert run(outbound).reconciled == 0


def test_nothing_behind_ours_is_moved_back(outbound: Outbound) -> None:
    sid = send(outbound)
    twilio_moves(outbound, sid, "sent")
    now = datetime.now(timezone.utc)
    record_status(sid, StatusReport("delivered", now, "callback"), now + timedelta(days=1))
    history = len(stored(sid).history)  # type: ignore[union-attr]
    assert run(outbound).reconciled == 0
    item = stored(sid)
    assert item is not None and item.status == "delivered" and len(item.history) == history


def test_an_outbound_message_of_another_tenant_or_not_ours_is_left_alone(outbound: Outbound) -> None:
    sid = send(outbound)
    twilio_moves(outbound, sid, "sent", "delivered")
    item = stored(sid)
    assert item is not None
    item.update(actions=[MessageModel.tenant.set("acme")])
    requests.post(
        f"{outbound.twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": CUSTOMER, "From": SENDER, "Body": "sent from the console"},
        auth=(ACCOUNT_SID, "unit-test-twilio-auth-token"),
        timeout=10,
    ).raise_for_status()
    assert run(outbound).reconciled == 0
    assert stored(sid).status == "queued"  # type: ignore[union-attr]
    assert MessageModel.count() == 1


def test_the_checkpoint_moves_to_when_the_pass_began_and_the_next_run_reads_from_it(outbound: Outbound) -> None:
    from chalicelib.reconcile import FIRST_LOOKBACK, OVERLAP, checkpoint_key

    now = datetime.now(timezone.utc)
    first = run(outbound, now=now)
    assert first.accounts[0].since == iso(now - FIRST_LOOKBACK - OVERLAP)
    checkpoint = ReconcileCheckpointModel.get(checkpoint_key(ACCOUNT_SID))
    assert (checkpoint.since, checkpoint.resume_before, checkpoint.target) == (iso(now), None, None)
    later = now + timedelta(minutes=5)
    assert run(outbound, now=later).accounts[0].since == iso(now - OVERLAP)
    assert ReconcileCheckpointModel.get(checkpoint_key(ACCOUNT_SID)).since == iso(later)
    # A run by hand from `since` leaves the checkpoint alone.
    run(outbound, since=now - timedelta(days=1), now=later + timedelta(minutes=5))
    assert ReconcileCheckpointModel.get(checkpoint_key(ACCOUNT_SID)).since == iso(later)


def test_a_run_reads_at_most_its_pages_and_the_next_reads_on_until_the_list_ends(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import reconcile

    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)
    sids = [lose_inbound(outbound, f"message {i}") for i in range(5)]
    sandbox = outbound.twilio.server.sandbox
    base = datetime.now(timezone.utc).replace(microsecond=0)
    with sandbox.lock:  # one a second apart, in the order they were created
        for i, sid in enumerate(sids):
            sandbox.messages[sid].date_sent = base - timedelta(seconds=len(sids) - i)
    now = datetime.now(timezone.utc)
    first = run(outbound, now=now, max_pages=1)
    assert (first.accounts[0].pages, first.accounts[0].complete, first.reconciled) == (1, False, 2)
    checkpoint = ReconcileCheckpointModel.get(reconcile.checkpoint_key(ACCOUNT_SID))
    assert checkpoint.target == iso(now) and checkpoint.resume_before is not None
    runs = 1
    while not run(outbound, now=now + timedelta(minutes=runs), max_pages=1).accounts[0].complete:
        runs += 1
        assert runs < 10
    assert all(stored(sid) is not None for sid in sids)
    assert all(len(stored(sid).history) == 1 for sid in sids)  # type: ignore[union-attr]
    checkpoint = ReconcileCheckpointModel.get(reconcile.checkpoint_key(ACCOUNT_SID))
    # The pass that reached the end moves the checkpoint to when the whole pass began.
    assert (checkpoint.since, checkpoint.resume_before, checkpoint.target) == (iso(now), None, None)


def test_a_checkpoint_never_collides_with_a_tenant_and_readers_of_tenants_skip_it(outbound: Outbound) -> None:
    from chalicelib.reconcile import checkpoint_key

    run(outbound)
    key = checkpoint_key(ACCOUNT_SID)
    assert not is_tenant_id(key) and key != DEFAULT_TENANT
    TenantModel("acme", account_sid="AC" + "a" * 32, created_at="2026-01-01", updated_at="2026-01-01").save()
    assert [str(t.tenant) for t in registered_tenants()] == ["acme"]
    assert outbound.app.runtime.tenants.account(key) is None
    assert outbound.client.http.get("/tenants/%23reconcile%2Fx/messages/SM" + "0" * 32).status_code == 404


def test_an_unreachable_account_is_reported_and_the_others_still_run(outbound: Outbound) -> None:
    TenantModel("gone", account_sid="AC" + "b" * 32, created_at="2026-01-01", updated_at="2026-01-01").save()
    sid = lose_inbound(outbound)
    report = run(outbound)
    by_tenant = {a.tenant: a for a in report.accounts}
    assert by_tenant[DEFAULT_TENANT].inbound_stored == 1 and stored(sid) is not None
    assert by_tenant["gone"].error is not None
    assert [f.name for f in report.metrics].count("ReconcileFailed") == 1


def test_the_scheduled_function_runs_it_and_counts_what_it_recovered(
    outbound: Outbound, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import reconcile

    monkeypatch.setattr(reconcile, "PAGE_SECONDS", 0.0)  # the test client's context has seconds only
    sid = lose_inbound(outbound)
    event = outbound.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={"tenant": "default"}, resources=[]
    )
    answer = outbound.client.lambda_.invoke("reconcile", event).payload
    assert answer["reconciled"] == 1, answer
    assert [a["tenant"] for a in answer["accounts"]] == ["default"]
    assert stored(sid) is not None
    emitted = [line for line in capsys.readouterr().out.splitlines() if '"MessagesReconciled"' in line]
    assert emitted and any('"MessagesReconciled": 1' in line or '"MessagesReconciled":1' in line for line in emitted)


def test_the_local_route_takes_since_and_tenant_and_refuses_anything_else(outbound: Outbound) -> None:
    from chalicelib.local import reconcile_args
    from carrier_core.errors import CarrierError

    assert reconcile_args(b"") == (None, None)
    since, tenant = reconcile_args(b'{"since": "2026-01-15T10:00:00Z", "tenant": "acme"}')
    assert since == datetime(2026, 1, 15, 10, tzinfo=timezone.utc) and tenant == "acme"
    for body in (b'{"since": "yesterday"}', b'{"tenant": "#reconcile/x"}', b'{"at": 1}', b'{"since": 5}', b"[]"):
        with pytest.raises(CarrierError):
            reconcile_args(body)


def scheduled_item(sid: str, status: str, tenant: str | None = None, scheduled: bool = True) -> None:
    stamp = iso(datetime.now(timezone.utc))
    key = f"{tenant}/{CUSTOMER}" if tenant else CUSTOMER
    MessageModel(
        sid, tenant=tenant, direction="outbound", status=status, created_at=stamp, updated_at=stamp,
        scheduled_for=key if scheduled else None, send_at=stamp if scheduled else None,
    ).save()  # fmt: skip


def test_a_full_run_counts_the_messages_each_account_holds_scheduled(outbound: Outbound) -> None:
    """Twilio's limit is per account: the count is by account, of the messages still
    `scheduled` (one sent since, or never scheduled, is not), and the metric is the largest."""
    for n in range(3):
        scheduled_item(f"SM{n:032x}", "scheduled")
    scheduled_item("SM" + "a" * 32, "delivered")  # left the index's status behind
    scheduled_item("SM" + "b" * 32, "queued", scheduled=False)
    scheduled_item("SM" + "c" * 32, "scheduled", tenant="gone-tenant")  # not registered: by its id
    report = run(outbound)
    assert report.scheduled is not None and report.scheduled.complete
    assert report.scheduled.by_account == {outbound.settings().account.account_sid: 3, "gone-tenant": 1}
    assert [f.value for f in report.metrics if f.name == "ScheduledMessagesMax"] == [3.0]
    assert report.as_dict()["scheduled"]["limit"] == 500_000
    # A run for one tenant (by hand) does not count.
    assert run(outbound, tenant=DEFAULT_TENANT).scheduled is None


def test_a_count_cut_short_says_so_and_emits_a_lower_bound(outbound: Outbound) -> None:
    from chalicelib.scheduled_count import count_scheduled

    scheduled_item("SM" + "d" * 32, "scheduled")
    cut = count_scheduled(outbound.app.runtime.tenants, lambda: 0.0)
    assert (cut.complete, cut.largest) == (False, 0)
