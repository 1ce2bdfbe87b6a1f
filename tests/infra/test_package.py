"""`make package-<svc>` zips: reproducible, small, and holding the handlers Terraform names."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.infra.hcl import ENVS, MODULES, ROOT, SERVICES, local_values, named, top_level_names

# DESIGN.md, "Performance and size targets".
SIZE_LIMITS = {"inbound": 3 * 2**20, "status": 3 * 2**20, "outbound": 15 * 2**20}
RUNTIME_PROVIDED = ("boto3/", "botocore/", "s3transfer/", "jmespath/", "urllib3/", "dateutil/", "six.py")


def build(service: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "infra" / "package.py"), service, "--out", str(out)],
        check=True, cwd=ROOT, capture_output=True, text=True,
    )
    return out


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("zips")
    return {svc: build(svc, base / f"{svc}.zip") for svc in SERVICES}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tf_handlers(service: str) -> set[str]:
    """Every handler a root of any stage gives this service's functions."""
    handlers = {local_values(MODULES / "service")["api_handler"]}
    for root in ENVS.glob(f"*/{service}"):
        schedules = named(root, "module")["service"].get("schedules", {})
        handlers |= {s["handler"] for s in schedules.values()}
    return handlers


CASES = sorted((svc, h) for svc in SERVICES for h in tf_handlers(svc))


@pytest.mark.parametrize("service", SERVICES)
def test_under_size_target(service: str, zips: dict[str, Path]) -> None:
    size = zips[service].stat().st_size
    assert 0 < size <= SIZE_LIMITS[service], f"{service}.zip is {size / 2**20:.2f} MiB"


@pytest.mark.parametrize("service", SERVICES)
def test_same_bytes_twice(service: str, zips: dict[str, Path], tmp_path: Path) -> None:
    again = build(service, tmp_path / f"{service}.zip")
    assert sha256(again) == sha256(zips[service])


@pytest.mark.parametrize("service", SERVICES)
def test_entries_sorted_with_fixed_times(service: str, zips: dict[str, Path]) -> None:
    infos = zipfile.ZipFile(zips[service]).infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.endswith("/RECORD")]


@pytest.mark.parametrize("service", SERVICES)
def test_contents(service: str, zips: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(zips[service]).namelist())
    core = {f"carrier_core/{p.relative_to(ROOT / 'libs/carrier_core/carrier_core').as_posix()}"
            for p in (ROOT / "libs/carrier_core/carrier_core").rglob("*") if p.is_file() and p.suffix in (".py", ".typed")}
    assert core <= names
    assert {"app.py", "chalice/__init__.py", "chalice/app.py", "pynamodb/models.py"} <= names
    chalicelib = {f"chalicelib/{p.name}" for p in (ROOT / "services" / service / "chalicelib").glob("*.py")}
    assert chalicelib <= names
    assert not [n for n in names if n.startswith(RUNTIME_PROVIDED)], "ships what the Lambda runtime has"
    has_twilio = any(n.startswith("twilio/") for n in names)
    assert has_twilio is (service == "outbound"), "only outbound carries the Twilio SDK"
    zf = zipfile.ZipFile(zips[service])
    assert zf.read("app.py") == (ROOT / "services" / service / "app.py").read_bytes()
    for name in chalicelib:
        assert zf.read(name) == (ROOT / "services" / service / name).read_bytes()


@pytest.mark.parametrize(("service", "handler"), CASES, ids=[f"{s}-{h}" for s, h in CASES])
def test_handler_named_in_terraform_is_in_the_zip(service: str, handler: str, zips: dict[str, Path]) -> None:
    module, attribute = handler.rsplit(".", 1)
    source = zipfile.ZipFile(zips[service]).read(f"{module.replace('.', '/')}.py").decode()
    assert attribute in top_level_names(source), f"{service}: {handler} is not defined at the top of {module}.py"
