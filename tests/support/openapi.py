"""The outbound API's OpenAPI description: loaded once, its schemas as validators and as
hypothesis strategies (the subset of JSON Schema the description uses)."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator

from tests.support.apps import ROOT

SPEC_PATH = ROOT / "services" / "outbound" / "openapi.yaml"


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
    return loaded


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local $ref (#/components/...) until a node without one."""
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema(name: str) -> dict[str, Any]:
    return resolve({"$ref": f"#/components/schemas/{name}"})


def validator(node: dict[str, Any]) -> OAS30Validator:
    """A validator for `node`, with the spec's components reachable by $ref."""
    return OAS30Validator({**node, "components": spec()["components"]})


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    """The JSON schema the spec gives for that answer; None when the spec lists no such answer."""
    responses = spec()["paths"][path][method.lower()]["responses"]
    answer = responses.get(str(status))
    if answer is None:
        return None
    return dict(resolve(resolve(answer)["content"]["application/json"]["schema"]))


def from_schema(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for `node` (type, enum, pattern, bounds, arrays, closed objects)."""
    node = resolve(node)
    if "enum" in node:
        return st.sampled_from([v for v in node["enum"] if v is not None])
    kind = node.get("type")
    if kind == "string":
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True)
        return st.text(min_size=node.get("minLength", 0), max_size=node.get("maxLength", 40))
    if kind == "integer":
        return st.integers(node.get("minimum"), node.get("maximum"))
    if kind == "number":
        return st.floats(
            node.get("minimum"),
            node.get("maximum"),
            allow_nan=False,
            exclude_min=bool(node.get("exclusiveMinimum")),
            exclude_max=bool(node.get("exclusiveMaximum")),
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(from_schema(node["items"]), max_size=node.get("maxItems", 3))
    if kind == "object":
        properties = node.get("properties", {})
        required = set(node.get("required", []))
        return st.fixed_dictionaries(
            {name: from_schema(sub) for name, sub in properties.items() if name in required},
            optional={name: from_schema(sub) for name, sub in properties.items() if name not in required},
        )
    raise NotImplementedError(f"no strategy for {node}")
