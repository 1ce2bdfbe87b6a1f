"""Outbound media: GET /messages/{sid}/media/{n} and the checks before a send."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
import pytest
from PIL import Image

from carrier_core.errors import CarrierError
from carrier_core.models import MediaItem, MessageModel
from carrier_core.settings import Settings
from tests.support.outbound import CUSTOMER, Outbound, media_env, outbound, outbound_module, twilio  # noqa: F401

AT = "2026-11-24T14:00:00.000Z"


def stored_message(sid: str, media: list[MediaItem]) -> None:
    MessageModel(sid, direction="inbound", status="received", media=media, created_at=AT, updated_at=AT).save()


def test_media_link_is_a_307_to_a_short_lived_copy(outbound: Outbound) -> None:
    settings = outbound.settings()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=settings.media_bucket)
    s3.put_object(Bucket=settings.media_bucket, Key="inbound/MM1/0", Body=b"%PDF-1.4")
    sid = "MM" + "1" * 32
    stored_message(
        sid,
        [
            MediaItem(
                url="https://api.twilio.com/x/ME1", status="stored", stored_url=f"s3://{settings.media_bucket}/inbound/MM1/0", size=8
            ),
            MediaItem(url="https://api.twilio.com/x/ME2", status="failed", error="http_404"),
            MediaItem(url="https://api.twilio.com/x/ME3", status="pending"),
        ],
    )
    response = outbound.client.http.get(f"/messages/{sid}/media/0")
    assert response.status_code == 307
    location = urlsplit(response.headers["Location"])
    assert location.path.endswith(f"{settings.media_bucket}/inbound/MM1/0") or str(location.hostname).startswith(settings.media_bucket)
    # SigV4 (S3 reads of SSE-KMS objects accept nothing else), valid for the setting's seconds.
    assert f"X-Amz-Expires={settings.media_link_seconds}" in location.query and "X-Amz-Signature=" in location.query
    # "\u00b2" (a raw 0xb2 byte as the server decodes a path) passes str.isdigit() and fails
    # int(); int() refuses 4,301 digits and more; and no index is ever echoed back whole.
    for index in ("1", "2", "3", "x", "\u00b2", "\u0663", "9" * 5000, "1" * 3000):
        missing = outbound.client.http.get(f"/messages/{sid}/media/{index}")
        body: dict[str, Any] = json.loads(missing.body)
        assert missing.status_code == 404 and body["error"]["code"] == "media_not_found", index[:20]
        assert body["error"]["message"] and len(missing.body) < 300, index[:20]
    unknown = outbound.client.http.get(f"/messages/MM{'2' * 32}/media/0")
    assert unknown.status_code == 404 and json.loads(unknown.body)["error"]["code"] == "message_not_found"


# ---------------------------------------------------------------------------------------
# The checks before a send: prepare_media against a local media server
# ---------------------------------------------------------------------------------------


class MediaServer(ThreadingHTTPServer):
    """Serves FILES by path; /nohead/... refuses HEAD (405) like some CDNs."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), MediaHandler)
        self.files: dict[str, tuple[str, bytes]] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class MediaHandler(BaseHTTPRequestHandler):
    def _file(self) -> tuple[str, bytes] | None:
        return cast(MediaServer, self.server).files.get(self.path.replace("/nohead", ""))

    def _redirect(self, found: tuple[str, bytes] | None) -> bool:
        if found is None or found[0] != "redirect":
            return False
        self.send_response(302)
        self.send_header("Location", found[1].decode())
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def do_HEAD(self) -> None:  # noqa: N802
        found = self._file()
        if self._redirect(found):
            return
        if self.path.startswith("/nohead") or found is None:
            self.send_response(405 if found else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", found[0])
        self.send_header("Content-Length", str(len(found[1])))
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        found = self._file()
        if self._redirect(found):
            return
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        ctype, data = found
        ranged = self.headers.get("Range")
        body = data[: int(ranged.rsplit("-", 1)[1]) + 1] if ranged else data
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if ranged:
            self.send_header("Content-Range", f"bytes 0-{len(body) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def media_server() -> Iterator[MediaServer]:
    server = MediaServer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    server.files.update(
        {
            "/a.webp": ("image/webp", image_bytes("WEBP", (640, 480))),
            "/big.png": ("image/png", noise_png(2000, 2000)),
            "/small.jpg": ("image/jpeg", image_bytes("JPEG", (32, 32))),
            "/card.pdf": ("application/pdf", b"%PDF-1.4\n" + b"0" * 2000),
            "/big.pdf": ("application/pdf", b"%PDF-1.4\n" + b"0" * 600_000),
            "/a.zip": ("application/zip", b"PK\x03\x04" + b"0" * 100),
            "/mislabelled": ("application/octet-stream", image_bytes("BMP", (40, 30))),
        }
    )
    yield server
    server.shutdown()
    server.server_close()


def image_bytes(fmt: str, size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 160, 90)).save(out, fmt)
    return out.getvalue()


def noise_png(width: int, height: int) -> bytes:
    """Random pixels: a PNG that does not compress, about 3 bytes a pixel."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), random.Random(7).randbytes(width * height * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


def prepare(urls: list[str], settings: Settings, s3: Any) -> Any:
    # The service's own S3 client (SigV4 links); `s3` reads what it stored.
    return outbound_module("media").prepare_media(tuple(urls), settings)


def test_webp_and_a_12_mb_png_are_sent_as_jpegs_within_5_mb(media_server: MediaServer, media_env: tuple[Settings, Any]) -> None:
    settings, s3 = media_env
    assert len(media_server.files["/big.png"][1]) > 11 * 1024 * 1024
    urls = [media_server.url("/a.webp"), media_server.url("/big.png"), media_server.url("/small.jpg"), media_server.url("/nohead/card.pdf")]
    prepared = prepare(urls, settings, s3)
    webp, png, jpg, pdf = prepared.items
    total = 0
    for item, original in ((webp, "image/webp"), (png, "image/png")):
        assert (item.content_type, item.sent_content_type) == (original, "image/jpeg")
        bucket, key = item.stored_url.removeprefix("s3://").split("/", 1)
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert data[:3] == b"\xff\xd8\xff" and len(data) == item.sent_size <= 5 * 1024 * 1024
        assert hashlib.sha256(data).hexdigest() == item.sha256 and "X-Amz-Signature=" in item.sent_url
        total += len(data)
    assert (jpg.sent_url, jpg.content_type, jpg.stored_url) == (urls[2], "image/jpeg", None)
    assert (pdf.sent_url, pdf.content_type, pdf.size) == (urls[3], "application/pdf", 2009)  # HEAD refused: ranged GET
    assert total + jpg.size + pdf.size <= 5 * 1024 * 1024
    stored = webp.item()
    assert (stored.url, stored.status, stored.sent_content_type) == (urls[0], "stored", "image/jpeg")


def test_a_mislabelled_bmp_is_sniffed_and_converted(media_server: MediaServer, media_env: tuple[Settings, Any]) -> None:
    [item] = prepare([media_server.url("/mislabelled")], *media_env).items
    assert (item.content_type, item.sent_content_type) == ("image/bmp", "image/jpeg")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/a.zip", "unsupported_media_type"),
        ("/big.pdf", "media_too_large"),
        ("/missing.jpg", "media_unreachable"),
    ],
)
def test_media_that_cannot_go_is_refused_with_its_code(
    path: str, code: str, media_server: MediaServer, media_env: tuple[Settings, Any]
) -> None:
    with pytest.raises(CarrierError) as raised:
        prepare([media_server.url("/small.jpg"), media_server.url(path)], *media_env)
    assert (raised.value.code, raised.value.http_status) == (code, 400)


def test_unreachable_host_is_media_unreachable(media_env: tuple[Settings, Any]) -> None:
    with pytest.raises(CarrierError) as raised:
        prepare(["http://127.0.0.1:9/nothing.jpg"], *media_env)
    assert raised.value.code == "media_unreachable"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/a.jpg",
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "https://localhost/a.jpg",
        "https://10.0.0.8/a.jpg",
        "https://[::1]/a.jpg",
        "https://[::ffff:169.254.169.254]/a.jpg",
        "https://[64:ff9b::a9fe:a9fe]/a.jpg",  # NAT64 of 169.254.169.254
        "https://[64:ff9b::a00:8]/a.jpg",  # NAT64 of 10.0.0.8
        "https://[64:ff9b:1:a9fe:a9:fe00::]/a.jpg",  # local-use NAT64 (RFC 8215), /48 layout
        "https://[2002:a9fe:a9fe::1]/a.jpg",  # 6to4 of 169.254.169.254
        "https://[2002:7f00:1::1]/a.jpg",  # 6to4 of 127.0.0.1
        "https://[::a9fe:a9fe]/a.jpg",  # IPv4-compatible 169.254.169.254
        "https://[::7f00:1]/a.jpg",  # IPv4-compatible 127.0.0.1
        "https://[fec0::1]/a.jpg",  # site-local
    ],
)
def test_the_ssrf_guard_refuses_private_addresses_before_connecting(url: str, media_env: tuple[Settings, Any]) -> None:
    settings, s3 = media_env
    with pytest.raises(CarrierError) as raised:
        prepare([url], replace(settings, ssrf_guard=True), s3)
    assert raised.value.code == "media_url_forbidden"


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2001:4860:4860::8888", "8.8.8.8"])
def test_the_ssrf_guard_lets_public_addresses_through_whatever_their_form(address: str) -> None:
    assert outbound_module("media").forbidden(address) is False


def test_every_redirect_hop_is_checked(media_server: MediaServer, media_env: tuple[Settings, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    media = outbound_module("media")
    settings, s3 = media_env
    real_forbidden = media.forbidden
    # The media server (127.0.0.1) stands in for a public host; where it redirects is checked again.
    monkeypatch.setattr(media, "forbidden", lambda address: address != "127.0.0.1" and real_forbidden(address))
    media_server.files["/hop"] = ("redirect", b"http://169.254.169.254/latest/meta-data/")
    guarded = replace(settings, ssrf_guard=True)
    assert media.prepare_media((media_server.url("/small.jpg"),), guarded, s3=s3).items[0].content_type == "image/jpeg"
    with pytest.raises(CarrierError) as raised:
        media.prepare_media((media_server.url("/hop"),), guarded, s3=s3)
    assert raised.value.code == "media_url_forbidden"


@pytest.mark.parametrize("location", [b"http://[::1/a.jpg", b"http://127.0.0.1:99999/a.jpg", b"http://127.0.0.1:abc/a.jpg"])
def test_a_redirect_to_an_unparsable_url_is_unreachable(
    location: bytes, media_server: MediaServer, media_env: tuple[Settings, Any]
) -> None:
    settings, s3 = media_env
    media_server.files["/badhop"] = ("redirect", location)
    with pytest.raises(CarrierError) as raised:
        outbound_module("media").prepare_media((media_server.url("/badhop"),), settings, s3=s3)
    assert raised.value.code == "media_unreachable" and "99999" not in raised.value.message


def test_a_send_with_forbidden_media_reaches_no_twilio(outbound: Outbound) -> None:
    """The app in a deployed-like stage: the guard is on by default."""
    assert outbound.settings().ssrf_guard is True
    for url in ("https://127.0.0.1/a.jpg", "https://169.254.169.254/latest/meta-data/"):
        response = outbound.post({"to": CUSTOMER, "body": "look", "media_urls": [url]})
        assert response.status_code == 400 and json.loads(response.body)["error"]["code"] == "media_url_forbidden"
    assert outbound.twilio.requests == []


def test_a_server_that_never_answers_is_unreachable_within_the_budget(
    media_env: tuple[Settings, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    media = outbound_module("media")
    monkeypatch.setattr(media, "CHECK_SECONDS", 1.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # connections complete in the backlog; nothing ever answers
    started = time.monotonic()
    try:
        with pytest.raises(CarrierError) as raised:
            media.prepare_media((f"http://127.0.0.1:{silent.getsockname()[1]}/a.jpg",), media_env[0], s3=media_env[1])
    finally:
        silent.close()
    assert raised.value.code == "media_unreachable" and time.monotonic() - started < 3


def test_a_retried_send_keeps_the_callers_url_and_converts_again(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    from carrier_core.models import FailedMessageModel

    media = importlib.import_module("chalicelib.media")  # the app's own, imported on its first send with media
    webp = image_bytes("WEBP", (64, 48))
    monkeypatch.setattr(media, "probe", lambda url, settings, deadline: media.Probed(url, "image/webp", len(webp)))
    monkeypatch.setattr(media, "download", lambda url, settings, deadline, limit: webp)
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=outbound.settings().media_bucket)
    url = "https://example.com/a.webp"
    outbound.twilio.fail(500, count=-1)
    response = outbound.post({"to": CUSTOMER, "body": "later", "media_urls": [url]})
    retry_id = json.loads(response.body)["sid"]
    sent = [dict(pairs)["MediaUrl"] for pairs in outbound.twilio.requests]
    assert sent and all(link != url and "X-Amz-Signature=" in link for link in sent)
    # Stored for the worker: the caller's URL, not a link that expires and carries a signature.
    assert FailedMessageModel.get(retry_id).request.as_dict()["media_urls"] == [url]
    outbound.twilio.clear()
    worker = importlib.import_module("chalicelib.worker")
    report = worker.retry_due(outbound.settings(), outbound.app.policy, lambda: 60.0, now=time.time() + 3600).as_dict()
    assert report["sent"] == [retry_id]
    [pairs] = outbound.twilio.requests
    assert dict(pairs)["MediaUrl"].startswith(f"https://{outbound.settings().media_bucket}.s3.")
    message = MessageModel.get(FailedMessageModel.get(retry_id).message_sid)
    assert [(m.url, m.content_type, m.sent_content_type, m.status) for m in message.media] == [(url, "image/webp", "image/jpeg", "stored")]
