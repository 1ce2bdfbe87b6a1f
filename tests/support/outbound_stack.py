"""Outbound over the running local stack: POST /messages, the sandbox's control API, the worker."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from tests.support.stack import RunningStack

JSON_HEADERS = {"Content-Type": "application/json"}


def post_message(stack: RunningStack, payload: Any, key: str | None = None, session: requests.Session | None = None) -> requests.Response:
    """POST /messages with a JSON body (a str is sent as is) and an optional Idempotency-Key."""
    headers = {**JSON_HEADERS, **({"Idempotency-Key": key} if key else {})}
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return (session or stack.http).post(stack.url("outbound", "/messages"), data=body.encode(), headers=headers, timeout=60)


def sandbox_requests(stack: RunningStack, reset: bool = False) -> list[dict[str, Any]]:
    """The Messages.json POSTs the sandbox received; `reset` forgets them afterwards."""
    response = stack.http.get(stack.url("sandbox", "/_sandbox/requests"), timeout=10)
    response.raise_for_status()
    received = [_form_of(entry) for entry in response.json()]
    if reset:
        stack.http.delete(stack.url("sandbox", "/_sandbox/requests"), timeout=10).raise_for_status()
    return received


def _form_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A received request's form fields: the sandbox lists each field's values; one is unwrapped."""
    form: dict[str, list[str]] = entry["form"]
    return {name: values[0] if len(values) == 1 else values for name, values in form.items()}


def sandbox_fault(
    stack: RunningStack,
    status: int | None,
    count: int,
    retry_after: int | None = None,
    after_create: bool = False,
    delay: float = 0,
) -> None:
    """Make the next `count` Messages.json POSTs fail with `status` (-1: until cleared),
    after creating the message when `after_create`, answering `delay` seconds late."""
    fault: dict[str, Any] = {"status": status, "count": count, "after_create": after_create, "delay": delay}
    if retry_after is not None:
        fault["retry_after"] = retry_after
    stack.http.post(stack.url("sandbox", "/_sandbox/faults"), json=fault, timeout=10).raise_for_status()


def sandbox_log(stack: RunningStack) -> list[dict[str, Any]]:
    """The sandbox's request log as it keeps it: status, sid, auth_user, form."""
    response = stack.http.get(stack.url("sandbox", "/_sandbox/requests"), timeout=10)
    response.raise_for_status()
    entries: list[dict[str, Any]] = response.json()
    return entries


def sandbox_messages(stack: RunningStack, to: str, auth: tuple[str, str]) -> list[dict[str, Any]]:
    """Every message the sandbox holds for `to`, through its Messages list (one big page)."""
    url = stack.url("sandbox", f"/2010-04-01/Accounts/{auth[0]}/Messages.json")
    params: dict[str, str] = {"To": to, "PageSize": "1000"}
    response = stack.http.get(url, params=params, auth=auth, timeout=10)
    response.raise_for_status()
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


def dynamodb_fault(stack: RunningStack, target: str, table: str, count: int, delay: float) -> None:
    """Hold the next `count` `target` requests on the local `table` for `delay` s, then fail them."""
    spec: dict[str, Any] = {"target": target, "table": f"omni-twilio-local-{table}", "count": count, "delay": delay}
    stack.http.post(stack.url("dynamodb", "/_devstack/faults"), json=spec, timeout=10).raise_for_status()


def clear_dynamodb_fault(stack: RunningStack) -> None:
    stack.http.delete(stack.url("dynamodb", "/_devstack/faults"), timeout=10).raise_for_status()


def clear_sandbox(stack: RunningStack) -> None:
    stack.http.delete(stack.url("sandbox", "/_sandbox/faults"), timeout=10).raise_for_status()
    stack.http.delete(stack.url("sandbox", "/_sandbox/requests"), timeout=10).raise_for_status()


def run_retry_worker(stack: RunningStack, at: float | None = None) -> dict[str, Any]:
    """Run the retry worker now through the local stage's route, as of epoch second `at`."""
    body = {"at": at} if at is not None else {}
    response = stack.http.post(stack.url("outbound", "/_local/retry-failed"), json=body, timeout=120)
    response.raise_for_status()
    report: dict[str, Any] = response.json()
    return report


def an_hour_from_now() -> float:
    return time.time() + 3600
