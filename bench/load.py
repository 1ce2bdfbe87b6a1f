"""Throughput through the running stack, 16 callers, each against the same server kind bare.

Inbound webhooks/s are compared with the same signed POSTs to a trivial route served the same
way (bench/trivial: `chalice local`'s gateway and threaded server, no work): the ratio is what
our handler costs on top of the server. Sends/s are compared with raw Messages.json POSTs to
the sandbox that the sends go through, its status callbacks held back for both.
"""

from __future__ import annotations

import json
import os
import tempfile
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import requests
from pathlib import Path

from bench.local import HOST, PORT_BASE, ROOT, SERVICE_ENV, child, running, sandbox_auth, wait_for_url
from bench.measure import Result, at_least, median

CALLERS = 16
CPU_BOUND_LIMIT = 0.85  # a run this close to its CPU ceiling is held by the cores


@contextmanager
def stack(base: int) -> Iterator[Any]:
    """The whole local stack (DynamoDB Local in memory) plus the trivial app on base + 8."""
    from devstack.stack import Layout, Stack
    from devstack.wiring import URL_SETTINGS

    os.environ.update(SERVICE_ENV)  # the stack's children, sandbox included, inherit these
    # but not the URLs the in-process rows set (their webhook URLs, their sandbox's address):
    # the stack keeps a URL set in its environment (a tunnel's, real Twilio's), and the load
    # here is signed for, and sent through, the stack's own addresses.
    kept = {name: os.environ.pop(name) for name in URL_SETTINGS if name in os.environ}
    with tempfile.TemporaryDirectory() as data, open(os.devnull, "wb") as quiet:
        layout = Layout(base, Path(data), dynamodb_in_memory=True)
        whole = Stack(layout, output=quiet)
        trivial = child(
            [
                sys.executable,
                "-m",
                "devstack.serve",
                "trivial",
                "--host",
                HOST,
                "--port",
                str(base + 8),
                "--project-dir",
                str(ROOT / "bench" / "trivial"),
            ],
            cwd=ROOT / "bench" / "trivial",
        )
        try:
            with running(trivial):
                whole.start()
                wait_for_url(f"http://{HOST}:{base + 8}/health")
                yield layout, {**{name: proc.pid for name, proc in whole.procs.items()}, "trivial": trivial.pid}
        finally:
            whole.stop()
            os.environ.update(kept)


def cpu_seconds(root: int) -> float:
    """User plus system CPU time of `root` and every live process below it, from /proc."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
    tree, todo = {root}, [root]
    while todo:
        parent = todo.pop()
        children = [pid for pid, fields in stats.items() if int(fields[1]) == parent]
        tree.update(children)
        todo.extend(children)
    ticks = sum(int(stats[pid][11]) + int(stats[pid][12]) for pid in tree if pid in stats)  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used per call by each named process (and by this one, the callers) over a round."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.per_call: dict[str, list[float]] = {name: [] for name in (*pids, "callers")}

    @contextmanager
    def round(self, calls: int) -> Iterator[None]:
        before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        mine = sum(os.times()[:2])  # this process alone: the callers, not the stack below it
        yield
        for name, pid in self.pids.items():
            self.per_call[name].append((cpu_seconds(pid) - before[name]) * 1000 / calls)
        self.per_call["callers"].append((sum(os.times()[:2]) - mine) * 1000 / calls)

    def each(self) -> dict[str, float]:
        """Each process's median CPU ms per call."""
        return {name: median(values) for name, values in self.per_call.items() if values}

    def ceiling(self, names: tuple[str, ...] | None = None, extra_ms: float = 0.0) -> float:
        """The calls/s this machine's cores allow at the CPU per call of `names` (all by
        default), plus `extra_ms` a call: the most any run can reach when it is CPU-bound."""
        each = self.each()
        return (os.cpu_count() or 1) * 1000 / (sum(each[name] for name in (names or each)) + extra_ms)

    def summary(self) -> str:
        """Each process's CPU ms per call, their sum, and the ceiling it sets."""
        each = self.each()
        parts = ", ".join(f"{name} {ms:.2f}" for name, ms in each.items())
        return f"{parts} (sum {sum(each.values()):.2f}: {os.cpu_count() or 1} cores allow {self.ceiling():.0f}/s)"


def rate(run: Callable[[requests.Session, int], int], total: int, expected: int) -> float:
    """Calls per second from CALLERS threads, each with its own keep-alive session."""
    local = threading.local()

    def call(i: int) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return run(local.session, i)

    began = time.perf_counter()
    with ThreadPoolExecutor(CALLERS) as pool:
        statuses = list(pool.map(call, range(total)))
    elapsed = time.perf_counter() - began
    assert statuses == [expected] * total, sorted(set(statuses))
    return total / elapsed


