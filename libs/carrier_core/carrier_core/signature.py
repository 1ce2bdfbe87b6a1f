"""Twilio webhook signatures (X-Twilio-Signature), without the Twilio SDK.

The algorithm is Twilio's https://www.twilio.com/docs/usage/security#validating-requests:
HMAC-SHA1 over the full URL followed by each POST parameter name and value, names sorted,
keyed with the auth token. A webhook signed with a SharedKey instead carries
X-Twilio-Webhooks-Signature-Settings (`key=<id>,algorithm=HMAC_SHA256`): the same payload,
keyed with the SharedKey's secret, hashed with the algorithm it names.
It must agree with twilio.request_validator.RequestValidator to the byte, which the tests
prove with that class as the oracle; keeping the SDK out of inbound and status saves most of
their package size and cold start.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from carrier_core.errors import InvalidSignature

FormPairs = Sequence[tuple[str, str]]

HMAC_SHA1 = "HMAC_SHA1"
HMAC_SHA256 = "HMAC_SHA256"
HASHES = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm X-Twilio-Webhooks-Signature-Settings names; HMAC_SHA1 when it names none.

    Parsed as RequestValidator's get_signature_algorithm does: comma-separated `name=value`.
    """
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def compute_signature(token: str, url: str, params: FormPairs, algorithm: str = HMAC_SHA1) -> str:
    """The signature Twilio sends for `params` posted to `url` and signed with `token`."""
    return _sign(token, url + signed_params(params), algorithm)


def signed_params(params: FormPairs) -> str:
    """The part of the signed text that follows the URL: each name and value, sorted."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    # RequestValidator sorts names and values, each once: a repeated identical pair counts once.
    return "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def _sign(token: str, payload: str, algorithm: str) -> str:
    digest = hmac.new(token.encode("utf-8"), payload.encode("utf-8"), HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


@functools.lru_cache(maxsize=64)
def url_variants(url: str) -> tuple[str, str]:
    """The URL without and with its explicit port.

    Twilio signs the URL as configured, and its back end is inconsistent about the
    default port (https://www.twilio.com/docs/usage/webhooks/webhooks-security), so
    both forms are tried, like RequestValidator does.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    without_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}")) if parts.port else url
    with_port = url if parts.port else urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}"))
    return without_port, with_port


def validate_signature(
    tokens: Iterable[str],
    url: str,
    params: FormPairs,
    signature: str | None,
    raw_body: bytes | None = None,
    algorithm: str = HMAC_SHA1,
) -> None:
    """Raise InvalidSignature unless `signature` was made by one of `tokens`.

    `url` is the public URL Twilio was configured with, never one rebuilt from the Host
    header a proxy hands us. For JSON webhooks the URL carries `bodySHA256`, the body's
    hex SHA-256, the form parameters are empty and `raw_body` must match the hash.
    """
    if not signature:
        raise InvalidSignature("X-Twilio-Signature header is missing")
    if algorithm not in HASHES:
        raise InvalidSignature(f"signature algorithm is not one of {', '.join(HASHES)}")
    declared_hash = _body_sha256(url)
    if declared_hash is not None:
        body_hash = hashlib.sha256(raw_body or b"").hexdigest()
        if not hmac.compare_digest(body_hash, declared_hash):
            raise InvalidSignature("request body does not match bodySHA256")
        params = ()
    expected = signature.strip().encode("utf-8")
    suffix = signed_params(params)
    matched = False
    for token in tokens:
        for candidate in url_variants(url):
            # Every combination is computed, so timing does not reveal which token matched.
            matched |= hmac.compare_digest(_sign(token, candidate + suffix, algorithm).encode("ascii"), expected)
    if not matched:
        raise InvalidSignature("X-Twilio-Signature does not match the request")


@functools.lru_cache(maxsize=64)
def _body_sha256(url: str) -> str | None:
    """The bodySHA256 a JSON webhook's URL declares, or None (a form webhook's has none)."""
    declared = parse_qs(urlsplit(url).query).get("bodySHA256")
    return declared[0] if declared else None
