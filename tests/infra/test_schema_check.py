"""The provider-schema check (tfcheck.py) passes on infra/ and catches each seeded mistake."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.hcl import INFRA, ROOT
from tests.infra.tfcheck import check, load_schema, terraform_dirs

TF_DIRS = terraform_dirs(INFRA)


@pytest.mark.parametrize("directory", TF_DIRS, ids=lambda p: str(p.relative_to(INFRA)))
def test_infra_passes_the_schema_check(directory: Path) -> None:
    findings = check(directory, display_root=ROOT)
    assert not findings, "\n".join(map(str, findings))


def test_schema_covers_every_type_infra_uses() -> None:
    schema = load_schema()
    text = "\n".join(p.read_text() for p in INFRA.rglob("*.tf"))
    for kind, plural in (("resource", "resources"), ("data", "data_sources")):
        used = set(re.findall(rf'^\s*{kind}\s+"(aws_\w+)"', text, re.M))
        assert used and used <= set(schema[plural]), f"run make terraform-schema: {used - set(schema[plural])}"


# A module the snippets can call: one required input, one optional, one output.
CHILD = """
variable "name" {
  description = "A name."
  type        = string
}

variable "size" {
  description = "A size."
  type        = number
  default     = 1
}

output "arn" {
  description = "An ARN."
  value       = "arn:${var.name}"
}
"""

# The scaffold of every snippet: valid on its own (a case of its own checks that).
BASE = """
variable "zip" {
  description = "The zip."
  type        = string
}

locals {
  names = { a = "x", b = "y" }
}

data "aws_region" "current" {}

resource "aws_iam_role" "this" {
  name               = "r"
  assume_role_policy = "{}"
}

resource "aws_sqs_queue" "many" {
  for_each = local.names
  name     = each.value
}

resource "aws_sqs_queue" "counted" {
  count = 2
  name  = "q-${count.index}"
}

