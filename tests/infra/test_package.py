"""`make package-<svc>` zips: reproducible, small, holding the handlers Terraform names, and
carrying Python 3.12 bytecode for every module a function loads."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest

from bench.cold import DEPLOYED_ENV, OUR_FIRST_SEND, SDK_FIRST_SEND
from tests.infra.hcl import ROOTS_DIR, MODULES, ROOT, SERVICES, local_values, named, top_level_names

# docs/architecture.md, "Targets measured by make bench".
SIZE_LIMITS = {"inbound": 3 * 2**20, "status": 3 * 2**20, "outbound": 15 * 2**20}
RUNTIME_PROVIDED = ("boto3/", "botocore/", "s3transfer/", "jmespath/", "urllib3/", "dateutil/", "six.py")
sys.path.insert(0, str(ROOT / "infra"))  # package.py imports lambda_python beside it, as a script does
PACKAGE = importlib.util.spec_from_file_location("package", ROOT / "infra" / "package.py")
assert PACKAGE and PACKAGE.loader
package = importlib.util.module_from_spec(PACKAGE)
PACKAGE.loader.exec_module(package)


def build(service: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "infra" / "package.py"), service, "--out", str(out)],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("zips")
    return {svc: build(svc, base / f"{svc}.zip") for svc in SERVICES}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tf_handlers(service: str) -> set[str]:
    """Every handler the service's root gives its functions."""
    handlers = {local_values(MODULES / "service")["api_handler"]}
    schedules = named(ROOTS_DIR / service, "module")["service"].get("schedules", {})
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
    assert not [n for n in names if n.endswith("/RECORD")]


@cache
def lambda_magic() -> bytes:
    code = "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"
    return bytes.fromhex(subprocess.run([package.lambda_python(), "-c", code], check=True, capture_output=True, text=True).stdout)


@pytest.mark.parametrize("service", SERVICES)
def test_bytecode_is_lambdas_and_unchecked(service: str, zips: dict[str, Path]) -> None:
    """Only 3.12 bytecode beside its source, hash-based and unchecked (Lambda neither writes
    nor re-validates it), recording /var/task paths and nothing of the build machine."""
    zf = zipfile.ZipFile(zips[service])
    names = set(zf.namelist())
    compiled = [n for n in names if n.endswith(".pyc")]
    assert compiled and all("__pycache__/" in n and n.endswith(f".{package.BYTECODE_TAG}.pyc") for n in compiled)
    assert set(compiled) <= {package.bytecode_name(n) for n in names if n.endswith(".py")}, "bytecode without its source"
    for name in compiled:
        data = zf.read(name)
        assert data[:4] == lambda_magic(), name
        assert int.from_bytes(data[4:8], "little") == 0b01, f"{name}: not hash-based with the check off"
        assert str(ROOT).encode() not in data and b"/tmp" not in data, f"{name} records a path of the build machine"
    assert b"/var/task/app.py" in zf.read(f"__pycache__/app.{package.BYTECODE_TAG}.pyc")


# What a function of the service loads: its app (every handler Terraform names lives in
# app.py), every module of ours (some are imported on first use), and what the first send
# and a media conversion load from their libraries. Settings are placeholders; nothing is
# contacted. Printed: the file of each module loaded after the interpreter's own start-up.
LOADS = f"""
import sys
before = set(sys.modules)
import importlib, json, pkgutil
import app, carrier_core, chalicelib
for package in (carrier_core, chalicelib):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
if sys.argv[1] == "outbound":
    {OUR_FIRST_SEND}
    {SDK_FIRST_SEND}
    from PIL import Image, ImageOps
    Image.init()
files = (getattr(sys.modules[name], "__file__", None) for name in set(sys.modules) - before)
sys.stdout.write(json.dumps(sorted(file for file in files if file)))
"""


