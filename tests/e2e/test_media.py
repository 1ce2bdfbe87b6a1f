"""Media end to end: inbound items hosted by the sandbox, copied to the bucket by the stack's
media worker, read back through GET /messages/{sid}/media/{n}; the hand-off waits for them."""
from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
import requests
from PIL import Image

from devstack import aws
from tests.support.forms import mms, new_sid, replace
from tests.support.stack import RunningStack, wait_for

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def image_bytes(fmt: str, size: tuple[int, int] = (16, 12)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 220)).save(out, fmt)
    return out.getvalue()


def host(stack: RunningStack, sid: str, data: bytes, content_type: str, query: str = "") -> str:
    response = stack.http.post(stack.url("sandbox", f"/_sandbox/media?message_sid={sid}{query}"), data=data, headers={"Content-Type": content_type}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def inbound_mms(stack: RunningStack, sid: str, items: list[tuple[str, str]]) -> None:
    form = [(k, v) for k, v in mms(count=len(items), sid=sid) if not k.startswith("Media")]
    for i, (url, content_type) in enumerate(items):
        form += [(f"MediaContentType{i}", content_type), (f"MediaUrl{i}", url)]
    stack.dynamodb_requests(reset=True)
    assert stack.post_webhook("inbound", replace(form, NumMedia=str(len(items)))).status_code == 200
    assert stack.dynamodb_requests().get("DynamoDB_20120810.PutItem") == 1


def finished(stack: RunningStack, sid: str) -> dict[str, Any] | None:
    message: dict[str, Any] = stack.get_message(sid).json()
    return message if all(m["status"] != "pending" for m in message["media"]) else None


def received_events(stack: RunningStack, sid: str) -> list[dict[str, Any]]:
    sqs = stack.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=aws.EVENTS_QUEUE)["QueueUrl"]
    found: list[dict[str, Any]] = []
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            break
        for message in messages:
            event = json.loads(message["Body"])
            if event["detail"].get("sid") == sid:
                found.append(event)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:  # another test's: back on the queue at once
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return found


def test_jpeg_png_and_pdf_are_stored_with_their_sniffed_types_and_readable(stack: RunningStack) -> None:
    sid = new_sid("MM")
    files = [(image_bytes("JPEG"), "image/jpeg", "image/jpeg"), (image_bytes("PNG"), "image/png", "image/png"), (PDF, "application/octet-stream", "application/pdf")]
    inbound_mms(stack, sid, [(host(stack, sid, data, header), header) for data, header, _ in files])
    message = wait_for(lambda: finished(stack, sid), timeout=20)
    assert message, "the media worker did not finish the message"
    s3 = stack.aws_client("s3")
    for n, ((data, header, sniffed), item) in enumerate(zip(files, message["media"])):
        digest = hashlib.sha256(data).hexdigest()
        assert (item["status"], item["sha256"], item["size"], item["sniffed_content_type"], item["content_type"]) == ("stored", digest, len(data), sniffed, header)
        key = item["stored_url"].removeprefix(f"s3://{aws.MEDIA_BUCKET}/")
        stored = s3.get_object(Bucket=aws.MEDIA_BUCKET, Key=key)
        assert stored["Body"].read() == data and stored["ContentType"] == sniffed
        link = stack.http.get(stack.url("outbound", f"/messages/{sid}/media/{n}"), allow_redirects=False, timeout=10)
        assert link.status_code == 307
        copy = requests.get(link.headers["Location"], timeout=10)
        assert copy.status_code == 200 and hashlib.sha256(copy.content).hexdigest() == digest
    missing = stack.http.get(stack.url("outbound", f"/messages/{sid}/media/3"), allow_redirects=False, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "media_not_found"
    events = wait_for(lambda: received_events(stack, sid), timeout=15)
    assert [e["detail-type"] for e in events] == ["message.received"]
    assert [m["status"] for m in events[0]["detail"]["media"]] == ["stored"] * 3


def test_a_404_item_is_failed_and_the_message_is_still_handed_off(stack: RunningStack) -> None:
    sid = new_sid("MM")
    inbound_mms(stack, sid, [(host(stack, sid, PDF, "application/pdf"), "application/pdf"), (host(stack, sid, PDF, "application/pdf", "&not_ready=-1"), "application/pdf")])
    message = wait_for(lambda: finished(stack, sid), timeout=20)
    assert message and [m["status"] for m in message["media"]] == ["stored", "failed"]
    failed = stack.http.get(stack.url("outbound", f"/messages/{sid}/media/1"), allow_redirects=False, timeout=10)
    assert failed.status_code == 404 and failed.json()["error"]["code"] == "media_not_found"
    events = wait_for(lambda: received_events(stack, sid), timeout=15)
    assert [e["detail-type"] for e in events] == ["message.received"]
    assert [m["status"] for m in events[0]["detail"]["media"]] == ["stored", "failed"]
    assert received_events(stack, sid) == []  # exactly one


@pytest.fixture(autouse=True)
def _no_credentials_in_logs(stack: RunningStack) -> Any:
    yield
    from carrier_core.settings import LOCAL_AUTH_TOKEN

    assert LOCAL_AUTH_TOKEN not in stack.log_text()
