"""Cold init of each service and the size of each deployment zip."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bench.local import ROOT, SERVICE_ENV
from bench.measure import Result, at_most, median

COLD_LIMIT = 1.25
# Starts a side. On a shared 2-core machine one start's CPU time is spread widely (outbound's
# app: 10th-90th percentile 250-408 ms around a median of 284), and with 25 a side the ratio
# of the same code measured 1.08-1.22 in back-to-back runs.
COLD_RUNS = 50
ZIP_BYTECODE_LIMIT = 0.9
# A deployed stage: the local stage's settings, less what makes it local (no DynamoDB
# endpoint, so nothing is contacted while the app loads).
DEPLOYED_ENV = {**{k: v for k, v in SERVICE_ENV.items() if not k.startswith("SANDBOX_")}, "STAGE": "dev"}
BASELINES = {
    "inbound": "import pynamodb.models",
    "status": "import pynamodb.models",
    "outbound": "import pynamodb.models, twilio.rest",
}
ZIP_LIMITS = {"inbound": 3_000_000, "status": 3_000_000, "outbound": 15_000_000}


def cpu_of_run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """The CPU time (user + system) a process running `argv` took from start to exit.

    CPU time rather than wall time: an import is one thread that reads files from the page
    cache, so on an idle core the two are equal (measured: the same medians to the ms), but on
    a shared machine the wall time also counts the time the process waited for a core. Under
    two busy loops on a 2-core machine the wall ratio of inbound went from 1.14 to 1.36
    and status's from 1.15 to 1.12, while the CPU ratios stayed within 0.01.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# What the outbound service defers to its first send (carrier_core/phone.py says why): the
# cold start through the first send's imports is measured too, so deferring cannot hide a
# cost. The Twilio SDK defers the same way (its Messages API loads on first use, ~30 ms), and
# any sender pays that, so both sides of that row resolve it.
OUR_FIRST_SEND = "from carrier_core.phone import parse_address; parse_address('+14155552671', 'to')"
SDK_FIRST_SEND = "from twilio.rest import Client; Client('AC' + '0' * 32, 'token').api.v2010.accounts('AC' + '0' * 32).messages"


def cold_init(service: str, runs: int = COLD_RUNS, first_send: bool = False) -> Result:
    """Whole-process CPU time to import the app (settings read, models bound) vs the baseline
    import; with `first_send`, each side also loads what its first send loads."""
    cwd = ROOT / "services" / service
    # carrier_core as a plain directory on the path, as in the Lambda zip, rather than
    # through the editable install's import hook, which costs a cold start Lambda never pays.
    env = {**os.environ, **DEPLOYED_ENV, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT / 'libs' / 'carrier_core'}"}
    # Both sides load from cached bytecode: site-packages has it from pip, and our modules get
    # it from the first run below, which an environment that forbids writing it would prevent.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    app_code, base_code = "import app", BASELINES[service]
    if first_send:
        app_code, base_code = f"{app_code}; {OUR_FIRST_SEND}; {SDK_FIRST_SEND}", f"{base_code}; {SDK_FIRST_SEND}"
    app_ms, base_ms = interleaved(([sys.executable, "-c", app_code], env, cwd), ([sys.executable, "-c", base_code], env, cwd), runs)
    name = f"cold {service} through its first send's imports" if first_send else f"cold init {service}"
    name += f" vs `{BASELINES[service]}`{' + the same' if first_send else ''}"
    return at_most(name, app_ms, base_ms, "ms CPU", COLD_LIMIT)


Run = tuple[list[str], dict[str, str], Path]


def interleaved(one: Run, other: Run, runs: int) -> tuple[float, float]:
    """Median CPU ms of each of two processes, started in turn `runs` times after one untimed
    start each (page cache, bytecode), so load on the machine hits both sides alike."""
    cpu_of_run(*one)
    cpu_of_run(*other)
    one_times, other_times = [], []
    for _ in range(runs):
        one_times.append(cpu_of_run(*one))
        other_times.append(cpu_of_run(*other))
    return median(one_times) * 1000, median(other_times) * 1000


def zip_cold(service: str, runs: int = 15) -> Result:
    """Cold init as Lambda runs it: the app imported from its extracted deployment zip with no
    bytecode written (Lambda's code directory is read-only), against the same zip's files
    without the bytecode it ships. Outbound through its first send's imports. Measured at
    0.74-0.83 (inbound, status) and 0.38-0.41 (outbound); without the bytecode both sides are
    the same files, at 1.0, so the limit catches a packager that stops shipping it."""
    code = "import app" + (f"; {OUR_FIRST_SEND}; {SDK_FIRST_SEND}" if service == "outbound" else "")
    with tempfile.TemporaryDirectory(prefix=f"bench-zip-{service}-") as tmp:
        shipped, source = Path(tmp, "shipped"), Path(tmp, "source")
        with zipfile.ZipFile(ROOT / "build" / f"{service}.zip") as zf:
            zf.extractall(shipped)
            zf.extractall(source, members=[name for name in zf.namelist() if not name.endswith(".pyc")])
        # What the zip leaves to the runtime (boto3, botocore) comes from this venv, on both sides.
        env = {**os.environ, **DEPLOYED_ENV, "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [sys.executable, "-c", code]
        with_ms, without_ms = interleaved(
            (argv, {**env, "PYTHONPATH": str(shipped)}, shipped), (argv, {**env, "PYTHONPATH": str(source)}, source), runs
        )
    what = "through its first send's imports " if service == "outbound" else ""
    return at_most(
        f"cold {service} {what}from its zip: with the zip's bytecode vs without", with_ms, without_ms, "ms CPU", ZIP_BYTECODE_LIMIT
    )


def zip_sizes() -> list[Result]:
    """Build each deployment zip as `make package-<svc>` does and compare it with its limit."""
    results = []
    for service, limit in ZIP_LIMITS.items():
        subprocess.run([sys.executable, str(ROOT / "infra" / "package.py"), service], check=True, stdout=subprocess.DEVNULL)
        size = (ROOT / "build" / f"{service}.zip").stat().st_size / 1e6
        results.append(Result(f"deployment zip {service}", size, limit / 1e6, "MB", f"<= {limit / 1e6:.0f} MB", size * 1e6 <= limit))
    return results
