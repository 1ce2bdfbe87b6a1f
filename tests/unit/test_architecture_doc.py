"""docs/architecture.md stays true: its checked tables name exactly what the code has."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from carrier_core.handoff.events import EventType
from carrier_core.models import ALL_MODELS
from carrier_core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
SERVICES = ("inbound", "status", "outbound")
CODE = re.compile(r"`([^`]+)`")


def section(heading: str) -> str:
    """The text under `## heading` up to the next `## `."""
    text = DOC.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def first_column(heading: str) -> list[str]:
    """The first cell of each row of the section's first table, header and rule left out."""
    rows = [line for line in section(heading).splitlines() if line.startswith("|")]
    return [row.split("|")[1].strip() for row in rows[2:]]


def app_entries(service: str) -> set[str]:
    """`METHOD /path` of each Chalice route, and the name of each other handler, in app.py."""
    entries: set[str] = set()
    tree = ast.parse((ROOT / "services" / service / "app.py").read_text())
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)):
                continue
            if decorator.func.attr == "route":
                path = ast.literal_eval(decorator.args[0])
                methods = next(ast.literal_eval(k.value) for k in decorator.keywords if k.arg == "methods")
                entries.update(f"{method} {path}" for method in methods)
            elif decorator.func.attr in ("on_dynamodb_record", "schedule", "lambda_function", "on_sqs_message"):
                entries.add(node.name)
    return entries


def test_routes_and_functions_are_the_apps() -> None:
    rows = [line for line in section("Routes and functions (checked)").splitlines() if line.startswith("| ") and "`" in line]
    documented = {(row.split("|")[1].strip(), CODE.findall(row.split("|")[2])[0]) for row in rows}
    assert documented == {(service, entry) for service in SERVICES for entry in app_entries(service)}


def test_tables_are_the_models() -> None:
    documented = {CODE.findall(cell)[0] for cell in first_column("The data (checked)")}
    settings = Settings.from_env("cli", {"STAGE": "dev", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "x"})
    names = {
        settings.messages_table,
        settings.failed_messages_table,
        settings.optouts_table,
        settings.idempotency_table,
        settings.tenants_table,
    }
    assert len(names) == len(ALL_MODELS)
    assert documented == {name.replace("-dev-", "-<stage>-") for name in names}


def test_event_types_are_the_hand_offs() -> None:
    documented = {CODE.findall(cell)[0] for cell in first_column("The hand-off to the workflow engine (checked)")}
    assert documented == {t.value for t in EventType}


def settings_read() -> set[str]:
    """Every environment variable name carrier_core.settings reads (its UPPER_CASE strings
    that are not placeholder SIDs)."""
    tree = ast.parse((ROOT / "libs/carrier_core/carrier_core/settings.py").read_text())
    names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return {n for n in names if re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|STAGE", n) and not re.fullmatch(r"(AC|SK)0+", n)}


def test_settings_are_what_settings_reads() -> None:
    documented = {name for cell in first_column("Settings (checked)") for name in CODE.findall(cell)}
    rows = section("Settings (checked)")
    aliases = set(re.findall(r"alias `([A-Z_]+)`", rows))
    assert documented | aliases == settings_read()
