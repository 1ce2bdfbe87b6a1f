"""Twilio's OpenAPI spec as Stoplight Prism needs it to validate form bodies the way Twilio reads them."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twilio.http.http_client import TwilioHttpClient

FORM = "application/x-www-form-urlencoded"
SENDER, CUSTOMER, SERVICE = "+15005550006", "+15005550010", "MG" + "0" * 32

# Every variant of client.messages.create the outbound service makes.
OUTBOUND_SENDS: dict[str, dict[str, Any]] = {
    "to from body": {"to": CUSTOMER, "from_": SENDER, "body": "Your order has shipped"},
    "messaging service": {"to": CUSTOMER, "messaging_service_sid": SERVICE, "body": "Via the service"},
    "two media": {
        "to": CUSTOMER,
        "from_": SENDER,
        "body": "Pictures",
        "media_url": ["https://example.com/a.jpg", "https://example.com/b.png"],
    },
    "media only": {"to": CUSTOMER, "from_": SENDER, "media_url": ["https://example.com/a.jpg"]},
    "status callback": {"to": CUSTOMER, "from_": SENDER, "body": "Tracked", "status_callback": "https://status.example.com/twilio/status"},
    "validity period": {"to": CUSTOMER, "from_": SENDER, "body": "Expires", "validity_period": 600},
    "unicode body": {"to": CUSTOMER, "from_": SENDER, "body": "Grüße 👍"},
    "whatsapp": {"to": "whatsapp:" + CUSTOMER, "from_": "whatsapp:" + SENDER, "body": "Hola"},
}


class RecordingHttpClient(TwilioHttpClient):
    """A Twilio SDK http client that keeps each answer's status and headers, which the SDK
    does not expose; Prism reports what it let pass with a warning in `sl-violations`."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[int, dict[str, str]]] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = super().request(*args, **kwargs)
        self.answers.append((response.status_code, dict(response.headers or {})))
        return response


def violations(headers: Mapping[str, str]) -> list[Any]:
    """The violations Prism reported in an answer's `sl-violations` header (none: [])."""
    raw = next((value for name, value in headers.items() if name.lower() == "sl-violations"), None)
    found: list[Any] = json.loads(raw) if raw else []
    return found


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


def merged(specs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One spec serving the paths of all `specs` (the first's info and servers; each path
    keeps its own `servers`), as the sandbox serves api v2010 and Messaging v1 on one origin.
    Their paths and component names must not collide, and none does in Twilio's specs."""
    whole = copy.deepcopy(specs[0])
    for spec in specs[1:]:
        clash = set(whole["paths"]) & set(spec["paths"])
        assert not clash, f"paths in two specs: {sorted(clash)[:5]}"
        whole["paths"].update(spec["paths"])
        for kind, items in spec.get("components", {}).items():
            mine = whole.setdefault("components", {}).setdefault(kind, {})
            clash = {name for name in set(mine) & set(items) if mine[name] != items[name]}
            assert not clash, f"{kind} differing in two specs: {sorted(clash)[:5]}"
            mine.update(items)
    return whole


def write_prism_spec(source: Path | Sequence[Path], target: Path) -> Path:
    """Write the Prism-ready copy of the spec at `source` (several: merged) to `target`;
    returns `target`."""
    sources = [source] if isinstance(source, Path) else list(source)
    spec = merged([json.loads(path.read_text()) for path in sources])
    target.write_text(json.dumps(explicit_form_encoding(spec)))
    return target
