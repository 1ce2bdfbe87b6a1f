"""Extract the AWS provider's schema from a CDK for Terraform provider package.

`make terraform-schema` runs this. The npm package @cdktn/provider-aws is generated from
the provider's own schema; its `.jsii` file (about 150 MB) describes every resource, data
source and the provider block. This keeps what tests/infra/tfcheck.py needs, as compact
JSON: for each block its arguments (required or optional), its computed-only attributes
and its nested blocks (each with its own arguments and blocks, whether it is required and
whether it can repeat).

    python infra/provider_schema.py PACKAGE.tgz OUT.json TF_DIR

Full schemas are kept only for the types the .tf files under TF_DIR use (the whole provider
is about 2.8 MB of JSON); every other type is listed by name, so a misspelt type is told
apart from one whose schema needs `make terraform-schema` again.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

ANCHOR = re.compile(r"#([a-z0-9_]+) \w+#\w+\}")
DOC_URL = re.compile(r"/docs/(resources|data-sources)/(\w+) ")
STRUCT_BASES = {"cdktn.TerraformResource": "resources", "cdktn.TerraformDataSource": "data_sources"}
# Class members every resource class has that are not Terraform attributes.
NOT_ATTRIBUTES = {"tfResourceType", "fqn", "friendlyUniqueId", "terraformMetaArguments", "terraformResourceType"}


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def struct_of(type_: dict[str, Any], types: dict[str, Any]) -> tuple[str | None, bool]:
    """(fqn of the nested block's struct, whether it repeats), or (None, False) for an argument."""
    if "fqn" in type_:
        fqn = type_["fqn"]
        kind = types.get(fqn, {})
        return (fqn, False) if kind.get("datatype") else (None, False)
    if "collection" in type_:
        fqn, _ = struct_of(type_["collection"]["elementtype"], types)
        return (fqn, True) if fqn else (None, False)
    if "union" in type_:
        for member in type_["union"]["types"]:
            fqn, repeats = struct_of(member, types)
            if fqn:
                return fqn, repeats
    return None, False


def tf_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = ANCHOR.search(docs.get("summary", "") + " " + docs.get("remarks", ""))
    return match.group(1) if match else snake(prop["name"])


def block(fqn: str, types: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """{"a": {argument: 1 if required else 0}, "b": {block: {...}}} of one struct."""
    arguments: dict[str, int] = {}
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        name = tf_name(prop)
        nested, repeats = struct_of(prop["type"], types)
        if nested and depth < 12:
            schema = block(nested, types, depth + 1)
            if not prop.get("optional"):
                schema["r"] = 1
            if not repeats:
                schema["1"] = 1
            blocks[name] = schema
        else:
            arguments[name] = 0 if prop.get("optional") else 1
    out: dict[str, Any] = {"a": arguments}
    if blocks:
        out["b"] = blocks
    return out


def computed_only(cls: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Attributes a class exposes that its config cannot set (arn, invoke_arn, ...)."""
    settable = set(schema["a"]) | set(schema.get("b", {}))
    names = set()
    for prop in cls.get("properties", []):
        name = prop["name"]
        if prop.get("static") or name.endswith("Input") or name in NOT_ATTRIBUTES or prop.get("protected"):
            continue
        names.add(snake(name))
    return sorted(names - settable)


def extract(jsii: dict[str, Any]) -> dict[str, Any]:
    types = jsii["types"]
    out: dict[str, Any] = {"resources": {}, "data_sources": {}}
    for fqn, cls in sorted(types.items()):
        base = cls.get("base")
        if base == "cdktn.TerraformProvider":
            config = cls["initializer"]["parameters"][-1]["type"]["fqn"]
            out["provider"] = block(config, types)
            continue
        if base not in STRUCT_BASES:
            continue
        match = DOC_URL.search(cls["docs"]["summary"])
        if not match:
            raise SystemExit(f"{fqn}: no Terraform type in {cls['docs']['summary']!r}")
        config = cls["initializer"]["parameters"][-1]["type"]["fqn"]
        schema = block(config, types)
        computed = computed_only(cls, schema)
        if computed:
            schema["c"] = computed
        out[STRUCT_BASES[base]]["aws_" + match.group(2)] = schema
    return out


USED = re.compile(r'^\s*(resource|data)\s+"(aws_\w+)"', re.M)


def used_types(tf_dir: Path) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {"resources": set(), "data_sources": set()}
    for path in tf_dir.rglob("*.tf"):
        for kind, name in USED.findall(path.read_text()):
            used["resources" if kind == "resource" else "data_sources"].add(name)
    return used


def dumps(schema: dict[str, Any]) -> str:
    """JSON with one type (or one name) per line, so that a new provider or type reads as a
    diff of the types it changes."""

    def line(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    parts = []
    for key in sorted(schema):
        value = schema[key]
        if isinstance(value, dict) and key in ("resources", "data_sources"):
            inner = ",\n".join(f"  {line(k)}: {line(v)}" for k, v in sorted(value.items()))
            parts.append(f"{line(key)}: {{\n{inner}\n }}")
        elif isinstance(value, list):
            parts.append(f"{line(key)}: [\n" + ",\n".join(f"  {line(v)}" for v in value) + "\n ]")
        else:
            parts.append(f"{line(key)}: {line(value)}")
    return "{\n " + ",\n ".join(parts) + "\n}\n"


def main(package: Path, target: Path, tf_dir: Path) -> None:
    with tarfile.open(package) as tar:
        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        jsii = json.load(tar.extractfile("package/.jsii"))  # type: ignore[arg-type]
    schema = extract(jsii)
    used = used_types(tf_dir)
    for kind in ("resources", "data_sources"):
        missing = used[kind] - set(schema[kind])
        if missing:
            raise SystemExit(f"not in the provider: {kind} {sorted(missing)}")
        schema[f"{kind}_all"] = sorted(schema[kind])
        schema[kind] = {name: schema[kind][name] for name in sorted(used[kind])}
    provider = meta["cdktf"]["provider"]
    header = {"package": f"{meta['name']}@{meta['version']}", "provider": provider["name"], "version": provider["version"]}
    target.write_text(dumps({"source": header, **schema}))
    print(
        f"{target}: provider {provider['version']}, schemas of {len(schema['resources'])} resources and "
        f"{len(schema['data_sources'])} data sources used in {tf_dir}, {target.stat().st_size // 1024} KiB"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
