"""What `terraform validate` would say, without the provider: a schema check of .tf files.

`terraform init` cannot download the AWS provider on the build machines, so `validate` never
runs there. This reads each directory of .tf files with python-hcl2 and checks it against
the provider's schema, extracted once by `make terraform-schema` into
tests/infra/aws_provider_schema.json:

- resources, data sources and provider blocks: the type exists; every argument and nested
  block is one the schema knows, written as an argument or as a block as the schema says;
  no computed-only attribute is set; required arguments and blocks are present; a block
  that may appear once appears once; `dynamic` blocks name a real block; meta-arguments
  and `lifecycle` hold only what Terraform accepts;
- module calls: every input is a variable of the module, every required variable is given,
  and every `module.<name>.<output>` is an output of that module;
- references: `var.`, `local.`, `module.`, `data.` and resource addresses are declared in the
  directory; the attribute after a resource or data source exists in its schema; a resource
  with `count` or `for_each` is indexed before an attribute is read; `count.index` and
  `each.*` appear only in blocks that have `count` or `for_each`; no attribute the pinned
  provider deprecates is read;
- variable, output and moved blocks hold only their own arguments.

Each finding names the file and line. Lines come from a light scan of the source (python-hcl2
keeps none): the block's header, then the first line inside it that starts with the name.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterator

import hcl2
from hcl2 import SerializationOptions

SCHEMA_PATH = Path(__file__).with_name("aws_provider_schema.json")
_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=True, with_comments=False)

RESOURCE_META = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
DATA_META = {"count", "for_each", "depends_on", "provider", "lifecycle"}
MODULE_META = {"source", "version", "providers", "depends_on", "count", "for_each"}
LIFECYCLE = {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by", "precondition", "postcondition"}
VARIABLE_KEYS = {"description", "type", "default", "validation", "sensitive", "nullable", "ephemeral"}
OUTPUT_KEYS = {"value", "description", "sensitive", "depends_on", "precondition", "ephemeral"}
MOVED_KEYS = {"from", "to"}
# Attributes the pinned provider (6.x) deprecates, with what replaces them (the provider's
# version 6 upgrade guide); the schema in the npm package does not mark deprecation.
DEPRECATED = {("data", "aws_region", "name"): "region"}

TOP_HEADER = re.compile(r"^(resource|data|module|variable|output|locals|provider|terraform|moved|import|check)\b")
INDEX = r"((?:\[[^\]]*\])?)"
RESOURCE_REF = re.compile(r"(?<![\w.])(aws_\w+)\.([A-Za-z_][\w-]*)" + INDEX + r"(?:\.(\w+))?")
DATA_REF = re.compile(r"(?<![\w.])data\.(aws_\w+)\.([A-Za-z_][\w-]*)" + INDEX + r"(?:\.(\w+))?")
MODULE_REF = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)" + INDEX + r"(?:\.(\w+))?")
VAR_REF = re.compile(r"(?<![\w.])var\.([A-Za-z_][\w-]*)")
LOCAL_REF = re.compile(r"(?<![\w.])local\.([A-Za-z_][\w-]*)")
COUNT_REF = re.compile(r"(?<![\w.])count\.index\b")
EACH_REF = re.compile(r"(?<![\w.])each\.(key|value)\b")


@dataclass(frozen=True, order=True)
class Finding:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@cache
def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


def _is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get("__is_block__") for v in value)


def _items(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    return ((k, v) for k, v in body.items() if k != "__is_block__")


def expressions(value: Any) -> Iterator[str]:
    """The `${...}` expressions inside a parsed value (literal text is left out)."""
    if isinstance(value, str):
        start = value.find("${")
        while start != -1:
            depth, i = 0, start + 1
            while i < len(value):
                if value[i] == "{":
                    depth += 1
                elif value[i] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            yield value[start + 2 : i]
            start = value.find("${", i)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "__is_block__":
                yield from expressions(key)
                yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Source:
    """Line numbers of one file, found by scanning its text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = path.read_text().splitlines()

    def block_range(self, kind: str, labels: tuple[str, ...]) -> tuple[int, int]:
        """0-based (header, end) of a top-level block; end is the next top-level header."""
        pattern = re.compile(r"^" + kind + "".join(r'\s+"?' + re.escape(label) + r'"?' for label in labels) + r"\s*\{")
        for i, line in enumerate(self.lines):
            if pattern.match(line):
                end = next((j for j in range(i + 1, len(self.lines)) if TOP_HEADER.match(self.lines[j])), len(self.lines))
                return i, end
        return 0, len(self.lines)

    def find(self, name: str, span: tuple[int, int], nth: int = 0) -> int:
        """0-based line of the nth line in span that starts with `name =`, `name {` or `dynamic "name"`."""
        pattern = re.compile(r"^\s*(" + re.escape(name) + r'\s*(=|\{)|dynamic\s+"' + re.escape(name) + '")')
        seen = 0
        for i in range(span[0], span[1]):
            if pattern.match(self.lines[i]):
                if seen == nth:
                    return i
                seen += 1
        return span[0]

    def containing(self, text: str, span: tuple[int, int]) -> int:
        for i in range(span[0], span[1]):
            if text in self.lines[i]:
                return i
        return span[0]