module "child" {
  source = "./child"
  name   = "n"
}
"""

LAMBDA = """
resource "aws_lambda_function" "f" {
  function_name = "f"
  role          = aws_iam_role.this.arn
  filename      = var.zip
%s
}
"""


@dataclass(frozen=True)
class Case:
    label: str
    snippet: str
    finding: str  # a regular expression the finding's message must match
    line: int | None = None  # the finding's line within snippet.tf, when the case pins it


CASES = [
    Case(
        "misspelt argument",
        LAMBDA % '  handlr = "app.handler"',
        r"aws_lambda_function\.f: unknown argument 'handlr' \(did you mean 'handler'\?\)",
        line=6,
    ),
    Case(
        "missing required argument",
        'resource "aws_lambda_function" "f" {\n  function_name = "f"\n}\n',
        r"aws_lambda_function\.f: missing required argument 'role'",
        line=1,
    ),
    Case("computed-only attribute set", LAMBDA % '  arn = "arn:aws:lambda:x"', r"'arn' is computed by the provider and cannot be set"),
    Case("block as argument", LAMBDA % "  environment = { variables = {} }", r"'environment' is a block: write `environment \{ \.\.\. \}`"),
    Case("argument as block", LAMBDA % "  handler {\n  }", r"'handler' is an argument: write `handler = \.\.\.`"),
    Case(
        "unknown nested argument",
        LAMBDA % '  tracing_config {\n    mode     = "Active"\n    sampling = 1\n  }',
        r"aws_lambda_function\.f\.tracing_config: unknown argument 'sampling'",
        line=8,
    ),
    Case("single block twice", LAMBDA % "  environment {\n  }\n  environment {\n  }", r"block 'environment' may appear only once, found 2"),
    Case(
        "nested required argument",
        'data "aws_iam_policy_document" "p" {\n  statement {\n    actions = ["s3:GetObject"]\n    condition {\n      test = "Bool"\n      values = ["true"]\n    }\n  }\n}\n',
        r"statement\.condition: missing required argument 'variable'",
    ),
    Case(
        "required block missing",
        'resource "aws_s3_bucket_versioning" "v" {\n  bucket = "b"\n}\n',
        r"aws_s3_bucket_versioning\.v: missing required block 'versioning_configuration'",
        line=1,
    ),
    Case(
        "dynamic block that does not exist",
        'data "aws_iam_policy_document" "p" {\n  dynamic "statment" {\n    for_each = []\n    content {\n    }\n  }\n}\n',
        r"dynamic 'statment' is not a block",
    ),
    Case(
        "unknown argument in dynamic content",
        'data "aws_iam_policy_document" "p" {\n  dynamic "statement" {\n    for_each = []\n    content {\n      action = []\n    }\n  }\n}\n',
        r"statement: unknown argument 'action'",
    ),
    Case(
        "unknown lifecycle argument",
        'resource "aws_sqs_queue" "q" {\n  lifecycle {\n    prevent_destroyed = true\n  }\n}\n',
        r"lifecycle has no argument 'prevent_destroyed'",
    ),
    Case(
        "unknown resource type",
        'resource "aws_lamda_function" "f" {\n}\n',
        r"unknown resource type aws_lamda_function \(did you mean 'aws_lambda_function'\?\)",
    ),
    Case("unknown data source type", 'data "aws_regions_current" "r" {\n}\n', r"unknown data type aws_regions_current"),
    Case(
        "provider argument misspelt",
        'provider "aws" {\n  allowed_account_id = ["111111111111"]\n}\n',
        r"provider aws: unknown argument 'allowed_account_id'",
        line=2,
    ),
    Case("provider block as argument", 'provider "aws" {\n  default_tags = { tags = {} }\n}\n', r"'default_tags' is a block"),
    Case(
        "unknown module input",
        'module "other" {\n  source = "./child"\n  name   = "n"\n  sise   = 2\n}\n',
        r"module other: unknown input 'sise' \(did you mean 'size'\?\)",
        line=4,
    ),
    Case("missing module input", 'module "other" {\n  source = "./child"\n}\n', r"module other: missing required input 'name'"),
    Case(
        "unknown module output",
        'output "o" {\n  description = "o"\n  value       = module.child.arm\n}\n',
        r"module\.child has no output 'arm'",
        line=3,
    ),
    Case("undeclared module", 'output "o" {\n  description = "o"\n  value       = module.kid.arn\n}\n', r"undeclared module module\.kid"),
    Case(
        "undeclared variable", 'output "o" {\n  description = "o"\n  value       = var.zipp\n}\n', r"undeclared variable var\.zipp", line=3
    ),
    Case("undeclared local", 'output "o" {\n  description = "o"\n  value       = local.nmes\n}\n', r"undeclared local local\.nmes"),
    Case(
        "undeclared resource",
        'output "o" {\n  description = "o"\n  value       = aws_iam_role.that.arn\n}\n',
        r"reference to undeclared resource aws_iam_role\.that",
    ),
    Case(
        "unknown resource attribute",
        'output "o" {\n  description = "o"\n  value       = aws_iam_role.this.arm\n}\n',
        r"aws_iam_role\.this has no attribute 'arm'",
    ),
    Case(
        "unknown data attribute",
        'output "o" {\n  description = "o"\n  value       = data.aws_region.current.nme\n}\n',
        r"data\.aws_region\.current has no attribute 'nme'",
    ),
    Case(
        "deprecated attribute",
        'output "o" {\n  description = "o"\n  value       = data.aws_region.current.name\n}\n',
        r"data\.aws_region\.current\.name is deprecated in provider 6\.x: use 'region'",
    ),
    Case(
        "count.index without count",
        'resource "aws_sqs_queue" "q" {\n  name = "q-${count.index}"\n}\n',
        r"count\.index in a block without count",
        line=2,
    ),
    Case("each without for_each", 'resource "aws_sqs_queue" "q" {\n  name = each.value\n}\n', r"each\.value in a block without for_each"),
    Case(
        "for_each resource without index",
        'output "o" {\n  description = "o"\n  value       = aws_sqs_queue.many.arn\n}\n',
        r"aws_sqs_queue\.many has for_each: index it",
    ),
    Case(
        "counted module without index",
        'module "many" {\n  source = "./child"\n  count  = 2\n  name   = "n"\n}\n\noutput "o" {\n  description = "o"\n  value       = module.many.arn\n}\n',
        r"module\.many has count: index it",
        line=9,
    ),
    Case(
        "count resource without index",
        'output "o" {\n  description = "o"\n  value       = aws_sqs_queue.counted.url\n}\n',
        r"aws_sqs_queue\.counted has count: index it",
    ),
    Case("output without value", 'output "o" {\n  description = "o"\n}\n', r"output o: missing required argument 'value'"),
    Case(
        "variable argument misspelt",
        'variable "v" {\n  description = "v"\n  typ         = string\n}\n',
        r"variable v: unknown argument 'typ'",
    ),
    Case(
        "moved to nowhere",
        "moved {\n  from = aws_sqs_queue.old\n  to   = aws_sqs_queue.gone\n}\n",
        r"moved: to aws_sqs_queue\.gone: no such resource",
    ),
]


def _write(tmp_path: Path, snippet: str) -> Path:
    (tmp_path / "child").mkdir()
    (tmp_path / "child" / "main.tf").write_text(CHILD)
    (tmp_path / "base.tf").write_text(BASE)
    (tmp_path / "snippet.tf").write_text(snippet)
    return tmp_path


def test_the_scaffold_is_clean(tmp_path: Path) -> None:
    findings = check(_write(tmp_path, LAMBDA % '  handler = "app.handler"'), display_root=tmp_path)
    assert findings == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_seeded_mistake_is_found(case: Case, tmp_path: Path) -> None:
    findings = check(_write(tmp_path, case.snippet), display_root=tmp_path)
    assert len(findings) == 1, "\n".join(map(str, findings)) or "no finding"
    finding = findings[0]
    assert str(finding.path) == "snippet.tf"
    assert re.search(case.finding, finding.message), str(finding)
    if case.line is not None:
        assert finding.line == case.line, str(finding)


# Mistakes seeded into a copy of a real module: the finding names the file and the line.
MUTATIONS = [
    (
        "stream_function",
        "main.tf",
        '  starting_position                  = "TRIM_HORIZON"',
        '  starting_positon                   = "TRIM_HORIZON"',
        r"unknown argument 'starting_positon'",
    ),
    ("service", "main.tf", "data.aws_region.current.region", "data.aws_region.current.name", r"deprecated in provider 6\.x"),
    (
        "service",
        "main.tf",
        "aws_lambda_function.this[each.key].arn",
        "aws_lambda_function.this.arn",
        r"aws_lambda_function\.this has for_each: index it",
    ),
    ("service", "outputs.tf", "module.handoff[0].function_name", "module.handoff.function_name", r"module\.handoff has count: index it"),
    (
        "kms_key",
        "main.tf",
        "  enable_key_rotation     = true",
        "  enable_key_rotaton      = true",
        r"unknown argument 'enable_key_rotaton'",
    ),
    ("tables", "main.tf", "point_in_time_recovery {", "point_in_time_recovery = {", r"'point_in_time_recovery' is a block"),
]


@pytest.mark.parametrize("module, file, before, after, finding", MUTATIONS, ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None)
def test_seeded_mistake_in_a_real_module(module: str, file: str, before: str, after: str, finding: str, tmp_path: Path) -> None:
    shutil.copytree(INFRA / "modules", tmp_path / "modules")  # modules call each other
    copy = tmp_path / "modules" / module
    source = (copy / file).read_text()
    assert before in source, f"{before!r} is no longer in {module}/{file}: update this case"
    mutated = source.replace(before, after, 1)
    (copy / file).write_text(mutated)
    expected_line = mutated.splitlines().index(next(line for line in mutated.splitlines() if after.strip() in line)) + 1
    findings = check(copy, display_root=tmp_path / "modules")
    assert [(str(f.path), f.line) for f in findings] == [(f"{module}/{file}", expected_line)], "\n".join(map(str, findings))
    assert re.search(finding, findings[0].message), str(findings[0])
