"""Media end to end: inbound items hosted by the sandbox, copied to the bucket by the stack's
media worker, read back through GET /messages/{sid}/media/{n}; the hand-off waits for them."""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from devstack import aws
from tests.support.forms import mms, new_sid, replace
from tests.support.hostile import Reply, hostile_server
from tests.support.outbound_stack import post_message, sandbox_requests
from tests.support.stack import RunningStack, wait_for

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def image_bytes(fmt: str, size: tuple[int, int] = (16, 12)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 220)).save(out, fmt)
    return out.getvalue()


def host(stack: RunningStack, sid: str, data: bytes, content_type: str, query: str = "") -> str:
    response = stack.http.post(
        stack.url("sandbox", f"/_sandbox/media?message_sid={sid}{query}"), data=data, headers={"Content-Type": content_type}, timeout=10
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def inbound_mms(stack: RunningStack, sid: str, items: list[tuple[str, str]]) -> None:
    form = [(k, v) for k, v in mms(count=len(items), sid=sid) if not k.startswith("Media")]
    for i, (url, content_type) in enumerate(items):
        form += [(f"MediaContentType{i}", content_type), (f"MediaUrl{i}", url)]
    stack.start_count()  # earlier sends' callbacks must not mix into the count
    assert stack.post_webhook("inbound", replace(form, NumMedia=str(len(items)))).status_code == 200
    assert stack.dynamodb_requests().get("DynamoDB_20120810.PutItem") == 1


def finished(stack: RunningStack, sid: str) -> dict[str, Any] | None:
    message: dict[str, Any] = stack.get_message(sid).json()
    return message if all(m["status"] != "pending" for m in message["media"]) else None


class EventLog:
    """Every event the events queue delivered while this module ran (the queue is shared:
    each is read once, kept here, and picked by SID)."""

    def __init__(self, stack: RunningStack) -> None:
        self.sqs = stack.aws_client("sqs")
        self.url = self.sqs.get_queue_url(QueueName=aws.EVENTS_QUEUE)["QueueUrl"]
        self.events: list[dict[str, Any]] = []

    def of_sid(self, sid: str) -> list[dict[str, Any]]:
        while messages := self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            for message in messages:
                self.events.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in self.events if e["detail"].get("sid") == sid]


@pytest.fixture(scope="module")
def event_log(stack: RunningStack) -> EventLog:
    return EventLog(stack)


