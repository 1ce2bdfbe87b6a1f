"""Every KMS key comes from modules/kms_key, keeps its alias, and moves in state, not anew."""

from __future__ import annotations

import re

from tests.infra.hcl import MODULE_DIRS, MODULES, load_dir, named, resources

KMS = MODULES / "kms_key"

# Where each key of a stage is made, and the alias service roots look it up by
# (alias/omni-twilio-<stage>-<name>): a changed name would orphan their data sources.
KEYS = {
    ("tables", "key"): "tables",
    ("media", "key"): "media",
    ("events", "key"): "events",
    ("alarms", "key"): "alarms",
    ("platform", "secrets_key"): "secrets",
    ("platform", "tenant_secrets_key"): "tenant-secrets",
    ("platform", "logs_key"): "logs",
}
# Keys made by kms_key from the start: no earlier address to move from.
BORN_IN_KMS_MODULE = {("platform", "tenant_secrets_key")}


def key_modules() -> dict[tuple[str, str], dict[str, object]]:
    return {(d.name, name): body for d in MODULE_DIRS for name, body in named(d, "module").items() if body["source"] == "../kms_key"}


def test_every_key_comes_from_the_kms_module() -> None:
    assert {m: body["name"] for m, body in key_modules().items()} == KEYS
    for directory in MODULE_DIRS:
        if directory != KMS:
            assert not {t for t, _ in resources(directory) if t.startswith("aws_kms_")}, directory.name


def test_the_key_rotates_and_its_alias_is_the_stage_and_name() -> None:
    found = resources(KMS)
    assert found[("aws_kms_key", "this")]["enable_key_rotation"] is True
    assert found[("aws_kms_key", "this")]["policy"] == "${data.aws_iam_policy_document.key.json}"
    assert found[("aws_kms_alias", "this")]["name"] == "${local.alias}"
    assert load_dir(KMS)["locals"][0]["alias"] == "alias/omni-twilio-${var.stage}-${var.name}"


def test_each_moved_key_and_alias_has_a_moved_block() -> None:
    """The keys were resources of these modules: without `moved`, a plan destroys them."""
    for (module, name), _ in key_modules().items():
        if (module, name) in BORN_IN_KMS_MODULE:
            assert not any(f"module.{name}." in m["to"] for m in load_dir(MODULES / module).get("moved", [])), (module, name)
            continue
        moves = {(m["from"], m["to"]) for m in load_dir(MODULES / module).get("moved", [])}
        old = "this" if name == "key" else name.removesuffix("_key")
        assert (f"${{aws_kms_key.{old}}}", f"${{module.{name}.aws_kms_key.this}}") in moves, (module, name)
        assert (f"${{aws_kms_alias.{old}}}", f"${{module.{name}.aws_kms_alias.this}}") in moves, (module, name)
        text = "\n".join(p.read_text() for p in (MODULES / module).glob("*.tf"))
        assert re.search(r"#.*moved.*\n(#.*\n)*moved \{", text, re.I) or "instead of destroying" in text
