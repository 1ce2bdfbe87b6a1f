"""Twilio's OpenAPI spec as Stoplight Prism needs it to validate form bodies the way Twilio reads them."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FORM = "application/x-www-form-urlencoded"


def explicit_form_encoding(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with `encoding: {style: form, explode: true}` spelled out for every array field of
    a form body.

    That is OpenAPI 3.0's default for form bodies (a repeated key per item, as Twilio reads
    MediaUrl), so the contract is unchanged; but Prism 5 only parses repeated keys into an
    array when the encoding is explicit, and otherwise rejects every MediaUrl with "must be
    array" (stoplightio/prism#2473).
    """
    derived = copy.deepcopy(spec)
    for operations in derived.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            form = content.get(FORM)
            if not form:
                continue
            encoding = form.setdefault("encoding", {})
            for name, schema in form.get("schema", {}).get("properties", {}).items():
                if schema.get("type") == "array":
                    encoding.setdefault(name, {"style": "form", "explode": True})
    return derived


def write_prism_spec(source: Path, target: Path) -> Path:
    """Write the Prism-ready copy of the spec at `source` to `target`; returns `target`."""
    spec = json.loads(source.read_text())
    target.write_text(json.dumps(explicit_form_encoding(spec)))
    return target
