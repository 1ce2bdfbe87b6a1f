"""Lint every aws_iam_policy_document under infra/ with duo-labs' parliament.

Each data source's statements (and `dynamic "statement"` contents), and the statements a
module call hands to modules/stream_function (`policy_statements`) or modules/kms_key
(`service_statements`), are rendered to the JSON policy Terraform would produce, with
placeholders where Terraform would interpolate: inside an ARN, the partition, region and
account become `aws`, `us-east-1` and `111111111111` and any other piece `placeholder`; a
resource that is one expression becomes `*`, and an action or condition value that is one
expression is left out. parliament then looks each action up
in its copy of AWS's service authorization reference.

Findings of parliament's groups ERROR, MALFORMED and INVALID are errors (an unknown action
or prefix, a malformed ARN, an action that matches none of its resources, ...); the rest
(`Resource: *`, missing conditions, ...) are advisories, listed by
`python -m tests.infra.iam_lint`.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.tfcheck import load_directory, terraform_dirs

with warnings.catch_warnings():
    # parliament imports pkg_resources, which warns that it is deprecated.
    warnings.simplefilter("ignore")
    import parliament  # type: ignore[import-untyped]
    from parliament import analyze_policy_string

ERROR_GROUPS = {"ERROR", "MALFORMED", "INVALID"}
# INVALID, but only hints: StringEquals against an ARN works; parliament's condition keys do
# not expand templated ones (kms:EncryptionContext:${EncryptionContextKey}).
ADVISORY_ISSUES = {"MISMATCHED_TYPE_BUT_USABLE", "UNKNOWN_CONDITION_FOR_ACTION"}
# A trust policy (assume-role) names principals and no resource: that is its form.
TRUST_POLICY_DETAIL = "Statement contains neither Resource nor NotResource"
INTERPOLATION = re.compile(r"\$\{")
ARN_PLACEHOLDERS = {1: "aws", 3: "us-east-1", 4: "111111111111"}


@dataclass(frozen=True)
class Issue:
    where: str
    issue: str
    severity: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.issue} ({self.severity}) {self.detail}"


def _strip(text: str) -> str:
    """Replace each ${...} with \x00, keeping literal text."""
    out, i = [], 0
    while (start := text.find("${", i)) != -1:
        out.append(text[i:start])
        depth, j = 0, start + 1
        while j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                break
            j += 1
        out.append("\x00")
        i = j + 1
    out.append(text[i:])
    return "".join(out)


def render_resource(value: str) -> str:
    stripped = _strip(value)
    if stripped == "\x00" or "\x00" not in stripped:
        return "*" if stripped == "\x00" else stripped
    if not stripped.startswith(("arn:", "\x00")):
        return stripped.replace("\x00", "placeholder")
    if stripped.startswith("\x00"):
        # "${some_arn}/stream/*", "${bucket_arn}/inbound/*": an ARN we cannot see.
        return "*"
    parts = stripped.split(":", 5)
    return ":".join(
        ARN_PLACEHOLDERS.get(n, "placeholder") if "\x00" in p and n in ARN_PLACEHOLDERS else p.replace("\x00", "placeholder")
        for n, p in enumerate(parts)
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def render_statement(body: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": body.get("effect", "Allow")}
    if isinstance(body.get("sid"), str) and "${" not in body["sid"]:
        statement["Sid"] = body["sid"]
    for key, name in (("actions", "Action"), ("not_actions", "NotAction")):
        actions = [a for a in _strings(body.get(key)) if "${" not in a]
        if actions:
            statement[name] = actions
    for key, name in (("resources", "Resource"), ("not_resources", "NotResource")):
        if key in body:
            values = _strings(body[key])
            statement[name] = [render_resource(v) for v in values] if values else ["*"]
            if "*" in values:
                statement["_literal_star"] = True
    for key, name in (("principals", "Principal"), ("not_principals", "NotPrincipal")):
        for block in body.get(key, []):
            ids = [render_resource(i) if i.startswith(("arn:", "${")) else i for i in _strings(block.get("identifiers"))] or ["*"]
            if block["type"] == "*" and ids == ["*"]:
                statement[name] = "*"  # how Terraform renders type "*" with identifiers ["*"]
            else:
                statement.setdefault(name, {})[block["type"]] = ids
    for block in body.get("condition", []):
        values = [
            render_resource(v) if v.startswith("arn:") else _strip(v).replace("\x00", "placeholder") for v in _strings(block.get("values"))
        ] or ["placeholder"]
        variable = _strip(str(block.get("variable", ""))).replace("\x00", "placeholder")
        # One value as a scalar, as IAM prints it (parliament reads Bool/Null values only so).
        statement.setdefault("Condition", {}).setdefault(block["test"], {})[variable] = values[0] if len(values) == 1 else values
    return statement


def _module_statements(source: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements a module call hands to modules/stream_function or modules/kms_key."""
    statements: list[dict[str, Any]] = []
    if source.endswith("/stream_function") and isinstance(body.get("policy_statements"), list):
        for s in body["policy_statements"]:
            via = s.get("via_service")
            condition = (
                []
                if not isinstance(via, str)
                else [{"test": "StringEquals", "variable": "kms:ViaService", "values": [f"{via}.us-east-1.amazonaws.com"]}]
            )
            statements.append(render_statement({**s, "condition": condition}))
    if source.endswith("/kms_key") and isinstance(body.get("service_statements"), list):
        for s in body["service_statements"]:
            statements.append(
                render_statement(
                    {
                        "sid": s["sid"],
                        "actions": s["actions"],
                        "resources": ["*"],
                        "principals": [{"type": "Service", "identifiers": [s["service"]]}],
                        "condition": [s["condition"]],
                    }
                )
            )
    return [s for s in statements if "Action" in s]


