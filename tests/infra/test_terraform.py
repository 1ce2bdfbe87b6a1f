"""Every Terraform file parses; modules and roots keep the repository's layout."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.tfcheck import check, load_schema
from tests.infra.hcl import INFRA, MODULE_DIRS, MODULES, ROOTS, ROOTS_DIR, SERVICES, STAGES, VAR_REF, load_file, named, text

ALL_TF = sorted(INFRA.rglob("*.tf"))


def test_layout_has_every_root() -> None:
    assert STAGES == ("dev", "prod")
    assert set(ROOTS) == {ROOTS_DIR / root for root in ("shared", *SERVICES)}
    for root in ROOTS:
        assert {p.stem for p in (root / "stages").glob("*.tfvars")} == set(STAGES), root.name
        assert {p.stem for p in (root / "backend").glob("*.hcl")} == set(STAGES), root.name
    assert {p.name for p in MODULE_DIRS} >= {"tables", "service", "alarms"}


@pytest.mark.parametrize("path", ALL_TF, ids=lambda p: str(p.relative_to(INFRA)))
def test_parses(path: Path) -> None:
    assert load_file(path), f"{path} parsed to nothing"


@pytest.mark.parametrize("module", MODULE_DIRS, ids=lambda p: p.name)
def test_module_files(module: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module / name).is_file(), f"{module.name} lacks {name}"


@pytest.mark.parametrize("directory", [*MODULE_DIRS, *ROOTS], ids=lambda p: str(p.relative_to(INFRA)))
def test_versions_pinned(directory: Path) -> None:
    blocks = [b for p in directory.glob("*.tf") for b in load_file(p).get("terraform", [])]
    assert len(blocks) == 1
    block = blocks[0]
    assert block["required_version"] == ">= 1.6"
    aws = block["required_providers"][0]["aws"]
    assert aws["source"] == "hashicorp/aws"
    # One major, the one tests/infra/aws_provider_schema.json was extracted from.
    assert aws["version"] == "~> 6.0"
    assert load_schema()["source"]["version"].startswith("6.")


@pytest.mark.parametrize("directory", [*MODULE_DIRS, *ROOTS], ids=lambda p: str(p.relative_to(INFRA)))
def test_variables_described_typed_and_used(directory: Path) -> None:
    variables = named(directory, "variable")
    elsewhere = "\n".join(p.read_text() for p in directory.glob("*.tf") if p.name != "variables.tf")
    used = set(VAR_REF.findall(elsewhere))
    for name, body in variables.items():
        assert str(body.get("description", "")).strip(), f"{name} has no description"
        assert "type" in body, f"{name} has no type"
        assert name in used, f"{directory.name}: variable {name} is never used"
    assert used <= set(variables), f"undeclared: {used - set(variables)}"


def test_modules_the_roots_call_take_the_stage() -> None:
    called = {Path(body["source"]).name for root in ROOTS for body in named(root, "module").values()}
    assert called and all("stage" in named(MODULES / name, "variable") for name in called)


@pytest.mark.parametrize("module", [m for m in MODULE_DIRS if "stage" in named(m, "variable")], ids=lambda p: p.name)
def test_stage_is_a_closed_set(module: Path) -> None:
    stage = named(module, "variable")["stage"]
    condition = stage["validation"][0]["condition"]
    assert '"dev"' in condition and '"prod"' in condition
    assert "dev, prod" in stage["validation"][0]["error_message"]


@pytest.mark.parametrize("directory", [*MODULE_DIRS, *ROOTS], ids=lambda p: str(p.relative_to(INFRA)))
def test_outputs_described(directory: Path) -> None:
    outputs = named(directory, "output")
    assert outputs, f"{directory} has no outputs"
    for name, body in outputs.items():
        assert str(body.get("description", "")).strip(), f"output {name} has no description"


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_roots_only_wire_modules(root: Path) -> None:
    """An env root wires modules and looks things up; it builds nothing itself."""
    assert "resource" not in {k for p in root.glob("*.tf") for k in load_file(p)}
    for name, body in named(root, "module").items():
        assert (root / body["source"]).resolve().parent == (INFRA / "modules").resolve(), name


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_each_stage_has_its_own_state_key_and_backend(root: Path, stage: str) -> None:
    """The keys are those of the per-stage roots before them, so existing state is found."""
    block = load_file(root / "main.tf")["terraform"][0]
    assert block["backend"][0]["s3"] == {"encrypt": True}  # the rest is per stage
    config = load_file(root / "backend" / f"{stage}.hcl")
    assert set(config) == {"bucket", "key", "region", "dynamodb_table"}
    assert config["key"] == f"omni-twilio/{stage}/{root.name}.tfstate"
    assert config["bucket"] == f"omni-twilio-{stage}-terraform-state"
    assert config["dynamodb_table"] == f"omni-twilio-{stage}-terraform-locks"
    provider = load_file(root / "main.tf")["provider"][0]["aws"]
    assert provider["allowed_account_ids"] == ["${var.aws_account_id}"]
    assert provider["default_tags"][0]["tags"]["stage"] == "${var.stage}"


def test_state_keys_unique() -> None:
    keys = [load_file(r / "backend" / f"{s}.hcl")["key"] for r in ROOTS for s in STAGES]
    assert len(keys) == len(set(keys)) == len(ROOTS) * len(STAGES)


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_stage_values_set_declared_and_required_variables(root: Path, stage: str) -> None:
    variables = named(root, "variable")
    values = load_file(root / "stages" / f"{stage}.tfvars")
    assert values["stage"] == stage
    assert set(values) <= set(variables)
    # zip_path and code_version come from `make deploy-<svc>` on the command line.
    required = {n for n, body in variables.items() if "default" not in body} - {"zip_path", "code_version"}
    assert required <= set(values), f"{root}: no value for {required - set(values)}"
    assert f'"{stage}"' in variables["stage"]["validation"][0]["condition"]


# What may differ between dev and prod, per root (infra/README.md, "Variables per stage").
STAGE_DIFFERENCES = {
    "shared": {"stage", "aws_account_id", "deletion_protection", "media_expiry_days", "media_force_destroy"},
    **{
        svc: {"stage", "aws_account_id", "reserved_concurrency", "log_retention_days", "throttle_rate_limit", "throttle_burst_limit"}
        for svc in SERVICES
    },
}


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_stages_differ_only_in_their_values(root: Path) -> None:
    """One root serves every stage: the stages set the same variables, and differ only where
    a stage should; the Terraform itself names no stage."""
    dev, prod = (load_file(root / "stages" / f"{s}.tfvars") for s in ("dev", "prod"))
    assert set(dev) == set(prod)
    assert {k for k in dev if dev[k] != prod[k]} == STAGE_DIFFERENCES[root.name]
    code = "\n".join(p.read_text() for p in root.glob("*.tf") if p.name != "variables.tf")
    assert not re.search(r"\b(dev|prod)\b", re.sub(r"(?m)#.*$", "", code)), root.name


def test_every_checkov_skip_says_why() -> None:
    skips = re.findall(r"#\s*checkov:skip=([^\n]*)", "\n".join(p.read_text() for p in ALL_TF))
    assert skips, "expected the documented skips"
    for skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+:.{20,}", skip), f"skip without a reason: {skip}"


def _code(directory: Path) -> str:
    """The directory's Terraform without comments and `moved` blocks (they name old addresses)."""
    return re.sub(r"(?ms)^moved \{.*?^\}", "", re.sub(r"(?m)^\s*#.*$", "", text(directory)))


