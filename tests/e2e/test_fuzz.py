"""Fuzz every endpoint of the running stack: whatever arrives, the answer is a 2xx or a 4xx
in the project's error shape, within 5 s, and every service is healthy afterwards.

Webhook forms are signed with Twilio's RequestValidator (most of them), so the fuzz reaches
the parsers behind the signature check. The outbound API's requests are drawn from its
OpenAPI description (services/outbound/openapi.yaml), then mixed with JSON of every type and
depth, and every answer is validated against the schema the description gives for it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.support.callbacks import status_callback
from tests.support.forms import encode, sign, sms
from tests.support.openapi import from_schema, response_schema, schema, validator
from tests.support.stack import RunningStack

T = TypeVar("T", bound=Callable[..., Any])

# make test draws a fixed set of examples (derandomize: the same every run, so a red build
# is the code's doing, never the draw's). `make fuzz` sets FUZZ_SEED to a fresh seed it
# prints, and FUZZ_SCALE to run that many times the examples; the seed replays a failure.
FUZZ_SEED = os.environ.get("FUZZ_SEED")
FUZZ_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))


def fuzz(examples: int = 50) -> Callable[[T], T]:
    """One fuzz test's settings: `examples` (small enough for make test, each is an HTTP
    round trip through chalice local), times FUZZ_SCALE, from FUZZ_SEED when one is set."""

    def apply(test: T) -> T:
        configured = settings(
            max_examples=examples * FUZZ_SCALE,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=FUZZ_SEED is None,
            database=None,
        )(test)
        return seed(int(FUZZ_SEED))(configured) if FUZZ_SEED is not None else configured

    return apply


ANSWER_SECONDS = 5.0
# A send with media_urls first probes each URL, within the media check's own bound
# (CHECK_SECONDS in services/outbound/chalicelib/media.py). A fuzzed host that does not
# exist costs a DNS lookup, and with no resolver answering that is a 5 s timeout here.
MEDIA_CHECK_SECONDS = 10.0
ERROR_KEYS = {"code", "message", "twilio_code", "retryable"}

# Text with what breaks parsers: NUL, controls, non-ASCII, astral characters, long runs.
nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "\x00", "\x00\x01\x7f", "²", "٣", "9" * 4301, "ẞ" * 300, "🚚" * 50, "javascript:alert(1)", "file:///etc/passwd"]),
)
TWILIO_NAMES = [
    "MessageSid",
    "SmsSid",
    "From",
    "To",
    "Body",
    "NumMedia",
    "NumSegments",
    "MediaUrl0",
    "MediaContentType0",
    "MessageStatus",
    "ErrorCode",
    "AccountSid",
    "MessagingServiceSid",
    "ChannelStatusMessage",
    "RawDlrDoneDate",
]
field_name = st.one_of(st.sampled_from(TWILIO_NAMES), st.text(max_size=12), st.just("MediaUrl" + "7" * 4301), st.just("MediaUrl\u0663"))
# What a count or an error code might be sent as: digits of every script, signs, spaces.
numberish = st.one_of(
    st.from_regex(r"\A[0-9]{1,12}\Z"),
    st.sampled_from(["\u00b2", "\u0663", "1\u00b9", "\uff11", "9" * 4301, " 7 ", "-1", "1e3", "0x10", "\x00"]),
)
field_value = st.one_of(nasty_text, numberish)
# URLs that break the parser rather than the fetch: brackets unclosed, misplaced or around
# no IPv6 address; ports that are no number, out of range, zero, or digits of another
# script. Hosts need no DNS, so a URL that does parse fails fast at the media probe.
hostile_urls = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https"]),
    st.sampled_from(["[::1", "::1]", "[::1]", "[v1.x]", "[127.0.0.1]", "127.0.0.1", "localhost", "[", "a]b"]),
    st.sampled_from(["", ":", ":0", ":99999", ":65536", ":abc", ":-1", ": 80", ":\u0663", ":\u00b2", ":" + "9" * 4301, ":1"]),
    st.sampled_from(["", "/", "/a.jpg", "/a?b=[", "#["]),
)
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=x",
    None,
    "",
    "application/x-www-form-urlencoded\x00",
]


def check_answer(response: requests.Response, seconds: float, limit: float = ANSWER_SECONDS) -> dict[str, Any] | None:
    """2xx, or 4xx with the JSON error shape; never slower than `limit`. The error, if any."""
    assert seconds < limit, f"answered in {seconds:.1f} s"
    assert response.status_code < 500, response.text[:300]
    if response.status_code < 400:
        return None
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert set(error) == ERROR_KEYS and error["code"] and error["message"]
    return dict(error)


def send(
    stack: RunningStack, method: str, service: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = stack.http.request(
        method, stack.url(service, path), data=body, headers=headers, timeout=ANSWER_SECONDS + MEDIA_CHECK_SECONDS + 5
    )
    return response, time.monotonic() - started


@st.composite
def webhook_requests(draw: Any, service: str) -> tuple[bytes, dict[str, str]]:
    """A form near a real one (fields replaced, repeated, added) or raw bytes, mostly signed."""
    base = sms() if service == "inbound" else status_callback(draw(st.sampled_from(["sent", "delivered", "failed", "x"])))
    pairs = list(base)
    mode = draw(st.sampled_from(["replace", "replace", "add", "repeat", "raw"]))
    for _ in range(draw(st.integers(1, 3))):
        if mode == "replace":  # one field of a real form changed: reaches the parser behind each check
            name = draw(st.sampled_from(TWILIO_NAMES) | st.sampled_from(sorted({k for k, _ in pairs})))
            pairs = [(k, v) for k, v in pairs if k != name] + [(name, draw(field_value))]
        elif mode == "add":
            pairs.append((draw(field_name), draw(field_value)))
        elif mode == "repeat":  # the same name twice, with the same or another value
            name, value = draw(st.sampled_from(pairs))
            pairs.append((name, draw(st.one_of(st.just(value), field_value))))
    url = f"{STACK_URLS[service]}/twilio/{service}"
    raw = draw(st.sampled_from([b"\xff\xfe=\xc3\x28", b"a=%ff%fe", b"\x00"]) | st.binary(max_size=200)) if mode == "raw" else None
    body = encode(pairs).encode() if raw is None else raw
    headers: dict[str, str] = {}
    content_type = CONTENT_TYPES[0] if draw(st.integers(0, 9)) > 0 else draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers["Content-Type"] = content_type
    if raw is None and draw(st.integers(0, 9)) > 0:
        headers["X-Twilio-Signature"] = sign(url, pairs, LOCAL_TOKEN)
    elif draw(st.booleans()):
        headers["X-Twilio-Signature"] = draw(st.text(alphabet="abcdefABCDEF0123456789+/=", max_size=40))
    return body, headers


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | nasty_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=20,
)


@st.composite
def send_bodies(draw: Any) -> bytes:
    """A request the description calls valid, one with a field broken, any JSON, or raw bytes."""
    valid = draw(from_schema(schema("SendRequest")))
    choice = draw(st.integers(0, 7))
    if choice == 0:
        return json.dumps(valid).encode()
    if choice == 1:
        name = draw(st.sampled_from(sorted(schema("SendRequest")["properties"])))
        return json.dumps({**valid, name: draw(json_values)}).encode()
    if choice == 2:
        return json.dumps(draw(json_values)).encode()
    if choice == 3:
        depth: int = draw(st.integers(1, 5000))
        return ('{"to": "+15005550010", "body": ' + "[" * depth + "]" * depth + "}").encode()
    if choice == 4:
        text: str = draw(st.sampled_from(["\ud800", "a\udfffb", "\x00"]))
        return json.dumps({**valid, "body": text}).encode("utf-8", "surrogatepass")
    if choice == 5:  # repeated keys, which json.dumps never writes
        name = draw(st.sampled_from(sorted(schema("SendRequest")["properties"])))
        return (json.dumps(valid)[:-1] + ("," if valid else "") + f' "{name}": {json.dumps(draw(json_values))}, "{name}": null}}').encode()
    if choice == 6:
        url: str = draw(hostile_urls)
        field = draw(st.sampled_from([{"media_urls": [url]}, {"status_callback": url}]))
        return json.dumps({**valid, "body": "x", **field}).encode()
    raw: bytes = draw(st.binary(max_size=200))
    return raw


LOCAL_TOKEN = "local-sandbox-auth-token-0000000"
STACK_URLS: dict[str, str] = {}


@pytest.fixture(autouse=True)
def stack_urls(stack: RunningStack) -> None:
    STACK_URLS.update({name: stack.url(name) for name in ("inbound", "status", "outbound")})


@pytest.mark.parametrize("service", ["inbound", "status"])
def test_fuzz_webhooks(stack: RunningStack, service: str) -> None:
    @fuzz()
    @given(webhook_requests(service))
    def run(request: tuple[bytes, dict[str, str]]) -> None:
        body, headers = request
        check_answer(*send(stack, "POST", service, f"/twilio/{service}", body, headers))

    run()


def test_fuzz_send(stack: RunningStack) -> None:
    @fuzz()
    @given(send_bodies(), st.sampled_from(["application/json"] * 8 + CONTENT_TYPES), st.one_of(st.none(), nasty_text))
    def run(body: bytes, content_type: str | None, key: str | None) -> None:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        if key is not None and key.isascii() and key.isprintable() and key.strip() == key:
            headers["Idempotency-Key"] = key
        check_send(stack, body, headers)

    run()


def test_fuzz_send_urls(stack: RunningStack) -> None:
    """Hostile URLs as media_urls or status_callback in an otherwise valid send: mixed into
    test_fuzz_send they are too rare for a fixed draw to meet every shape."""

    @fuzz()
    @given(hostile_urls, st.sampled_from(["media_urls", "status_callback"]))
    def run(url: str, field: str) -> None:
        body = {"to": "+15005550010", "body": "x", field: [url] if field == "media_urls" else url}
        check_send(stack, json.dumps(body).encode(), {"Content-Type": "application/json"})

    run()


def check_send(stack: RunningStack, body: bytes, headers: dict[str, str]) -> None:
    """POST /messages: a 2xx or 4xx in time, in the shape the description gives for it."""
    response, seconds = send(stack, "POST", "outbound", "/messages", body, headers)
    check_answer(response, seconds, ANSWER_SECONDS + (MEDIA_CHECK_SECONDS if b'"media_urls": ["' in body else 0))
    described = response_schema("/messages", "post", response.status_code)
    assert described is not None, f"the description lists no {response.status_code} for POST /messages"
    validator(described).validate(response.json())


def test_fuzz_read(stack: RunningStack) -> None:
    @fuzz()
    @given(st.one_of(from_schema(schema("MessageId")), nasty_text.filter(bool)))
    def run(sid: str) -> None:
        response, seconds = send(stack, "GET", "outbound", "/messages/" + quote(sid, safe=""), None, {})
        error = check_answer(response, seconds)
        if response.status_code == 404 and error is not None and error["code"] == "not_found":
            return  # a quoted "/" or "." segment no route matches: the gateway's own 404
        described = response_schema("/messages/{sid}", "get", response.status_code)
        assert described is not None, f"the description lists no {response.status_code} for GET /messages/{{sid}}"
        validator(described).validate(response.json())
        assert len(response.content) < 2000 or response.status_code == 200  # no echo of a huge id

    run()


def test_fuzz_media_read(stack: RunningStack) -> None:
    """GET /messages/{sid}/media/{n} with any n, sent as raw bytes: the server decodes the
    path as Latin-1, so a 0xb2 byte reaches the route as "²", which str.isdigit() accepts.
    Mostly of a stored message, so the index is read past the message's lookup."""
    sent = stack.http.post(stack.url("outbound", "/messages"), json={"to": "+15005550010", "body": "fuzz"}, timeout=30)
    assert sent.status_code == 202, sent.text[:300]
    sids = st.one_of(st.just(str(sent.json()["sid"])), from_schema(schema("MessageId")))
    index = st.one_of(numberish, nasty_text.filter(bool), st.text(alphabet="0123456789", min_size=4000, max_size=5000), st.just("1" * 3000))

    @fuzz()
    @given(sids, index)
    def run(sid: str, n: str) -> None:
        # A byte the request line cannot carry (a space, a control, past Latin-1) is quoted.
        raw = n if all(" " < c <= "\xff" and c not in "/?#%\x7f" for c in n) else quote(n, safe="")
        request = f"GET /messages/{sid}/media/{raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1")
        started = time.monotonic()
        status, body = stack.raw_exchange("outbound", request)
        assert time.monotonic() - started < ANSWER_SECONDS
        assert status < 500, body[:300]
        if status < 400:
            return  # a 307 to a stored copy: no body
        error = json.loads(body)["error"]
        assert set(error) == ERROR_KEYS and error["code"] and error["message"]
        if status == 404 and error["code"] == "not_found":
            return  # a path the gateway's own routes refuse
        described = response_schema("/messages/{sid}/media/{n}", "get", status)
        assert described is not None, f"the description lists no {status} for GET /messages/{{sid}}/media/{{n}}"
        validator(described).validate(json.loads(body))
        assert len(body) < 1000  # no echo of a huge index

    run()


def test_fuzz_local_worker(stack: RunningStack) -> None:
    @fuzz(15)
    @given(st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=50)))
    def run(body: bytes) -> None:
        check_answer(*send(stack, "POST", "outbound", "/_local/retry-failed", body, {"Content-Type": "application/json"}))

    run()


def test_fuzz_paths_and_methods(stack: RunningStack) -> None:
    """Any method on any path of any service: a route, a wrong method or no such endpoint."""
    known = ["/health", "/twilio/inbound", "/twilio/status", "/messages", "/messages/SM" + "0" * 32, "/_local/retry-failed"]
    segments = st.lists(nasty_text.map(lambda s: quote(s, safe="")), min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))

    @fuzz()
    @given(
        st.sampled_from(["inbound", "status", "outbound"]),
        st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
        st.one_of(st.sampled_from(known), segments),
    )
    def run(service: str, method: str, path: str) -> None:
        response, seconds = send(stack, method, service, path, b"{}", {"Content-Type": "application/json"})
        check_answer(response, seconds)

    run()


def test_every_service_is_healthy_after_the_fuzz(stack: RunningStack) -> None:
    for service in ("inbound", "status", "outbound"):
        assert stack.http.get(stack.url(service, "/health"), timeout=10).status_code == 200
