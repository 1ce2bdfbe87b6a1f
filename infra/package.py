"""Build one service's Lambda zip, byte for byte the same from the same inputs.

    python infra/package.py inbound [--out build/inbound.zip]

The zip holds the Chalice app (app.py, chalicelib/, and chalicelib/VERSION: the checkout's
`git describe --always --dirty`), Chalice's runtime half
(chalice/__init__.py and chalice/app.py, as `chalice package` vendors them), the
carrier_core package from this checkout, and the service's hash-locked requirements
(services/<svc>/requirements.lock, written by `make lock`) installed for the Lambda
platform (CPython 3.12 on arm64): the same lock gives the same packages, whenever it runs. What the Lambda Python runtime
already ships (boto3, botocore and their dependencies) is left out, and so is the
Twilio SDK's async HTTP stack, which the carrier never loads.

The modules a function loads carry their bytecode, compiled by Python 3.12 (Lambda's
runtime; infra/lambda_python.py finds it).
Lambda's code directory is read-only, so without it every cold start compiles each
module it imports from source (infra/README.md, "Packaging", has what that costs).

Why not `chalice package`: it imports the app to find its routes (our apps read
their settings at import), re-downloads on every run, and writes zips whose bytes
change with file times; this builder needs neither the app's settings nor a clock.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from carrier_core.version import describe_checkout
from lambda_python import VERSION, NotFound, lambda_python

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("inbound", "status", "outbound")

# Lambda target: keep in step with `runtime` and `architectures` in infra/modules/service
# (the version lives in lambda_python.py, which the Makefile asks for the venv's Python).
PYTHON_VERSION = VERSION
PLATFORM = "manylinux2014_aarch64"

# Distributions the python3.12 Lambda runtime already provides. botocore pins urllib3,
# jmespath and dateutil (which needs six); bundling our own copies would add ~25 MB for
# code the runtime loads anyway. Names are normalised (lowercase, '-' for '_').
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"})

# The Twilio SDK's async HTTP stack: aiohttp and aiohttp-retry, and what only they require on
# Python 3.12. twilio/http/async_http_client.py is their only importer; the carrier sends with
# the SDK's default synchronous client (chalicelib/twilio_client.py). Together ~3 MB of the
# outbound zip. tests/infra/test_package.py checks that no function loads any of them.
NEVER_LOADED = frozenset(
    {
        "aiohttp",
        "aiohttp-retry",
        "aiosignal",
        "aiohappyeyeballs",
        "frozenlist",
        "multidict",
        "yarl",
        "propcache",
        "attrs",
        "typing-extensions",
    }
)

# Where Lambda unpacks the zip: the path the bytecode records for tracebacks.
TASK_ROOT = "/var/task"
BYTECODE_TAG = f"cpython-{PYTHON_VERSION.replace('.', '')}"

# Fixed zip entry time: the earliest a zip can hold, so the bytes never depend on a clock.
EPOCH = (1980, 1, 1, 0, 0, 0)
SKIP_DIRS = frozenset({"__pycache__", "tests", "test", "bin"})
SKIP_SUFFIXES = (".pyc", ".pyo", ".pyi")
# Install bookkeeping that names the build machine or is unused at run time.
SKIP_DIST_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def lock_file(service: str) -> Path:
    """The service's lock: every package the zip gets, dependencies too, each with its hashes.

    It covers carrier_core's dependencies as well: tests/unit/test_dependencies.py checks
    that each service's requirements.txt names them and that the lock pins what it asks for.
    """
    return ROOT / "services" / service / "requirements.lock"


def install(lock: Path, target: Path, cache: Path) -> None:
    """pip-install the lock's wheels for the Lambda platform into `target`.

    `--require-hashes` refuses any file whose hash the lock does not list, and `--no-deps`
    any package it does not pin, so nothing is resolved afresh at build time.
    """
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--disable-pip-version-check",
            "--cache-dir",
            str(cache),
            "--target",
            str(target),
            "--platform",
            PLATFORM,
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "--require-hashes",
            "--no-deps",
            "--requirement",
            str(lock),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"pip could not install {lock.relative_to(ROOT)} for {PLATFORM}")


def drop(target: Path, names: frozenset[str]) -> list[str]:
    """Delete every file of the named distributions; return the names of those deleted."""
    dropped = []
    for dist_info in sorted(target.glob("*.dist-info")):
        name = normalise(dist_info.name.removesuffix(".dist-info").split("-", 1)[0])
        if name not in names:
            continue
        record = (dist_info / "RECORD").read_text().splitlines()
        # RECORD also lists console scripts, in the bin folder above site-packages: only top-level names count.
        paths = (Path(line.split(",", 1)[0]) for line in record if line)
        tops = {path.parts[0] for path in paths if path.parts[0] != ".."}
        for top in tops:
            path = target / top
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        dropped.append(name)
    return dropped


def keep(relative: Path) -> bool:
    if any(part in SKIP_DIRS for part in relative.parts[:-1]):
        return False
    if relative.suffix in SKIP_SUFFIXES:
        return False
    in_dist_info = len(relative.parts) > 1 and relative.parts[0].endswith(".dist-info")
    return not (in_dist_info and relative.name in SKIP_DIST_FILES)


def tree(base: Path, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(zip name, file) for every kept file under `base`."""
    for path in base.rglob("*"):
        relative = path.relative_to(base)
        if path.is_file() and keep(relative):
            yield prefix + relative.as_posix(), path


