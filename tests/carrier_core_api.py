"""The carrier_core names a service's code uses, found with `ast`, and the lists that pin them.

Each service keeps the names it may use in services/<svc>/carrier_core_api.txt, one dotted
name a line (`carrier_core.health.check_tables`). tests/unit/test_carrier_core_api.py fails
when a listed name no longer exists in carrier_core (a rename or a removal breaks the owning
team's suite, not production) and when the service's code uses a name its list lacks (a new
use is declared where the carrier_core team sees it).

    python -m tests.carrier_core_api status    # prints what the status service's code uses
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from tests.suites import ROOT, SERVICES

PACKAGE = "carrier_core"


def api_file(service: str) -> Path:
    return ROOT / "services" / service / "carrier_core_api.txt"


def listed(service: str) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in api_file(service).read_text().splitlines())
    return {line for line in lines if line}


def _service_files(service: str) -> list[Path]:
    base = ROOT / "services" / service
    return [base / "app.py", *sorted((base / "chalicelib").rglob("*.py"))]


def used_in(tree: ast.AST) -> set[str]:
    """Every carrier_core name a module imports, and the attributes it reads off an imported
    carrier_core module (`from carrier_core import phone` then `phone.normalize`)."""
    names: set[str] = set()
    aliases: dict[str, str] = {}  # a local name bound to a carrier_core module or package
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    names.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        aliases[PACKAGE] = PACKAGE
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == PACKAGE:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                names.add(dotted)
                aliases[alias.asname or alias.name] = dotted
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain: list[str] = []
            target: ast.expr = node
            while isinstance(target, ast.Attribute):
                chain.insert(0, target.attr)
                target = target.value
            if isinstance(target, ast.Name) and target.id in aliases and is_module(aliases[target.id]):
                dotted = aliases[target.id]
                for part in chain:
                    if not is_module(dotted):
                        break
                    dotted = f"{dotted}.{part}"
                    names.add(dotted)
    return {name for name in names if name != PACKAGE}


def is_module(dotted: str) -> bool:
    try:
        importlib.import_module(dotted)
    except ImportError:
        return False
    return True


def used(service: str) -> set[str]:
    found: set[str] = set()
    for path in _service_files(service):
        found |= used_in(ast.parse(path.read_text(), str(path)))
    return found


def exists(dotted: str) -> bool:
    """Whether carrier_core still has the module, or the module still has the name."""
    if is_module(dotted):
        return True
    module, _, name = dotted.rpartition(".")
    return bool(module) and is_module(module) and hasattr(importlib.import_module(module), name)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVICES:
        print(f"usage: python -m tests.carrier_core_api {'|'.join(SERVICES)}", file=sys.stderr)
        return 2
    print("\n".join(sorted(used(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
