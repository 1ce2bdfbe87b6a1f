"""The change map: which services, Terraform roots and team suites a diff touches.

    python -m tests.affected BASE         # what `git diff --name-only BASE` affects

- services/<svc>/...: that service.
- libs/carrier_core/carrier_core/<module>: the services whose code imports that module,
  directly or through other carrier_core modules. The graph is built from the source with
  `ast` (services/<svc>/app.py and chalicelib/, and carrier_core's own modules), never kept
  by hand; importing `carrier_core.a.b` runs `carrier_core/__init__.py` and
  `carrier_core/a/__init__.py` too, so those count as imported. Any other file of
  libs/carrier_core (its pyproject.toml) affects every service.
- infra/modules/<m>/...: the roots that use the module (`source = "../../modules/<m>"`),
  through modules that use modules (`source = "../<m>"`); infra/roots/<r>/...: root r. A
  service's change affects its root too: `make deploy-<svc>` ships it.
- tests/...: the suites that list the file (tests/suites.py).

Anything else (the Makefile, devstack, the CLI, docs) maps to no service: the map says so,
and the suites to run are then `make test`'s, all of them.
"""

from __future__ import annotations

import ast
import re
import subprocess  # nosec B404
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.suites import SERVICES, SUITES, covers

ROOT = Path(__file__).resolve().parent.parent
CORE = "libs/carrier_core/carrier_core"
PACKAGE = "carrier_core"
_SOURCE = re.compile(r'^\s*source\s*=\s*"([^"]+)"', re.MULTILINE)


def core_modules(root: Path = ROOT) -> dict[str, Path]:
    """carrier_core's modules by dotted name (a package by its own name, from __init__.py)."""
    base = root / CORE
    found: dict[str, Path] = {}
    for path in sorted(base.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(base).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name an import in the tree names, relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _resolve(names: Iterable[str], modules: dict[str, Path]) -> set[str]:
    """The carrier_core modules the names load: each existing module and its parent packages."""
    loaded: set[str] = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != PACKAGE:
            continue
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if prefix in modules:
                loaded.add(prefix)
    return loaded


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """carrier_core module -> the carrier_core modules it imports."""
    modules = core_modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = _resolve(_imported(tree, name, path.name == "__init__.py"), modules) - {name}
    return graph


def service_files(service: str, root: Path = ROOT) -> list[Path]:
    base = root / "services" / service
    return [base / "app.py", *sorted((base / "chalicelib").rglob("*.py"))]


def direct_imports(service: str, root: Path = ROOT) -> set[str]:
    """The carrier_core modules a service's own code imports."""
    modules = core_modules(root)
    found: set[str] = set()
    for path in service_files(service, root):
        found |= _resolve(_imported(ast.parse(path.read_text(), str(path)), "chalicelib.x", False), modules)
    return found


def closure(start: Iterable[str], graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def service_modules(root: Path = ROOT) -> dict[str, set[str]]:
    """service -> every carrier_core module it loads, directly or not."""
    graph = import_graph(root)
    return {svc: closure(direct_imports(svc, root), graph) for svc in SERVICES}


def module_users(root: Path = ROOT) -> dict[str, set[str]]:
    """Terraform module -> the roots that use it, directly or through other modules."""
    uses: dict[str, set[str]] = {}  # user ("root:<r>" or "module:<m>") -> modules it sources
    for tf in sorted((root / "infra").glob("*/*/*.tf")):
        kind, name = tf.parent.parent.name, tf.parent.name
        if kind not in ("roots", "modules"):
            continue
        user = f"{kind[:-1]}:{name}"
        for source in _SOURCE.findall(tf.read_text()):
            if source.startswith("../../modules/"):
                uses.setdefault(user, set()).add(source.removeprefix("../../modules/").strip("/"))
            elif kind == "modules" and source.startswith("../") and source.count("/") == 1:
                uses.setdefault(user, set()).add(source.removeprefix("../"))
    graph = {user: {f"module:{m}" for m in mods} for user, mods in uses.items()}
    users: dict[str, set[str]] = {}
    for user in graph:
        if user.startswith("root:"):
            for reached in closure(graph[user], graph):
                users.setdefault(reached.removeprefix("module:"), set()).add(user.removeprefix("root:"))
    return users


@dataclass
class Affected:
    services: set[str] = field(default_factory=set)
    roots: set[str] = field(default_factory=set)
    suites: set[str] = field(default_factory=set)
    unmapped: list[str] = field(default_factory=list)


def affected(paths: Iterable[str], root: Path = ROOT) -> Affected:
    loads = service_modules(root)
    modules = core_modules(root)
    users = module_users(root)
    out = Affected()
    for path in paths:
        parts = path.split("/")
        if parts[0] == "services" and len(parts) > 2 and parts[1] in SERVICES:
            out.services.add(parts[1])
        elif path.startswith(CORE + "/") and path.endswith(".py"):
            changed = {name for name, file in modules.items() if file == root / path}
            if not changed:  # a module that no longer exists: whoever imported that name
                dotted = path.removeprefix("libs/carrier_core/").removesuffix(".py").removesuffix("/__init__")
                changed = {dotted.replace("/", ".")}
            out.services |= {svc for svc, names in loads.items() if names & changed}
            out.suites.add("core")
        elif path.startswith("libs/carrier_core/"):
            out.services.update(SERVICES)
            out.suites.add("core")
        elif parts[:2] == ["infra", "modules"] and len(parts) > 3:
            out.roots |= users.get(parts[2], set())
            out.suites.add("core")
        elif parts[:2] == ["infra", "roots"] and len(parts) > 3:
            out.roots.add(parts[2])
            out.suites.add("core")
        elif parts[0] == "tests" and path.endswith(".py") and (named := {s for s, e in SUITES.items() if any(covers(x, path) for x in e)}):
            out.suites |= named
        else:
            out.unmapped.append(path)
    out.roots |= out.services
    out.suites |= out.services
    return out


def changed_files(base: str, root: Path = ROOT) -> list[str]:
    """`git diff --name-only BASE`: committed and uncommitted changes since BASE (git, fixed arguments)."""
    run = subprocess.run(["git", "diff", "--name-only", base, "--"], cwd=root, capture_output=True, text=True, check=True)  # nosec B603 B607
    return [line for line in run.stdout.splitlines() if line]


def report(result: Affected) -> str:
    def names(items: Iterable[str]) -> str:
        return " ".join(sorted(items)) or "-"

    suites = sorted(result.suites)
    targets = "make test" if result.unmapped else " ".join(f"make test-{s}" for s in suites) or "-"
    lines = [
        f"services: {names(result.services)}",
        f"roots:    {names(result.roots)}",
        f"suites:   {names(suites)}",
        f"run:      {targets}",
    ]
    if result.unmapped:
        lines.append(f"unmapped: {names(result.unmapped)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0]:
        print("usage: python -m tests.affected BASE   (make affected BASE=<git ref>)", file=sys.stderr)
        return 2
    print(report(affected(changed_files(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