@dataclass
class Directory:
    """The declarations of one directory of .tf files."""

    path: Path
    files: dict[Path, dict[str, Any]]
    variables: dict[str, dict[str, Any]]
    locals: set[str]
    outputs: set[str]
    modules: dict[str, dict[str, Any]]
    resources: dict[tuple[str, str], dict[str, Any]]
    data: dict[tuple[str, str], dict[str, Any]]


def _parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f, serialization_options=_OPTIONS)


@cache
def load_directory(path: Path) -> Directory:
    files = {p: _parse(p) for p in sorted(path.glob("*.tf"))}
    d = Directory(path, files, {}, set(), set(), {}, {}, {})
    for parsed in files.values():
        for entry in parsed.get("variable", []):
            d.variables.update({k: v for k, v in _items(entry)})
        for entry in parsed.get("locals", []):
            d.locals.update(k for k, _ in _items(entry))
        for entry in parsed.get("output", []):
            d.outputs.update(k for k, _ in _items(entry))
        for entry in parsed.get("module", []):
            d.modules.update({k: v for k, v in _items(entry)})
        for kind, into in (("resource", d.resources), ("data", d.data)):
            for entry in parsed.get(kind, []):
                for rtype, named in _items(entry):
                    into.update({(rtype, name): body for name, body in _items(named)})
    return d