def loaded_files(service: str) -> list[str]:
    """The zip names of the non-standard-library modules a function of `service` loads."""
    svc = ROOT / "services" / service
    env = {**os.environ, **DEPLOYED_ENV, "PYTHONPATH": f"{svc}{os.pathsep}{ROOT / 'libs' / 'carrier_core'}"}
    out = subprocess.run([sys.executable, "-c", LOADS, service], cwd=svc, env=env, check=True, capture_output=True, text=True).stdout
    roots = [str(svc), str(ROOT / "libs" / "carrier_core"), *(p for p in sys.path if p.endswith("site-packages"))]
    names = []
    for file in json.loads(out):
        root = next((r for r in roots if file.startswith(r + os.sep)), None)
        if root is not None:
            names.append(Path(file).relative_to(root).as_posix())
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_contents(service: str, zips: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(zips[service]).namelist())
    core = {
        f"carrier_core/{p.relative_to(ROOT / 'libs/carrier_core/carrier_core').as_posix()}"
        for p in (ROOT / "libs/carrier_core/carrier_core").rglob("*")
        if p.is_file() and p.suffix in (".py", ".typed")
    }
    assert core <= names
    assert {"app.py", "chalice/__init__.py", "chalice/app.py", "pynamodb/models.py"} <= names
    chalicelib = {f"chalicelib/{p.name}" for p in (ROOT / "services" / service / "chalicelib").glob("*.py")}
    assert chalicelib <= names
    assert not [n for n in names if n.startswith(RUNTIME_PROVIDED)], "ships what the Lambda runtime has"
    has_twilio = any(n.startswith("twilio/") for n in names)
    assert has_twilio is (service == "outbound"), "only outbound carries the Twilio SDK"
    zf = zipfile.ZipFile(zips[service])
    assert zf.read("app.py") == (ROOT / "services" / service / "app.py").read_bytes()
    # What the zip was built from (carrier_core.version reads it when SERVICE_VERSION is absent).
    assert zf.read("chalicelib/VERSION").decode() == package.describe() + "\n"
    for name in chalicelib:
        assert zf.read(name) == (ROOT / "services" / service / name).read_bytes()


@pytest.mark.parametrize(("service", "handler"), CASES, ids=[f"{s}-{h}" for s, h in CASES])
def test_handler_named_in_terraform_is_in_the_zip(service: str, handler: str, zips: dict[str, Path]) -> None:
    module, attribute = handler.rsplit(".", 1)
    source = zipfile.ZipFile(zips[service]).read(f"{module.replace('.', '/')}.py").decode()
    assert attribute in top_level_names(source), f"{service}: {handler} is not defined at the top of {module}.py"


def left_out_tops() -> set[str]:
    """The top-level names the distributions package.py leaves out install in this venv."""
    tops = set()
    for dist in package.NEVER_LOADED:
        files = importlib.metadata.files(dist) or []
        tops |= {f.parts[0].removesuffix(".py") for f in files if f.parts[0] != ".." and ".dist-info" not in f.parts[0]}
    return tops


def test_left_out_packages_are_known_here() -> None:
    assert {"aiohttp", "yarl", "multidict", "attr"} <= left_out_tops()


@pytest.mark.parametrize("service", SERVICES)
def test_every_module_a_function_loads_has_bytecode_and_none_is_left_out(service: str, zips: dict[str, Path]) -> None:
    """Without bytecode, a cold start compiles the module from source; a module of a package
    left out of the zip would fail the function. (Optional imports of the runtime's own
    libraries, such as botocore's of awscrt, are theirs to resolve.)"""
    names = set(zipfile.ZipFile(zips[service]).namelist())
    loaded = loaded_files(service)
    assert "app.py" in loaded and "carrier_core/models.py" in loaded
    assert (service == "outbound") is ("PIL/JpegImagePlugin.py" in loaded and "phonenumbers/data/region_US.py" in loaded)
    shipped = [n for n in loaded if n in names and n.endswith(".py")]
    missing = [n for n in shipped if package.bytecode_name(n) not in names]
    assert not missing, f"{len(missing)} of {len(shipped)} loaded modules without bytecode, e.g. {missing[:5]}"
    assert not [n for n in loaded if n.split("/")[0].removesuffix(".py") in left_out_tops()]
