"""The change map (tests/affected.py): synthetic diffs, against this repository's graph and a
small made-up one where the answer is known by construction."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.affected import ROOT, affected, changed_files, direct_imports, import_graph, main, module_users, report, service_modules


def test_a_file_of_one_service_affects_that_service_only() -> None:
    result = affected(["services/status/chalicelib/store.py"])
    assert result.services == {"status"}
    assert result.roots == {"status"}
    assert result.suites == {"status"}
    assert result.unmapped == []


def test_the_signature_module_affects_each_service_that_loads_it() -> None:
    # inbound and status import carrier_core.signature themselves; outbound does not, but it
    # imports carrier_core.webhook (the connection overrides) and carrier_core.tenants, which
    # import it: the graph says outbound loads it too, so a change there is outbound's as well.
    assert "carrier_core.signature" in direct_imports("inbound")
    assert "carrier_core.signature" in direct_imports("status")
    assert "carrier_core.signature" not in direct_imports("outbound")
    assert "carrier_core.signature" in import_graph()["carrier_core.webhook"]
    assert "carrier_core.webhook" in direct_imports("outbound")
    result = affected(["libs/carrier_core/carrier_core/signature.py"])
    assert result.services == {svc for svc, names in service_modules().items() if "carrier_core.signature" in names}
    assert result.services == {"inbound", "status", "outbound"}
    assert "core" in result.suites


def test_a_module_only_one_service_loads() -> None:
    loaded_by = {svc: names for svc, names in service_modules().items()}
    only = {name: [svc for svc in loaded_by if name in loaded_by[svc]] for name in set().union(*loaded_by.values())}
    singles = sorted(name for name, svcs in only.items() if len(svcs) == 1)
    assert singles, "every carrier_core module is loaded by more than one service"
    name = singles[0]
    path = "libs/carrier_core/" + name.replace(".", "/") + ".py"
    if not (ROOT / path).exists():
        path = "libs/carrier_core/" + name.replace(".", "/") + "/__init__.py"
    assert affected([path]).services == set(only[name])


def test_an_infra_module_affects_the_roots_that_use_it() -> None:
    users = module_users()
    assert users["tables"] == {"shared"}
    assert users["service"] == {"inbound", "status", "outbound"}
    # stream_function is used only by the service module: every service root, through it.
    assert users["stream_function"] == {"inbound", "status", "outbound"}
    # kms_key is used by modules of the shared root only.
    assert users["kms_key"] == {"shared"}
    result = affected(["infra/modules/alarms/main.tf"])
    assert result.roots == {"shared"} and result.services == set()
    assert affected(["infra/roots/outbound/main.tf"]).roots == {"outbound"}


def test_something_else_is_unmapped_and_runs_everything() -> None:
    result = affected(["Makefile", "services/inbound/app.py"])
    assert result.unmapped == ["Makefile"]
    assert report(result).splitlines()[3] == "run:      make test"


def _write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """Three services; only inbound reaches `signature`, through a relative import."""
    core = "libs/carrier_core/carrier_core"
    _write(tmp_path, f"{core}/__init__.py", "")
    _write(tmp_path, f"{core}/signature.py", "X = 1\n")
    _write(tmp_path, f"{core}/web/__init__.py", "")
    _write(tmp_path, f"{core}/web/form.py", "from ..signature import X\n")
    _write(tmp_path, f"{core}/phone.py", "import re\n")
    _write(tmp_path, "services/inbound/app.py", "from carrier_core.web import form\n")
    _write(tmp_path, "services/inbound/chalicelib/__init__.py", "")
    _write(tmp_path, "services/status/app.py", "import carrier_core.phone\n")
    _write(tmp_path, "services/status/chalicelib/__init__.py", "")
    _write(tmp_path, "services/outbound/app.py", "from carrier_core.phone import *\n")
    _write(tmp_path, "services/outbound/chalicelib/x.py", "def f():\n    from carrier_core import phone\n")
    _write(tmp_path, "infra/roots/a/main.tf", 'module "m" {\n  source = "../../modules/outer"\n}\n')
    _write(tmp_path, "infra/roots/b/main.tf", 'module "m" {\n  source = "../../modules/other"\n}\n')
    _write(tmp_path, "infra/modules/outer/main.tf", 'module "k" {\n  source               = "../inner"\n}\n')
    _write(tmp_path, "infra/modules/inner/main.tf", "")
    _write(tmp_path, "infra/modules/other/main.tf", "")
    return tmp_path


def test_a_made_up_graph(tiny: Path) -> None:
    assert affected(["libs/carrier_core/carrier_core/signature.py"], tiny).services == {"inbound"}
    assert affected(["libs/carrier_core/carrier_core/phone.py"], tiny).services == {"status", "outbound"}
    # every import of carrier_core.x runs carrier_core/__init__.py
    assert affected(["libs/carrier_core/carrier_core/__init__.py"], tiny).services == {"inbound", "status", "outbound"}
    assert affected(["infra/modules/inner/main.tf"], tiny).roots == {"a"}
    assert affected(["infra/modules/other/main.tf"], tiny).roots == {"b"}


def test_the_diff_from_a_ref(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tiny, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "one")
    _write(tiny, "services/status/app.py", "import carrier_core.phone  # changed\n")
    git("commit", "-qam", "two")
    assert changed_files("HEAD~1", tiny) == ["services/status/app.py"]
    assert affected(changed_files("HEAD~1", tiny), tiny).services == {"status"}


def test_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["HEAD"]) == 0
    assert capsys.readouterr().out.startswith("services: ")
