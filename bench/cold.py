"""Cold init of each service and the size of each deployment zip."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.local import ROOT, SERVICE_ENV
from bench.measure import Result, at_most, median

COLD_LIMIT = 1.25
# A deployed stage: the local stage's settings, less what makes it local (no DynamoDB
# endpoint, so nothing is contacted while the app loads).
DEPLOYED_ENV = {**{k: v for k, v in SERVICE_ENV.items() if not k.startswith("SANDBOX_")}, "STAGE": "dev"}
BASELINES = {
    "inbound": "import pynamodb.models",
    "status": "import pynamodb.models",
    "outbound": "import pynamodb.models, twilio.rest",
}
ZIP_LIMITS = {"inbound": 3_000_000, "status": 3_000_000, "outbound": 15_000_000}


def time_process(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


# What the outbound service defers to its first send (carrier_core/phone.py says why): the
# cold start with it is measured too, so deferring it cannot hide its cost.
FIRST_SEND = "from carrier_core.phone import parse_address; parse_address('+14155552671', 'to')"


def cold_init(service: str, runs: int = 25, then: str = "") -> Result:
    """Whole-process time to import the app (settings read, models bound), and `then` run,
    vs the baseline import."""
    cwd = ROOT / "services" / service
    # carrier_core as a plain directory on the path, as in the Lambda zip, rather than
    # through the editable install's import hook, which costs a cold start Lambda never pays.
    env = {**os.environ, **DEPLOYED_ENV, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT / 'libs' / 'carrier_core'}"}
    # Both sides load from cached bytecode: site-packages has it from pip, and our modules get
    # it from the first run below, which an environment that forbids writing it would prevent.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    app_argv = [sys.executable, "-c", "import app" + (f"; {then}" if then else "")]
    base_argv = [sys.executable, "-c", BASELINES[service]]
    time_process(app_argv, env, cwd)
    time_process(base_argv, env, cwd)
    app_times, base_times = [], []
    for _ in range(runs):  # interleaved, so load on the machine hits both sides alike
        app_times.append(time_process(app_argv, env, cwd))
        base_times.append(time_process(base_argv, env, cwd))
    name = f"cold init {service}{' + first number check' if then else ''} vs `{BASELINES[service]}`"
    return at_most(name, median(app_times) * 1000, median(base_times) * 1000, "ms", COLD_LIMIT)


def zip_sizes() -> list[Result]:
    """Build each deployment zip as `make package-<svc>` does and compare it with its limit."""
    results = []
    for service, limit in ZIP_LIMITS.items():
        subprocess.run([sys.executable, str(ROOT / "infra" / "package.py"), service], check=True, stdout=subprocess.DEVNULL)
        size = (ROOT / "build" / f"{service}.zip").stat().st_size / 1e6
        results.append(Result(f"deployment zip {service}", size, limit / 1e6, "MB", f"<= {limit / 1e6:.0f} MB", size * 1e6 <= limit))
    return results