class Checker:
    def __init__(self, directory: Path, schema: dict[str, Any], display_root: Path | None = None) -> None:
        self.dir = load_directory(directory.resolve())
        self.schema = schema
        self.display_root = display_root
        self.findings: list[Finding] = []
        self.source: Source | None = None

    # -- reporting ---------------------------------------------------------------------
    def report(self, line: int, message: str) -> None:
        assert self.source is not None
        path = self.source.path
        if self.display_root is not None:
            with contextlib.suppress(ValueError):
                path = path.relative_to(self.display_root)
        self.findings.append(Finding(path, line + 1, message))

    # -- entry point ---------------------------------------------------------------------
    def run(self) -> list[Finding]:
        for path, parsed in self.dir.files.items():
            self.source = Source(path)
            for entry in parsed.get("resource", []):
                for rtype, named in _items(entry):
                    for name, body in _items(named):
                        self.check_typed("resource", rtype, name, body)
            for entry in parsed.get("data", []):
                for rtype, named in _items(entry):
                    for name, body in _items(named):
                        self.check_typed("data", rtype, name, body)
            for entry in parsed.get("provider", []):
                for pname, body in _items(entry):
                    self.check_provider(pname, body)
            for entry in parsed.get("module", []):
                for name, body in _items(entry):
                    self.check_module(name, body)
            for entry in parsed.get("variable", []):
                for name, body in _items(entry):
                    self.check_keys("variable", (name,), body, VARIABLE_KEYS, required=set())
            for entry in parsed.get("output", []):
                for name, body in _items(entry):
                    span = self.check_keys("output", (name,), body, OUTPUT_KEYS, required={"value"})
                    self.check_references(body, span, counted=False, each=False)
            for entry in parsed.get("moved", []):
                self.check_moved(entry)
            for entry in parsed.get("locals", []):
                # A file may hold several locals blocks: each value is found by its own name.
                for key, value in _items(entry):
                    line = self.source.find(key, (0, len(self.source.lines)))
                    self.check_references(value, (line, self._value_end(line)), counted=False, each=False)
        return sorted(self.findings)

    def _value_end(self, line: int) -> int:
        assert self.source is not None
        return next((j for j in range(line + 1, len(self.source.lines)) if TOP_HEADER.match(self.source.lines[j])), len(self.source.lines))

    # -- blocks --------------------------------------------------------------------------
    def check_typed(self, kind: str, rtype: str, name: str, body: dict[str, Any]) -> None:
        assert self.source is not None
        span = self.source.block_range(kind, (rtype, name))
        plural = "resources" if kind == "resource" else "data_sources"
        schema = self.schema[plural].get(rtype)
        if schema is None:
            if rtype in self.schema[f"{plural}_all"]:
                self.report(span[0], f"{kind} type {rtype}: its schema was not extracted; run `make terraform-schema`")
            else:
                self.report(span[0], f"unknown {kind} type {rtype}{_suggest(rtype, self.schema[f'{plural}_all'])}")
            self.check_references(body, span, counted="count" in body, each="for_each" in body)
            return
        meta = RESOURCE_META if kind == "resource" else DATA_META
        if "count" in body and "for_each" in body:
            self.report(span[0], f"{rtype}.{name}: count and for_each together")
        lifecycle = body.get("lifecycle")
        if lifecycle is not None:
            for block in lifecycle if isinstance(lifecycle, list) else [lifecycle]:
                for key, _ in _items(block):
                    if key not in LIFECYCLE:
                        self.report(self.source.find(key, span), f"{rtype}.{name}: lifecycle has no argument {key!r}")
        where = f"{rtype}.{name}"
        self.check_body(where, {k: v for k, v in body.items() if k not in meta}, schema, span)
        self.check_references(body, span, counted="count" in body, each="for_each" in body)

    def check_provider(self, pname: str, body: dict[str, Any]) -> None:
        assert self.source is not None
        span = self.source.block_range("provider", (pname,))
        if pname != "aws":
            self.report(span[0], f"provider {pname!r}: no schema (only aws is pinned)")
            return
        self.check_body("provider aws", {k: v for k, v in body.items() if k != "alias"}, self.schema["provider"], span)
        self.check_references(body, span, counted=False, each=False)

    def check_body(self, where: str, body: dict[str, Any], schema: dict[str, Any], span: tuple[int, int]) -> None:
        assert self.source is not None
        arguments: dict[str, int] = schema.get("a", {})
        blocks: dict[str, Any] = schema.get("b", {})
        computed = set(schema.get("c", []))
        dynamic_labels: set[str] = set()
        for key, value in _items(body):
            line = self.source.find(key, span)
            if key == "dynamic":
                for dyn in value if isinstance(value, list) else [value]:
                    for label, dyn_body in _items(dyn):
                        dynamic_labels.add(label)
                        dline = self.source.find(label, span)
                        if label not in blocks:
                            self.report(dline, f"{where}: dynamic {label!r} is not a block of this type{_suggest(label, blocks)}")
                            continue
                        for content in dyn_body.get("content", []):
                            self.check_body(f"{where}.{label}", content, blocks[label], (dline, span[1]))
                continue
            if _is_block(value):
                if key in blocks:
                    if blocks[key].get("1") and len(value) > 1:
                        self.report(line, f"{where}: block {key!r} may appear only once, found {len(value)}")
                    for nth, nested in enumerate(value):
                        nline = self.source.find(key, span, nth)
                        self.check_body(f"{where}.{key}", nested, blocks[key], (nline, span[1]))
                elif key in arguments:
                    self.report(line, f"{where}: {key!r} is an argument: write `{key} = ...`, not a block")
                else:
                    self.report(line, f"{where}: unknown block {key!r}{_suggest(key, [*blocks, *arguments])}")
            elif key in arguments:
                continue
            elif key in blocks:
                self.report(line, f"{where}: {key!r} is a block: write `{key} {{ ... }}`, not `{key} = ...`")
            elif key in computed:
                self.report(line, f"{where}: {key!r} is computed by the provider and cannot be set")
            else:
                self.report(line, f"{where}: unknown argument {key!r}{_suggest(key, [*arguments, *blocks])}")
        for key, required in arguments.items():
            if required and key not in body:
                self.report(span[0], f"{where}: missing required argument {key!r}")
        for key, nested in blocks.items():
            if nested.get("r") and key not in body and key not in dynamic_labels:
                self.report(span[0], f"{where}: missing required block {key!r}")

    def check_module(self, name: str, body: dict[str, Any]) -> None:
        assert self.source is not None
        span = self.source.block_range("module", (name,))
        self.check_references(body, span, counted="count" in body, each="for_each" in body)
        target = self.module_dir(body)
        if target is None:
            self.report(span[0], f"module {name}: source {body.get('source')!r} is not a local directory")
            return
        variables = load_directory(target).variables
        for key, _ in _items(body):
            if key not in MODULE_META and key not in variables:
                self.report(self.source.find(key, span), f"module {name}: unknown input {key!r}{_suggest(key, variables)}")
        for var, decl in variables.items():
            if "default" not in decl and var not in body:
                self.report(span[0], f"module {name}: missing required input {var!r}")

    def module_dir(self, body: dict[str, Any]) -> Path | None:
        source = body.get("source")
        if not isinstance(source, str) or not source.startswith(("./", "../")):
            return None
        target = (self.dir.path / source).resolve()
        return target if target.is_dir() and any(target.glob("*.tf")) else None

    def check_keys(
        self, kind: str, labels: tuple[str, ...], body: dict[str, Any], allowed: set[str], required: set[str]
    ) -> tuple[int, int]:
        assert self.source is not None
        span = self.source.block_range(kind, labels)
        for key, _ in _items(body):
            if key not in allowed:
                self.report(self.source.find(key, span), f"{kind} {'.'.join(labels)}: unknown argument {key!r}{_suggest(key, allowed)}")
        for key in required - set(body):
            self.report(span[0], f"{kind} {'.'.join(labels)}: missing required argument {key!r}")
        return span

    def check_moved(self, body: dict[str, Any]) -> None:
        assert self.source is not None
        target = str(body.get("to", ""))
        line = self.source.containing(target.strip("${}"), (0, len(self.source.lines)))
        for key, _ in _items(body):
            if key not in MOVED_KEYS:
                self.report(line, f"moved: unknown argument {key!r}")
        address = target.strip("${}")
        module = re.match(r"module\.(\w+)", address)
        if module:
            if module.group(1) not in self.dir.modules:
                self.report(line, f"moved: to {address}: no module {module.group(1)!r} here")
        elif tuple(address.split("[")[0].split(".")[:2]) not in self.dir.resources:
            self.report(line, f"moved: to {address}: no such resource here")

    # -- references ----------------------------------------------------------------------
    def check_references(self, body: Any, span: tuple[int, int], counted: bool, each: bool) -> None:
        for expr in expressions(body):
            self.check_expression(expr, span, counted, each)

    def _attributes(self, plural: str, rtype: str) -> set[str] | None:
        schema = self.schema[plural].get(rtype)
        if schema is None:
            return None
        return {"id", *schema.get("a", {}), *schema.get("b", {}), *schema.get("c", [])}

    def check_expression(self, expr: str, span: tuple[int, int], counted: bool, each: bool) -> None:
        assert self.source is not None
        d = self.dir

        def at(text: str) -> int:
            assert self.source is not None
            return self.source.containing(text, span)

        for m in VAR_REF.finditer(expr):
            if m.group(1) not in d.variables:
                self.report(at(m.group(0)), f"undeclared variable var.{m.group(1)}{_suggest(m.group(1), d.variables)}")
        for m in LOCAL_REF.finditer(expr):
            if m.group(1) not in d.locals:
                self.report(at(m.group(0)), f"undeclared local local.{m.group(1)}{_suggest(m.group(1), d.locals)}")
        if not counted:
            for m in COUNT_REF.finditer(expr):
                self.report(at(m.group(0)), "count.index in a block without count")
        if not each:
            for m in EACH_REF.finditer(expr):
                self.report(at(m.group(0)), f"{m.group(0)} in a block without for_each")
        for m in MODULE_REF.finditer(expr):
            name, index, output = m.groups()
            if name not in d.modules:
                self.report(at(m.group(0)), f"undeclared module module.{name}")
                continue
            call = d.modules[name]
            multi = "count" if "count" in call else "for_each" if "for_each" in call else None
            if output and multi and not index:
                self.report(at(m.group(0)), f"module.{name} has {multi}: index it before reading {output!r}")
            target = self.module_dir(call)
            if output and target is not None and output not in load_directory(target).outputs:
                self.report(at(m.group(0)), f"module.{name} has no output {output!r}{_suggest(output, load_directory(target).outputs)}")
        for m in DATA_REF.finditer(expr):
            self._check_address("data", m, d.data, "data_sources", at)
        for m in RESOURCE_REF.finditer(expr):
            self._check_address("resource", m, d.resources, "resources", at)

    def _check_address(self, kind: str, m: re.Match[str], declared: dict[tuple[str, str], dict[str, Any]], plural: str, at: Any) -> None:
        rtype, name, index, attr = m.groups()
        prefix = "data." if kind == "data" else ""
        address = f"{prefix}{rtype}.{name}"
        line = at(m.group(0))
        if (rtype, name) not in declared:
            self.report(line, f"reference to undeclared {kind} {address}")
            return
        if not attr:
            return
        body = declared[(rtype, name)]
        multi = "count" if "count" in body else "for_each" if "for_each" in body else None
        if multi and not index:
            key = "[0]" if multi == "count" else "[each.key]"
            self.report(line, f"{address} has {multi}: index it ({address}{key}.{attr}) before reading {attr!r}")
        attributes = self._attributes(plural, rtype)
        if attributes is not None and attr not in attributes:
            self.report(line, f"{address} has no attribute {attr!r}{_suggest(attr, attributes)}")
        replacement = DEPRECATED.get((kind, rtype, attr))
        if replacement:
            self.report(line, f"{address}.{attr} is deprecated in provider 6.x: use {replacement!r}")


def check(directory: Path, schema: dict[str, Any] | None = None, display_root: Path | None = None) -> list[Finding]:
    """Every finding in one directory of .tf files."""
    return Checker(directory, schema or load_schema(), display_root).run()


def terraform_dirs(root: Path) -> list[Path]:
    """Every directory under root holding .tf files (modules, roots, examples)."""
    return sorted({p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts})
