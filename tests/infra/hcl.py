"""Read the Terraform under infra/ with python-hcl2, the way the tests need it."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
ROOTS_DIR = INFRA / "roots"
SERVICES = ("inbound", "status", "outbound")
ROOTS = tuple(sorted(p.parent for p in ROOTS_DIR.glob("*/main.tf")))
# A stage is a values file (stages/<stage>.tfvars) and a backend file in each root.
STAGES = tuple(sorted(p.stem for p in (ROOTS_DIR / "shared" / "stages").glob("*.tfvars")))
MODULE_DIRS = tuple(sorted(p for p in MODULES.iterdir() if p.is_dir()))

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


@cache
def load_file(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f, serialization_options=_OPTIONS)


def load_dir(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of a directory's .tf files, lists joined across files."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for key, value in load_file(path).items():
            merged.setdefault(key, []).extend(value)
    return merged


def resources(directory: Path, kind: str = "resource") -> dict[tuple[str, str], dict[str, Any]]:
    """(type, name) -> body for every resource (or data source) of a directory."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in load_dir(directory).get(kind, []):
        for rtype, named in entry.items():
            for name, body in named.items():
                found[(rtype, name)] = body
    return found


def named(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """name -> body for `variable`, `output` or `module` blocks."""
    found: dict[str, dict[str, Any]] = {}
    for entry in load_dir(directory).get(kind, []):
        found.update(entry)
    return found


def local_values(directory: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for entry in load_dir(directory).get("locals", []):
        values.update(entry)
    return values


def stage_values(root: Path, stage: str) -> dict[str, Any]:
    """A root's variables for one stage: stages/<stage>.tfvars over the defaults."""
    values = {name: body["default"] for name, body in named(root, "variable").items() if "default" in body}
    values.update(load_file(root / "stages" / f"{stage}.tfvars"))
    return values


_VAR_EXPR = re.compile(r"\$\{var\.(\w+)\}")


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _VAR_EXPR.fullmatch(value)
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return _VAR_EXPR.sub(lambda m: str(values[m.group(1)]) if isinstance(values.get(m.group(1)), str) else m.group(0), value)
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, values) for v in value]
    return value


def wired(root_name: str, stage: str, module: str) -> dict[str, Any]:
    """A module call of a root as one stage applies it: `${var.x}` replaced by the stage's value."""
    root = ROOTS_DIR / root_name
    return _resolve(named(root, "module")[module], stage_values(root, stage))  # type: ignore[no-any-return]


def text(directory: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))


def unquote_keys(value: Any) -> Any:
    """HCL object keys that needed quotes ("a/b") keep them after parsing: drop them."""
    if isinstance(value, dict):
        return {k.strip('"'): unquote_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unquote_keys(v) for v in value]
    return value


def top_level_names(source: str) -> set[str]:
    """Names a Lambda handler `app.<name>` can reach: top-level defs and assignments."""
    tree = ast.parse(source)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def app_routes(app_py: Path) -> set[tuple[str, str]]:
    """(METHOD, path) of every @app.route in a Chalice app.py."""
    routes: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(app_py.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == "route"):
                continue
            path = ast.literal_eval(deco.args[0])
            if path.startswith("/_local/"):
                continue  # registered only in the local stage (STAGE=local), never deployed
            methods = ["GET"]
            for kw in deco.keywords:
                if kw.arg == "methods":
                    methods = list(ast.literal_eval(kw.value))
            routes.update((m.upper(), path) for m in methods)
    return routes


def stream_function_statements(module_dir: Path, call: str) -> dict[str, dict[str, Any]]:
    """sid -> statement of a stream function's role: the module's own, the call's, and with
    the call's `tenant_reads` the module's tenant statements, its values put in."""
    policy = resources(MODULES / "stream_function", "data")[("aws_iam_policy_document", "this")]
    body = named(module_dir, "module")[call]
    statements = [*policy["statement"], *body["policy_statements"]]
    reads = body.get("tenant_reads")
    if reads is not None:
        name = re.fullmatch(r"\$\{local\.(\w+)\}", reads)
        values = local_values(module_dir)[name.group(1)] if name else reads
        for block in policy.get("dynamic", []):
            dynamic = block.get("statement", {})
            if "var.tenant_reads" not in dynamic.get("for_each", ""):
                continue
            for content in dynamic["content"]:
                resolved = [re.sub(r"\$\{statement\.value\.(\w+)\}", lambda m: values[m.group(1)], r) for r in content["resources"]]
                via = [v.split(".")[0] for c in content.get("condition", []) for v in c["values"]]
                statements.append({**content, "resources": resolved, "via_service": via[0] if via else None})
    return {s["sid"]: s for s in statements}


VAR_REF = re.compile(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)")
