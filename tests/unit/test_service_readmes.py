"""Each service's README names every setting its deployed functions are given and read.

What a function is given comes from Terraform: the service module's environment (with the
conditional names whose inputs the service's root passes), the root's own `environment`,
the stream functions' additions. What the service reads beyond carrier_core.settings is
found by running its readers against an environment that records every name asked for.
The architecture doc's test holds the full list of what carrier_core.settings reads.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import hcl2
import pytest

from carrier_core import settings as settings_module
from carrier_core.settings import Settings
from carrier_core.version import running_version
from tests.support.outbound import outbound_module

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "infra" / "modules" / "service"
SERVICES = ("inbound", "status", "outbound")
URLS = {"INBOUND_WEBHOOK_URL": "https://in.example.com/twilio/inbound", "STATUS_WEBHOOK_URL": "https://st.example.com/twilio/status"}
MINIMAL = {"STAGE": "dev", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x", **URLS}
RESOLVE_ALIASES = settings_module._resolve_aliases
# Read only when the token itself is not in the environment (deployed stages read it from SSM).
TOKEN_PARAMETERS = {"TWILIO_AUTH_TOKEN_PARAMETER", "TWILIO_AUTH_TOKEN_SECONDARY_PARAMETER"}
SETTING = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|STAGE")


class Recording(Mapping[str, str]):
    """An environment that answers from `values` and remembers every name asked for."""

    def __init__(self, values: dict[str, str], asked: set[str] | None = None) -> None:
        self.answers = values
        self.asked = set() if asked is None else asked

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.answers[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.asked.add(name)
        return self.answers.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.answers)

    def __len__(self) -> int:
        return len(self.answers)


def recording(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> Recording:
    """A recording environment, also behind the copy with aliases resolved that settings reads."""
    env = Recording(values)
    monkeypatch.setattr(settings_module, "_resolve_aliases", lambda e: Recording(dict(RESOLVE_ALIASES(e)), env.asked))
    return env


def _locals(path: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in hcl2.load(path.open()).get("locals", []):
        merged.update(block)
    return merged


def _service_call(service: str) -> dict[str, Any]:
    for call in hcl2.load((ROOT / "infra" / "roots" / service / "main.tf").open()).get("module", []):
        for label, body in call.items():
            if label.strip('"') == "service":
                return dict(body)
    raise AssertionError(f"infra/roots/{service}/main.tf calls no service module")


def given(service: str) -> set[str]:
    """The environment names Terraform gives the service's functions."""
    call = _service_call(service)
    expression = _locals(MODULE / "main.tf")["environment"]
    always = re.search(r"merge\(var\.environment, \{(.*?)\}", expression)
    assert always is not None, "the module's environment is merge(var.environment, {...}, ...)"
    names = set(re.findall(r"([A-Z][A-Z0-9_]+) =", always.group(1)))
    for variable, name in re.findall(r"var\.(\w+) == null \? \{\} : \{([A-Z][A-Z0-9_]+) =", expression):
        if call.get(variable) not in (None, "${null}"):
            names.add(name)
    webhook = _locals(MODULE / "access.tf")["webhooks"].get(service)
    if webhook is not None:
        names.add(webhook["variable"].strip('"'))
    for stream, tf in (("media", "media.tf"), ("handoff", "handoff.tf")):
        if stream in call:
            names |= set(re.findall(rf"([A-Z][A-Z0-9_]+) = var\.{stream}\.", (MODULE / tf).read_text()))
    return names | set(call.get("environment", {}))


def read_by_code(service: str, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """What the service's code reads: carrier_core.settings and the version, the service's
    own readers, and the names its app.py reads for `chalice package`."""
    env = recording(monkeypatch, {**MINIMAL, "TWILIO_AUTH_TOKEN_SECONDARY": "y"})
    Settings.from_env(service, environ=env)
    running_version(ROOT / "services" / service, environ=env)
    if service == "outbound":
        outbound_module("retry").RetryPolicy.from_env(env)
    app = ast.parse((ROOT / "services" / service / "app.py").read_text())
    constants = {n.value for n in ast.walk(app) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return env.asked | {c for c in constants if SETTING.fullmatch(c)}


def named(text: str) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text))


@pytest.mark.parametrize("service", SERVICES)
def test_the_readme_names_every_setting_the_deployed_service_reads(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = named((ROOT / "services" / service / "README.md").read_text())
    given_and_read = given(service) & (read_by_code(service, monkeypatch) | TOKEN_PARAMETERS)
    assert given_and_read - readme == set()


@pytest.mark.parametrize("service", SERVICES)
def test_terraform_gives_only_what_the_code_reads(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name Terraform sets that no code reads is a setting that silently does nothing."""
    assert given(service) - read_by_code(service, monkeypatch) - TOKEN_PARAMETERS == set()


def test_the_service_module_readme_names_everything_the_module_sets() -> None:
    readme = named((MODULE / "README.md").read_text())
    expression = _locals(MODULE / "main.tf")["environment"]
    module_names = set(re.findall(r"([A-Z][A-Z0-9_]+) =", expression))
    webhooks = {w["variable"].strip('"') for w in _locals(MODULE / "access.tf")["webhooks"].values()}
    streams = set(
        re.findall(r"([A-Z][A-Z0-9_]+) = var\.(?:media|handoff)\.", (MODULE / "media.tf").read_text() + (MODULE / "handoff.tf").read_text())
    )
    assert (module_names | webhooks | streams) - readme == set()


@pytest.mark.parametrize("service", SERVICES)
def test_the_readme_names_what_the_service_reads_beyond_settings(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its own knobs (the outbound retry policy's) and what `chalice package` reads."""
    shared = recording(monkeypatch, MINIMAL)
    Settings.from_env(service, environ=shared)
    own = read_by_code(service, monkeypatch) - shared.asked - {"SERVICE_VERSION"}
    assert own, "the app reads at least its stream's ARN, or its stage for the local routes"
    assert own - named((ROOT / "services" / service / "README.md").read_text()) == set()