@pytest.mark.parametrize("directory", [*MODULE_DIRS, *ROOTS], ids=lambda p: str(p.relative_to(INFRA)))
def test_names_unique_and_references_resolve(directory: Path) -> None:
    """What `terraform validate` would catch first: duplicates and dangling references."""
    files = [load_file(p) for p in sorted(directory.glob("*.tf"))]
    local_names = [k for f in files for block in f.get("locals", []) for k in block]
    assert len(local_names) == len(set(local_names)), f"duplicate locals in {directory}"
    for kind in ("resource", "data"):
        declared = [(t, n) for f in files for e in f.get(kind, []) for t, named_ in e.items() for n in named_]
        assert len(declared) == len(set(declared)), f"duplicate {kind} in {directory}"
    code = _code(directory)
    declared_resources = {(t, n) for f in files for e in f.get("resource", []) for t, named_ in e.items() for n in named_}
    declared_data = {(t, n) for f in files for e in f.get("data", []) for t, named_ in e.items() for n in named_}
    modules = {n for f in files for e in f.get("module", []) for n in e}
    assert set(re.findall(r"\blocal\.(\w+)", code)) <= set(local_names)
    assert set(re.findall(r"\bmodule\.(\w+)", code)) <= modules
    assert set(re.findall(r"\bdata\.(aws_\w+)\.(\w+)", code)) <= declared_data
    refs = set(re.findall(r"(?<![.\w])(aws_\w+)\.(\w+)", code))
    assert refs <= declared_resources, f"dangling: {refs - declared_resources}"


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_module_arguments_are_module_variables(root: Path) -> None:
    meta = {"source", "version", "providers", "depends_on", "count", "for_each"}
    for name, body in named(root, "module").items():
        module_dir = (root / body["source"]).resolve()
        variables = named(module_dir, "variable")
        given = set(body) - meta
        assert given <= set(variables), f"{root}: unknown arguments {given - set(variables)}"
        required = {v for v, b in variables.items() if "default" not in b}
        assert required <= given, f"{root}: module {name} misses {required - given}"


def test_terraform_fmt() -> None:
    """`terraform fmt -check -recursive infra`, where a terraform binary is installed."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: fmt is checked where it is installed")
    result = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("module", MODULE_DIRS, ids=lambda p: p.name)
def test_module_has_an_example_that_passes_the_schema_check(module: Path) -> None:
    """examples/<name>/ is a root that calls the module; the schema check validates its
    inputs against the module's variables and its outputs against the module's outputs."""
    examples = sorted(p.parent for p in module.glob("examples/*/main.tf"))
    assert examples, f"{module.name} has no examples/<name>/main.tf"
    for example in examples:
        calls = [b for b in named(example, "module").values() if (example / b["source"]).resolve() == module.resolve()]
        assert calls, f"{example} does not call {module.name}"
        findings = check(example, display_root=INFRA)
        assert not findings, "\n".join(map(str, findings))