def sources(service: str, deps: Path) -> dict[str, Path]:
    """Every file of the zip by its name in the zip."""
    import chalice
    import chalice.app

    svc = ROOT / "services" / service
    files: dict[str, Path] = {
        "chalice/__init__.py": Path(inspect.getfile(chalice)),
        "chalice/app.py": Path(inspect.getfile(chalice.app)),
        "app.py": svc / "app.py",
    }
    files.update(tree(deps))
    if (svc / "chalicelib").is_dir():
        files.update(tree(svc / "chalicelib", "chalicelib/"))
    files.update(tree(ROOT / "libs/carrier_core/carrier_core", "carrier_core/"))
    return files


def loaded(name: str) -> bool:
    """Whether a zip entry is a module the functions may load, and so gets bytecode.

    All but the Twilio REST client's products other than Api: the client imports each
    product on first use, and the carrier uses only Api's 2010 Messages resource. The others
    keep their source, never loaded; their bytecode would add ~3 MB to the outbound zip.
    """
    parts = name.split("/")
    other_product = parts[:2] == ["twilio", "rest"] and len(parts) > 3 and parts[2] != "api"
    return name.endswith(".py") and not other_product


def bytecode_name(source: str) -> str:
    """Where the interpreter looks for a module's bytecode, as a zip name."""
    folder, _, module = source.rpartition("/")
    return f"{folder + '/' if folder else ''}__pycache__/{module.removesuffix('.py')}.{BYTECODE_TAG}.pyc"


def bytecode(files: dict[str, Path], stage: Path) -> dict[str, Path]:
    """Compile the loaded modules among `files` with Lambda's Python; their zip entries.

    The sources are copied to `stage` under their zip names, so each file's bytecode records
    its path under /var/task and holds nothing of this machine. `unchecked-hash`: the
    interpreter loads the bytecode without reading or hashing the source, and the file holds
    no time, so the zip's bytes stay the same.
    """
    names = sorted(name for name in files if loaded(name))
    for name in names:
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[name], stage / name)
    try:
        python = lambda_python()
    except NotFound as exc:
        raise SystemExit(f"packaging: {exc}") from exc
    result = subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "-s", str(stage), "-p", TASK_ROOT, "-i", "-"],
        input="\n".join(str(stage / name) for name in names),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"Python {PYTHON_VERSION} could not compile the zip's modules")
    return {bytecode_name(name): stage / bytecode_name(name) for name in names}


def write_zip(files: dict[str, Path], out: Path) -> None:
    """Sorted entries, fixed times and modes: the same files give the same bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, so the mode above is honoured
            zf.writestr(info, files[name].read_bytes(), compresslevel=9)
    partial.replace(out)


def package(service: str, out: Path, cache: Path) -> Path:
    if service not in SERVICES:
        raise SystemExit(f"unknown service {service!r}: one of {', '.join(SERVICES)}")
    with tempfile.TemporaryDirectory(prefix=f"package-{service}-") as tmp:
        deps = Path(tmp) / "deps"
        install(lock_file(service), deps, cache)
        drop(deps, RUNTIME_PROVIDED | NEVER_LOADED)
        files = sources(service, deps)
        version = Path(tmp) / "VERSION"
        version.write_text(describe() + "\n")
        write_zip({**files, VERSION_ENTRY: version, **bytecode(files, Path(tmp) / "stage")}, out)
    return out


# The zip's own record of what it was built from, `git describe --always --dirty` (read by
# carrier_core.version when Terraform's SERVICE_VERSION is absent). The zip's SHA-256 cannot
# be inside the zip: Terraform computes it and puts both in SERVICE_VERSION, the Lambda's
# description and its tags (infra/modules/service). The same commit gives the same bytes.
VERSION_ENTRY = "chalicelib/VERSION"


def describe() -> str:
    """`git describe --always --dirty` of this checkout, `unknown` outside a git checkout."""
    return describe_checkout(ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--out", type=Path, help="zip path (default build/<service>.zip)")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "pip-cache")
    args = parser.parse_args(argv)
    out = package(args.service, args.out or ROOT / "build" / f"{args.service}.zip", args.cache)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    size = out.stat().st_size
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {size} bytes ({size / 2**20:.2f} MiB) sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
