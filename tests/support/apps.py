"""Load a service's Chalice app in-process, its own `chalicelib` and all."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_app(service: str) -> ModuleType:
    """Import services/<service>/app.py afresh; every service has a `chalicelib` of its own."""
    for name in list(sys.modules):
        if name == "app" or name == "chalicelib" or name.startswith("chalicelib."):
            del sys.modules[name]
    path = str(ROOT / "services" / service)
    sys.path.insert(0, path)
    try:
        return importlib.import_module("app")
    finally:
        sys.path.remove(path)


def project_dir(service: str) -> str:
    return str(ROOT / "services" / service)