def policy_documents(directory: Path) -> dict[str, dict[str, Any]]:
    """`<dir>: data.aws_iam_policy_document.<name>` (or `module.<name>`) -> the rendered policy."""
    found: dict[str, dict[str, Any]] = {}
    for name, body in load_directory(directory.resolve()).modules.items():
        statements = _module_statements(str(body.get("source", "")), body)
        if statements:
            found[f"{directory}: module.{name}"] = {"Version": "2012-10-17", "Statement": statements}
    for (rtype, name), body in load_directory(directory.resolve()).data.items():
        if rtype != "aws_iam_policy_document":
            continue
        statements = [render_statement(s) for s in body.get("statement", [])]
        for dyn in body.get("dynamic", []):
            for label, dyn_body in dyn.items():
                if label == "statement":
                    statements += [render_statement(c) for c in dyn_body.get("content", [])]
        # A statement whose actions are all expressions (a dynamic block's) cannot be looked up.
        statements = [s for s in statements if "Action" in s or "NotAction" in s]
        found[f"{directory}: data.aws_iam_policy_document.{name}"] = {"Version": "2012-10-17", "Statement": statements}
    return found


def _templated_arn_condition(policy: dict[str, Any]) -> bool:
    """An Arn* operator on kms:EncryptionContext:<key>, a key parliament types as String."""
    return any(
        op.startswith("Arn") and any(k.startswith("kms:EncryptionContext:") for k in keys)
        for st in policy["Statement"]
        for op, keys in st.get("Condition", {}).items()
    )


def lint_policy(where: str, policy: dict[str, Any]) -> tuple[list[Issue], list[Issue]]:
    """(errors, advisories) parliament finds in one policy."""
    errors: list[Issue] = []
    advisories: list[Issue] = []
    statements = [{k: v for k, v in st.items() if k != "_literal_star"} for st in policy["Statement"]]
    # Services whose actions a statement grants on a "*" written in the source.
    star_services = {a.split(":")[0] for st in policy["Statement"] if st.get("_literal_star") for a in st.get("Action", [])}
    analyzed = analyze_policy_string(json.dumps({"Version": policy["Version"], "Statement": statements}))
    for finding in analyzed.findings:
        if finding.issue == "MALFORMED" and finding.detail == TRUST_POLICY_DETAIL and all("Principal" in st for st in statements):
            continue
        if finding.issue == "RESOURCE_STAR" and not {a.split(":")[0] for a in finding.detail} <= star_services:
            continue  # the "*" stands for an expression, not a "*" in the source
        config = parliament.config.get(finding.issue, {})
        issue = Issue(where, finding.issue, config.get("severity", "?"), json.dumps(finding.detail, default=str))
        failing = config.get("group") in ERROR_GROUPS and finding.issue not in ADVISORY_ISSUES
        if finding.issue == "MISMATCHED_TYPE" and _templated_arn_condition(policy):
            failing = False  # AWS documents ArnLike for aws:logs:arn; parliament cannot type the key
        (errors if failing else advisories).append(issue)
    return errors, advisories


def lint(root: Path) -> tuple[list[Issue], list[Issue]]:
    errors: list[Issue] = []
    advisories: list[Issue] = []
    for directory in terraform_dirs(root):
        for where, policy in policy_documents(directory).items():
            e, a = lint_policy(str(Path(where.split(":")[0]).relative_to(root.parent)) + ":" + where.split(":", 1)[1], policy)
            errors += e
            advisories += a
    return errors, advisories


def main() -> int:
    root = Path(__file__).resolve().parents[2] / "infra"
    errors, advisories = lint(root)
    for title, issues in (("errors", errors), ("advisories", advisories)):
        print(f"{len(issues)} {title}")
        for issue in issues:
            print(f"  {issue}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
