"""The media bucket, its key and lifecycle, and exactly the S3 access the code uses."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from tests.infra.hcl import MODULES, ROOT, STAGES, named, resources, stream_function_statements, top_level_names, wired

MEDIA = MODULES / "media"
SERVICE = MODULES / "service"
# botocore S3 client method -> the IAM action it needs; a presigned GET is signed for GetObject.
S3_CALLS = {
    "put_object": "s3:PutObject",
    "generate_presigned_url": "s3:GetObject",
    "get_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject",
}


def s3_calls(paths: list[str]) -> set[str]:
    calls = set()
    for path in paths:
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in S3_CALLS:
                calls.add(S3_CALLS[node.func.attr])
    return calls


def statements(name: str) -> dict[str, dict[str, Any]]:
    doc = resources(SERVICE, "data")[("aws_iam_policy_document", name)]
    by_sid = {s["sid"]: s for s in doc["statement"] if "sid" in s}
    for dynamic in doc.get("dynamic", []):
        content = dynamic["statement"]["content"][0]
        by_sid[content["sid"]] = content
    return by_sid


def s3_granted(by_sid: dict[str, dict[str, Any]]) -> set[str]:
    return {a for s in by_sid.values() for a in s["actions"] if a.startswith("s3:")}


def test_bucket_is_private_kms_encrypted_tls_only_and_expires() -> None:
    found = resources(MEDIA)
    assert found[("aws_s3_bucket", "this")]["bucket"] == "${local.prefix}-media"
    assert named(MEDIA, "module")["key"]["name"] == "media"  # alias/omni-twilio-<stage>-media
    sse = found[("aws_s3_bucket_server_side_encryption_configuration", "this")]["rule"][0]
    assert sse["apply_server_side_encryption_by_default"][0] == {"sse_algorithm": "aws:kms", "kms_master_key_id": "${module.key.arn}"}
    assert sse["bucket_key_enabled"] is True
    block = found[("aws_s3_bucket_public_access_block", "this")]
    assert all(block[k] is True for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"))
    rule = found[("aws_s3_bucket_lifecycle_configuration", "this")]["rule"][0]
    assert rule["status"] == "Enabled" and rule["expiration"][0]["days"] == "${var.expiry_days}"
    assert rule["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
    deny = resources(MEDIA, "data")[("aws_iam_policy_document", "bucket")]["statement"][0]
    assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"


@pytest.mark.parametrize("stage", STAGES)
def test_shared_root_creates_the_bucket_with_an_expiry(stage: str) -> None:
    media = wired("shared", stage, "media")
    assert media["source"] == "../../modules/media" and media["expiry_days"] >= 1
    assert media["force_destroy"] is (stage == "dev")


def test_inbound_worker_role_grants_what_the_rehost_calls() -> None:
    calls = s3_calls(["libs/carrier_core/carrier_core/media/rehost.py", "libs/carrier_core/carrier_core/media/storage.py"])
    worker = stream_function_statements(SERVICE, "media_worker")
    # storage.py also presigns, for outbound; the worker itself only uploads.
    assert "s3:PutObject" in calls and s3_granted(worker) == {"s3:PutObject"}
    assert worker["WriteInboundMedia"]["resources"] == ["${local.media_bucket_arn}/inbound/*"]
    assert worker["FinishMedia"]["actions"] == ["dynamodb:UpdateItem"]
    assert worker["UseMediaKeyThroughS3"]["actions"] == ["kms:GenerateDataKey"]
    call = named(SERVICE, "module")["media_worker"]
    assert call["dlq_arn"] == "${var.media_worker.dlq_arn}"
    assert '"INSERT"' in call["filter_pattern"] and '"inbound"' in call["filter_pattern"]
    assert list(call["streams"]) == ["messages"]
    # Batches of one shard run side by side: a message whose media server is slow holds up
    # only its own batch, not every message inserted after it.
    assert call["parallelization_factor"] == 10


def test_service_media_policy_grants_puts_under_a_prefix_reads_and_redaction_deletes() -> None:
    outbound_calls = s3_calls(
        [
            "services/outbound/chalicelib/media.py",
            "services/outbound/chalicelib/messages.py",
            "services/outbound/chalicelib/redaction.py",
            "libs/carrier_core/carrier_core/media/storage.py",
        ]
    )
    policy = statements("media")
    assert outbound_calls == {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"} == s3_granted(policy)
    assert policy["DeleteRedactedMedia"]["resources"] == ["${local.media_bucket_arn}/*"]
    assert policy["WriteMedia"]["resources"] == ["${local.media_bucket_arn}/${var.media.put_prefix}*"]
    assert policy["ReadMedia"]["resources"] == ["${local.media_bucket_arn}/*"]


@pytest.mark.parametrize("stage", STAGES)
def test_roots_give_each_service_its_own_media_access(stage: str) -> None:
    inbound = wired("inbound", stage, "service")
    outbound = wired("outbound", stage, "service")
    assert (inbound["media"]["put_prefix"], inbound["media"]["read"]) == ("inbound/", False)
    assert (outbound["media"]["put_prefix"], outbound["media"]["read"]) == ("outbound/", True)
    assert "media" not in wired("status", stage, "service")
    assert "media_worker" not in outbound
    module, function = inbound["media_worker"]["handler"].split(".")
    app = (ROOT / "services" / "inbound" / f"{module}.py").read_text()
    assert function in top_level_names(app)
    assert re.search(r"@app\.on_dynamodb_record\(.*?\)\s*\ndef " + function + r"\(", app, re.S)
    # The bucket's name is the one carrier_core's settings default to.
    assert inbound["media"]["bucket_name"] == "${local.prefix}-media" == outbound["media"]["bucket_name"]
