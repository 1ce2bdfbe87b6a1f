"""Random orders, duplicates and concurrency: the stored status is always the furthest reached.

Each example takes one of Twilio's real lifecycles, delivers every callback of it at least
once plus random redeliveries, shuffles them, and posts them all at once through the real
stack. Whatever the order DynamoDB applies them in, the message must end at the status of
highest rank, with each distinct callback in its history exactly once.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carrier_core.status.machine import rank_of
from tests.support.callbacks import status_callback
from tests.support.forms import Pairs, new_sid
from tests.support.stack import RunningStack

# (status, ErrorCode) as Twilio reports them along each path a message can take.
LIFECYCLES: dict[str, list[tuple[str, int | None]]] = {
    "sms delivered": [("accepted", None), ("queued", None), ("sending", None), ("sent", None), ("delivered", None)],
    "sms undelivered": [("queued", None), ("sending", None), ("sent", None), ("undelivered", 30003)],
    "sms failed": [("queued", None), ("failed", 30007)],
    "whatsapp read": [("queued", None), ("sent", None), ("delivered", None), ("read", None)],
    "late receipt": [("queued", None), ("sent", None), ("undelivered", 30008), ("delivered", None)],
    "new status": [("queued", None), ("sent", None), ("carrier_accepted", None), ("delivered", None)],
    "scheduled": [("scheduled", None), ("accepted", None), ("queued", None), ("sent", None)],
}


@st.composite
def deliveries(draw: Any) -> tuple[str, list[tuple[str, int | None]], list[int]]:
    """A lifecycle, and the order its callbacks (by index, redeliveries repeated) arrive in."""
    name = draw(st.sampled_from(sorted(LIFECYCLES)))
    events = LIFECYCLES[name]
    redelivered = draw(st.lists(st.integers(0, len(events) - 1), max_size=6))
    order = draw(st.permutations(list(range(len(events))) + redelivered))
    return name, events, order


# Eight at a time: within the session's ten pooled connections, so examples reuse them
# rather than open new ones against chalice local's listen backlog of five.
WORKERS = 8


def post_all(stack: RunningStack, forms: list[Pairs]) -> list[int]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda form: stack.post_webhook("status", form).status_code, forms))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=deliveries())
def test_any_order_and_redelivery_ends_at_the_furthest_status(
    stack: RunningStack, case: tuple[str, list[tuple[str, int | None]], list[int]]
) -> None:
    name, events, order = case
    sid = new_sid("SM")
    whatsapp = name.startswith("whatsapp")
    forms = [status_callback(events[i][0], sid=sid, error_code=events[i][1], whatsapp=whatsapp) for i in order]
    assert post_all(stack, forms) == [204] * len(forms)

    message = stack.get_message(sid).json()
    furthest = max((e for e in events if rank_of(e[0]) is not None), key=lambda e: rank_of(e[0]) or 0)
    assert (message["status"], message["error_code"]) == furthest, name
    recorded = [(h["status"], h["error_code"]) for h in message["history"]]
    assert sorted(recorded, key=str) == sorted(events, key=str), name
    item = stack.table().get_item(Key={"sid": sid}, ConsistentRead=True)["Item"]
    assert len(item["event_ids"]) == len(events)
    assert int(item["status_rank"]) == rank_of(furthest[0])