def compare_rates(
    ours: Callable[[requests.Session, int], int],
    ours_status: int,
    theirs: Callable[[requests.Session, int], int],
    theirs_status: int,
    total: int,
    meters: tuple[CpuMeter, CpuMeter],
    rounds: int = 3,
) -> tuple[float, float]:
    rate(ours, total // 4, ours_status), rate(theirs, total // 4, theirs_status)  # warm both
    mine, reference = [], []
    for _ in range(rounds):
        with meters[0].round(total):
            mine.append(rate(ours, total, ours_status))
        with meters[1].round(total):
            reference.append(rate(theirs, total, theirs_status))
    return median(mine), median(reference)


def throughput(total: int) -> list[Result]:
    from tests.support.forms import encode, sign, sms

    with stack(PORT_BASE + 20) as (layout, pids):
        inbound_url = layout.url("inbound") + "/twilio/inbound"
        trivial_url = f"http://{HOST}:{PORT_BASE + 28}/twilio/inbound"
        token = SERVICE_ENV["TWILIO_AUTH_TOKEN"]
        forms = [sms() for _ in range(8 * total)]
        bodies = [(encode(form).encode(), sign(inbound_url, form, token)) for form in forms]
        cursor = iter(range(len(bodies)))
        lock = threading.Lock()

        def post_to(url: str) -> Callable[[requests.Session, int], int]:
            def post(session: requests.Session, _: int) -> int:
                with lock:
                    body, signature = bodies[next(cursor)]
                headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
                return session.post(url, data=body, headers=headers, timeout=30).status_code

            return post

        webhook_cpu = (CpuMeter({k: pids[k] for k in ("inbound", "dynamodb", "poller", "aws")}), CpuMeter({"trivial": pids["trivial"]}))
        inbound, trivial = compare_rates(post_to(inbound_url), 200, post_to(trivial_url), 200, total, webhook_cpu)
        # The server's own CPU for a request to a route that does nothing: the least any
        # service served this way can cost.
        framework_ms = webhook_cpu[1].each()["trivial"]

        send_url = layout.url("outbound") + "/messages"
        account = SERVICE_ENV["TWILIO_ACCOUNT_SID"]
        raw_url = layout.url("sandbox") + f"/2010-04-01/Accounts/{account}/Messages.json"
        auth = {"Authorization": sandbox_auth()}

        def send(session: requests.Session, i: int) -> int:
            body = json.dumps({"to": f"+1500555{1000 + i % 8000:04d}", "body": f"bench {i}"})
            return session.post(send_url, data=body, headers={"Content-Type": "application/json"}, timeout=30).status_code

        def raw(session: requests.Session, i: int) -> int:
            form = {"To": f"+1500555{1000 + i % 8000:04d}", "From": "+15005550006", "Body": f"raw {i}"}
            return session.post(raw_url, data=form, headers=auth, timeout=30).status_code

        send_cpu = (
            CpuMeter({k: pids[k] for k in ("outbound", "dynamodb", "sandbox", "poller", "aws")}),
            CpuMeter({"sandbox": pids["sandbox"]}),
        )
        sends, raws = compare_rates(send, 202, raw, 201, total, send_cpu)
    return [
        compared(f"inbound webhooks/s, {CALLERS} callers, vs a trivial route", inbound, trivial, "per s"),
        own_cpu("inbound service's own CPU per webhook", webhook_cpu[0], "inbound", framework_ms),
        info(f"CPU ms per webhook: {webhook_cpu[0].summary()}; per trivial POST: {webhook_cpu[1].summary()}"),
        *bounds("inbound webhooks/s", inbound, trivial, webhook_cpu, ("dynamodb", "aws", "callers"), framework_ms),
        compared(f"sends/s, {CALLERS} callers, vs raw POSTs to the sandbox", sends, raws, "per s"),
        own_cpu("outbound service's own CPU per send", send_cpu[0], "outbound", framework_ms),
        info(f"CPU ms per send: {send_cpu[0].summary()}; per raw POST: {send_cpu[1].summary()}"),
        *bounds("sends/s", sends, raws, send_cpu, ("dynamodb", "sandbox", "aws", "callers"), framework_ms),
    ]


def bounds(
    label: str, measured: float, bare_rate: float, meters: tuple[CpuMeter, CpuMeter], fixed: tuple[str, ...], framework_ms: float
) -> list[Result]:
    """Why a rate misses its target when the whole stack shares this machine's cores.

    First, the rate against the ceiling its CPU per call sets: near 1, the run is CPU-bound
    and no lock or queue of ours holds it. Second, the most the `fixed` processes (those
    that are not ours: DynamoDB Local, moto standing in for EventBridge and SQS, the
    sandbox, the callers) allow by their CPU per call, with our service costing only
    `framework_ms` (what the server costs for a route that does nothing) and our stream
    poller nothing, against the bare rate: below the target, no change of ours can meet it
    on this machine. It explains and has no target of its own.
    """
    best = meters[0].ceiling(fixed, framework_ms)
    return [
        at_least(f"{label} vs what this machine's CPU allows", measured, meters[0].ceiling(), "per s", CPU_BOUND_LIMIT),
        Result(
            f"{label} if ours cost only the server's {framework_ms:.2f} ms ({' + '.join(fixed)} + that)",
            best,
            bare_rate,
            "per s",
            "explains",
            True,
            best / bare_rate,
        ),
    ]


def compared(label: str, value: float, reference: float, unit: str) -> Result:
    """A figure beside a reference, for information: no target. On 2 cores the stack's
    neighbours (DynamoDB Local's JVM alone costs more CPU per webhook than the trivial
    route's whole request) decide this ratio more than our code does; the row against what
    the CPU allows is the target."""
    return Result(label, value, reference, unit, "information", True, value / reference)


def own_cpu(label: str, meter: CpuMeter, service: str, framework_ms: float) -> Result:
    """One service's own CPU ms per event, beside what the server costs for a route that
    does nothing: what our code adds, measured, for information."""
    mine = meter.each()[service]
    return Result(label, mine, framework_ms, "CPU ms", "information", True, mine / framework_ms)


def info(text: str) -> Result:
    """A row that explains the one above it; it has no target of its own."""
    return Result(text, 0.0, None, "-", "-", True)
