"""Every IAM policy document under infra/ passes parliament; seeded mistakes do not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import INFRA
from tests.infra.iam_lint import lint, lint_policy, policy_documents, render_resource


def test_infra_policies_have_no_errors() -> None:
    errors, advisories = lint(INFRA)
    assert not errors, "\n".join(map(str, errors))
    # Key policies grant on "*" (the key they are attached to): listed, never an error.
    assert advisories and {a.issue for a in advisories} >= {"RESOURCE_STAR"}


def test_every_policy_document_is_rendered() -> None:
    documents = {w: p for d in sorted({p.parent for p in INFRA.rglob("*.tf")}) for w, p in policy_documents(d).items()}
    declared = sum(1 for p in INFRA.rglob("*.tf") for _ in re.finditer(r'^data "aws_iam_policy_document"', p.read_text(), re.M))
    assert len([w for w in documents if ": data." in w]) == declared
    assert all(p["Statement"] for p in documents.values())
    # The statements handed to the shared modules are linted where they are written.
    calls = {w.split(": ")[1] for w in documents if ": module." in w}
    assert calls >= {"module.handoff", "module.media_worker", "module.logs_key", "module.key"}


@pytest.mark.parametrize(
    "value, rendered",
    [
        ("*", "*"),
        ("${aws_sqs_queue.q.arn}", "*"),
        (
            "arn:${data.aws_partition.current.partition}:ssm:${local.region}:${local.account_id}:parameter/x",
            "arn:aws:ssm:us-east-1:111111111111:parameter/x",
        ),
        ("arn:aws:s3:::${var.bucket}/inbound/*", "arn:aws:s3:::placeholder/inbound/*"),
    ],
)
def test_render_resource(value: str, rendered: str) -> None:
    assert render_resource(value) == rendered


POLICY = """
data "aws_iam_policy_document" "p" {
  statement {
    actions   = [%s]
    resources = [%s]
  }
}
"""

SEEDED = [
    ("unknown action", '"dynamodb:GetItems"', '"arn:aws:dynamodb:us-east-1:111111111111:table/t"', "UNKNOWN_ACTION"),
    ("unknown prefix", '"dynamo:GetItem"', '"arn:aws:dynamodb:us-east-1:111111111111:table/t"', "UNKNOWN_PREFIX"),
    ("malformed ARN", '"dynamodb:GetItem"', '"arn:aws:dynamodb"', "INVALID_ARN"),
    ("resource of another service", '"dynamodb:GetItem"', '"arn:aws:sqs:us-east-1:111111111111:q"', "RESOURCE_MISMATCH"),
]


@pytest.mark.parametrize("label, actions, resources, issue", SEEDED, ids=lambda v: v if " " in str(v) else None)
def test_seeded_policy_error(label: str, actions: str, resources: str, issue: str, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(POLICY % (actions, resources))
    [(where, policy)] = policy_documents(tmp_path).items()
    errors, _ = lint_policy(where, policy)
    assert issue in {e.issue for e in errors}, f"{label}: {errors}"


def test_literal_star_is_an_advisory(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(POLICY % ('"sqs:SendMessage"', '"*"'))
    [(where, policy)] = policy_documents(tmp_path).items()
    errors, advisories = lint_policy(where, policy)
    assert errors == [] and [a.issue for a in advisories] == ["RESOURCE_STAR"]