def test_jpeg_png_and_pdf_are_stored_with_their_sniffed_types_and_readable(stack: RunningStack, event_log: EventLog) -> None:
    sid = new_sid("MM")
    files = [
        (image_bytes("JPEG"), "image/jpeg", "image/jpeg"),
        (image_bytes("PNG"), "image/png", "image/png"),
        (PDF, "application/octet-stream", "application/pdf"),
    ]
    inbound_mms(stack, sid, [(host(stack, sid, data, header), header) for data, header, _ in files])
    message = wait_for(lambda: finished(stack, sid), timeout=20)
    assert message, "the media worker did not finish the message"
    # The worker's one update is counted as the stream function's, not as a service's.
    raw = stack.http.get(stack.url("dynamodb", "/_devstack/requests"), timeout=10).json()
    assert raw.get("Worker.DynamoDB_20120810.UpdateItem", 0) >= 1
    s3 = stack.aws_client("s3")
    for n, ((data, header, sniffed), item) in enumerate(zip(files, message["media"])):
        digest = hashlib.sha256(data).hexdigest()
        assert (item["status"], item["sha256"], item["size"], item["sniffed_content_type"], item["content_type"]) == (
            "stored",
            digest,
            len(data),
            sniffed,
            header,
        )
        key = item["stored_url"].removeprefix(f"s3://{aws.MEDIA_BUCKET}/")
        stored = s3.get_object(Bucket=aws.MEDIA_BUCKET, Key=key)
        assert stored["Body"].read() == data and stored["ContentType"] == sniffed
        link = stack.http.get(stack.url("outbound", f"/messages/{sid}/media/{n}"), allow_redirects=False, timeout=10)
        assert link.status_code == 307
        copy = requests.get(link.headers["Location"], timeout=10)
        assert copy.status_code == 200 and hashlib.sha256(copy.content).hexdigest() == digest
    missing = stack.http.get(stack.url("outbound", f"/messages/{sid}/media/3"), allow_redirects=False, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "media_not_found"
    events = wait_for(lambda: event_log.of_sid(sid), timeout=30)
    assert [e["detail-type"] for e in events] == ["message.received"]
    assert [m["status"] for m in events[0]["detail"]["media"]] == ["stored"] * 3


def test_a_404_item_is_failed_and_the_message_is_still_handed_off(stack: RunningStack, event_log: EventLog) -> None:
    sid = new_sid("MM")
    inbound_mms(
        stack,
        sid,
        [
            (host(stack, sid, PDF, "application/pdf"), "application/pdf"),
            (host(stack, sid, PDF, "application/pdf", "&not_ready=-1"), "application/pdf"),
        ],
    )
    message = wait_for(lambda: finished(stack, sid), timeout=20)
    assert message and [m["status"] for m in message["media"]] == ["stored", "failed"]
    failed = stack.http.get(stack.url("outbound", f"/messages/{sid}/media/1"), allow_redirects=False, timeout=10)
    assert failed.status_code == 404 and failed.json()["error"]["code"] == "media_not_found"
    events = wait_for(lambda: event_log.of_sid(sid), timeout=30)
    assert [e["detail-type"] for e in events] == ["message.received"]
    assert [m["status"] for m in events[0]["detail"]["media"]] == ["stored", "failed"]
    time.sleep(1)  # a second event, were there one, would come right after the first
    assert len(event_log.of_sid(sid)) == 1  # exactly one


@pytest.fixture(autouse=True)
def _no_credentials_in_logs(stack: RunningStack) -> Any:
    yield
    from carrier_core.settings import LOCAL_AUTH_TOKEN

    assert LOCAL_AUTH_TOKEN not in stack.log_text()


# ---------------------------------------------------------------------------------------
# Outbound: media checked and converted before the sandbox (Twilio) sees them
# ---------------------------------------------------------------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def media_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A plain static site on 127.0.0.1 (the local stage has the SSRF guard off)."""
    root = tmp_path_factory.mktemp("site")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_webp_and_a_12_mb_png_are_sent_to_twilio_as_jpegs_within_5_mb(stack: RunningStack, media_site: tuple[str, Path]) -> None:
    base, root = media_site
    (root / "photo.webp").write_bytes(image_bytes("WEBP", (800, 600)))
    noise = Image.frombytes("RGB", (2000, 2000), random.Random(3).randbytes(2000 * 2000 * 3))
    noise.save(root / "huge.png", "PNG", compress_level=1)
    assert (root / "huge.png").stat().st_size > 11 * 1024 * 1024
    stack.http.delete(stack.url("sandbox", "/_sandbox/requests"), timeout=10)
    urls = [f"{base}/photo.webp", f"{base}/huge.png"]
    response = post_message(stack, {"to": "+15005550010", "body": "your photos", "media_urls": urls})
    assert response.status_code == 202, response.text
    media = response.json()["media"]
    assert [(m["url"], m["content_type"], m["sent_content_type"], m["status"]) for m in media] == [
        (urls[0], "image/webp", "image/jpeg", "stored"),
        (urls[1], "image/png", "image/jpeg", "stored"),
    ]
    [sent] = [r for r in sandbox_requests(stack) if r.get("Body") == "your photos"]
    links = sent["MediaUrl"]
    assert len(links) == 2 and not set(links) & set(urls)
    total = 0
    for link, item in zip(links, media):
        copy = requests.get(link, timeout=10)
        assert copy.status_code == 200 and copy.content[:3] == b"\xff\xd8\xff"
        assert hashlib.sha256(copy.content).hexdigest() == item["sha256"] and len(copy.content) == item["size"]
        total += len(copy.content)
    assert total <= 5 * 1024 * 1024
    again = stack.get_message(response.json()["sid"]).json()
    assert [m["sent_content_type"] for m in again["media"]] == ["image/jpeg", "image/jpeg"]


def test_unsupported_or_unreachable_media_sends_nothing(stack: RunningStack, media_site: tuple[str, Path]) -> None:
    base, root = media_site
    (root / "archive.zip").write_bytes(b"PK\x03\x04" + b"0" * 64)
    stack.http.delete(stack.url("sandbox", "/_sandbox/requests"), timeout=10)
    for url, code in ((f"{base}/archive.zip", "unsupported_media_type"), (f"{base}/missing.jpg", "media_unreachable")):
        response = post_message(stack, {"to": "+15005550010", "media_urls": [url]})
        assert response.status_code == 400 and response.json()["error"]["code"] == code
    assert sandbox_requests(stack) == []


def test_a_trickling_media_server_holds_up_no_other_message_past_its_deadline(stack: RunningStack, event_log: EventLog) -> None:
    """A server sending a byte every 2 s once held the next MMS's message.received back for
    as long as its body took; now its item fails at the deadline (10 s) and the other goes on."""
    with hostile_server() as trickle:
        slow_url = trickle.serve("/slow.pdf", Reply(PDF[:30], trickle_seconds=2.0))  # 60 s for the body
        slow_sid, fine_sid = new_sid("MM"), new_sid("MM")
        inbound_mms(stack, slow_sid, [(slow_url, "application/pdf")])
        posted = time.monotonic()
        inbound_mms(stack, fine_sid, [(host(stack, fine_sid, PDF, "application/pdf"), "application/pdf")])
        events = wait_for(lambda: event_log.of_sid(fine_sid), timeout=40)
        delay = time.monotonic() - posted
        print(f"message.received of the other MMS after {delay:.1f} s")
        assert [m["status"] for m in events[0]["detail"]["media"]] == ["stored"]
        assert delay < 20, delay
        slow = wait_for(lambda: event_log.of_sid(slow_sid), timeout=30)
        assert [m["status"] for m in slow[0]["detail"]["media"]] == ["failed"]  # handed off all the same
        stored = stack.table().get_item(Key={"sid": slow_sid}, ConsistentRead=True)["Item"]
        assert [m.get("error") for m in stored["media"]] == ["timeout"]
