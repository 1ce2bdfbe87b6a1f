"""Inbound media re-host: the sandbox's URLs in, the bucket and one conditional update out."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
import requests
from PIL import Image

from carrier_core.handoff.events import EventType, derive
from carrier_core.stream.records import StreamRecord
from carrier_core.media.fetch import Fetched, FetchFailed
from carrier_core.media.rehost import MediaRehost
from carrier_core.media.sniff import sniff
from carrier_core.models import MessageModel
from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN, Settings
from devstack.sandbox import SandboxServer
from tests.support.callbacks import MOTO_ENDPOINT, moto_messages_table
from tests.support.forms import new_sid
from tests.support.handoff import stream_record
from tests.support.hostile import HostileServer, Reply, hostile_server
from tests.support.sandbox import running_sandbox

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
AT = "2026-11-24T14:00:00.000Z"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/omni-twilio-local-messages/stream/2026-11-24T00:00:00.000"


def record(new: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
    return stream_record(new, old, arn=ARN)


def image_bytes(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    yield from running_sandbox()


@pytest.fixture
def aws(sandbox: SandboxServer) -> Iterator[tuple[Settings, Any]]:
    with moto_messages_table():
        s3 = boto3.client("s3", region_name="us-east-1")
        env = {
            "STAGE": "local",
            "DYNAMODB_ENDPOINT": MOTO_ENDPOINT,
            "INBOUND_WEBHOOK_URL": "http://x/twilio/inbound",
            "TWILIO_API_BASE_URL": sandbox.url,
            "MEDIA_NOT_READY_SECONDS": "1",
        }
        settings = Settings.from_env("inbound", environ=env)
        s3.create_bucket(Bucket=settings.media_bucket)
        yield settings, s3


def host(sandbox: SandboxServer, sid: str, data: bytes, content_type: str, query: str = "") -> str:
    response = requests.post(
        f"{sandbox.url}/_sandbox/media?message_sid={sid}{query}", data=data, headers={"Content-Type": content_type}, timeout=5
    )
    return str(response.json()["url"])


def store_inbound(sid: str, media: list[dict[str, Any]]) -> dict[str, Any]:
    item = {
        "sid": sid,
        "direction": "inbound",
        "channel": "mms",
        "status": "received",
        "status_rank": 0,
        "created_at": AT,
        "updated_at": AT,
        "media": media,
    }
    table = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=MOTO_ENDPOINT).Table(MessageModel.Meta.table_name)
    table.put_item(Item=item)
    return item


def current(sid: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name="us-east-1", endpoint_url=MOTO_ENDPOINT).Table(MessageModel.Meta.table_name)
    item: dict[str, Any] = table.get_item(Key={"sid": sid}, ConsistentRead=True)["Item"]
    return item


def test_each_item_is_stored_with_its_sniffed_type_and_hash(sandbox: SandboxServer, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    sid = new_sid("MM")
    files = [(image_bytes("JPEG"), "image/jpeg"), (image_bytes("PNG"), "application/octet-stream"), (PDF, "application/pdf")]
    media = [{"url": host(sandbox, sid, data, ctype), "content_type": ctype, "status": "pending"} for data, ctype in files]
    inserted = store_inbound(sid, media)
    outcome = MediaRehost(settings, s3=s3).handle([record(inserted)])
    assert outcome.failed_sequence is None
    stored = current(sid)
    for index, ((data, header), item) in enumerate(zip(files, stored["media"])):
        assert item["status"] == "stored" and item["sha256"] == hashlib.sha256(data).hexdigest() and int(item["size"]) == len(data)
        assert item["content_type"] == header and item["sniffed_content_type"] == sniff(data)
        assert item["stored_url"] == f"s3://{settings.media_bucket}/inbound/{sid}/{index}"
        body = s3.get_object(Bucket=settings.media_bucket, Key=f"inbound/{sid}/{index}")
        assert body["Body"].read() == data and body["ContentType"] == sniff(data)
    assert [i["sniffed_content_type"] for i in stored["media"]] == ["image/jpeg", "image/png", "application/pdf"]
    # The finishing update is the hand-off's message.received; the insert was none.
    assert derive(StreamRecord.from_lambda(record(inserted)), settings.messages_table, settings.optouts_table) == []
    [received] = derive(StreamRecord.from_lambda(record(_plain(stored), inserted)), settings.messages_table, settings.optouts_table)
    assert received.type is EventType.MESSAGE_RECEIVED and received.detail["media"][2]["status"] == "stored"
    # Run again (a redelivered record): the condition refuses, nothing is written twice.
    MediaRehost(settings, s3=s3).handle([record(inserted)])
    assert current(sid)["updated_at"] == stored["updated_at"]


def test_a_404_item_fails_after_the_wait_and_the_others_are_stored(sandbox: SandboxServer, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    sid = new_sid("MM")
    good, gone = host(sandbox, sid, PDF, "application/pdf"), host(sandbox, sid, PDF, "application/pdf", "&not_ready=-1")
    late = host(sandbox, sid, PDF, "application/pdf", "&not_ready=1")
    inserted = store_inbound(sid, [{"url": u, "content_type": "application/pdf", "status": "pending"} for u in (good, gone, late)])
    MediaRehost(settings, s3=s3).handle([record(inserted)])
    assert [(m["status"], m.get("error")) for m in current(sid)["media"]] == [("stored", None), ("failed", "http_404"), ("stored", None)]
    listed = {m["sid"]: m["gets"] for m in requests.get(sandbox.url + "/_sandbox/media", timeout=5).json()}
    assert listed[gone.rsplit("/", 1)[1]] >= 2  # tried again before giving up


def test_credentials_go_only_to_twilio_and_the_copy_is_deleted_when_asked(sandbox: SandboxServer, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    sid = new_sid("MM")
    url = host(sandbox, sid, PDF, "application/pdf")
    inserted = store_inbound(sid, [{"url": url, "content_type": "application/pdf", "status": "pending"}])
    stranger = replace(settings, twilio_api_base_url="https://elsewhere.example")
    MediaRehost(stranger, s3=s3).rehost(inserted, [0])
    assert current(sid)["media"][0]["error"] == "http_401"  # no credentials: the sandbox refused
    sid2 = new_sid("MM")
    url2 = host(sandbox, sid2, PDF, "application/pdf")
    inserted2 = store_inbound(sid2, [{"url": url2, "content_type": "application/pdf", "status": "pending"}])
    MediaRehost(replace(settings, delete_twilio_media=True), s3=s3).rehost(inserted2, [0])
    listed = {m["sid"]: m["deleted"] for m in requests.get(sandbox.url + "/_sandbox/media", timeout=5).json()}
    assert current(sid2)["media"][0]["status"] == "stored" and listed[url2.rsplit("/", 1)[1]] is True
    assert LOCAL_AUTH_TOKEN not in json.dumps(current(sid2), default=str) and LOCAL_ACCOUNT_SID not in str(
        current(sid2)["media"][0].get("stored_url")
    )


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(item, default=lambda v: int(v)))  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------
# Media servers that are not Twilio's, or misbehave
# ---------------------------------------------------------------------------------------


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        yield server


def rehost_urls(settings: Settings, s3: Any, urls: list[str], **kwargs: Any) -> list[dict[str, Any]]:
    """Store an inbound message with `urls` pending, re-host it, return its items as stored."""
    sid = new_sid("MM")
    inserted = store_inbound(sid, [{"url": url, "content_type": "application/pdf", "status": "pending"} for url in urls])
    outcome = MediaRehost(settings, s3=s3, **kwargs).handle([record(inserted)])
    assert outcome.failed_sequence is None, outcome.error
    return list(current(sid)["media"])


def test_credentials_go_to_the_sandboxs_exact_address_not_another_port(hostile: HostileServer, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    # The same host as the sandbox (127.0.0.1), another port: once trusted by hostname alone.
    url = hostile.serve("/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", Reply(PDF))
    [item] = rehost_urls(replace(settings, delete_twilio_media=True), s3, [url])
    assert item["status"] == "stored"
    assert [(s.method, s.authorization) for s in hostile.seen] == [("GET", None)]  # no DELETE either


@pytest.mark.parametrize(
    ("url", "sent"),
    [
        ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", True),
        ("https://api.twilio.com:443/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", True),
        ("http://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", False),
        ("https://api.twilio.com:8443/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", False),
        ("https://api.twilio.com.example.net/Media/ME1", False),
    ],
)
def test_a_deployed_stage_sends_credentials_only_over_https_to_twilio(url: str, sent: bool, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    given: list[tuple[str, str] | None] = []

    def fetch(url: str, credentials: tuple[str, str] | None) -> Fetched:
        given.append(credentials)
        raise FetchFailed("http_404")

    deployed = replace(settings, stage="dev", twilio_api_base_url=None)
    [item] = rehost_urls(deployed, s3, [url], fetch=fetch)
    assert item["error"] == "http_404" and given == [deployed.account.media_credentials if sent else None]


def test_a_body_cut_short_of_its_length_is_failed_and_tried_again_not_stored(hostile: HostileServer, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    data = PDF + b"0" * (200_000 - len(PDF))
    cut = hostile.serve("/cut.pdf", Reply(data, send_bytes=5_000))
    whole = hostile.serve("/whole.pdf", Reply(data))
    items = rehost_urls(settings, s3, [cut, whole])
    assert [(m["status"], m.get("error"), m.get("size")) for m in items] == [("failed", "truncated", None), ("stored", None, 200_000)]
    assert len([s for s in hostile.seen if s.path == "/cut.pdf"]) >= 2  # tried again before giving up
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=settings.media_bucket).get("Contents", [])]
    assert not any(k.endswith("/0") for k in keys) and any(k.endswith("/1") for k in keys)


def test_lengths_int_misreads_and_urls_urlopen_cannot_parse_fail_only_their_item(hostile: HostileServer, aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    urls = [
        hostile.serve("/superscript.pdf", Reply(PDF, headers={"Content-Length": "\xb2"})),  # str.isdigit() and int() take it
        hostile.serve("/long.pdf", Reply(PDF, headers={"Content-Length": "9" * 5000})),  # past int()'s 4300 digits
        "http://127.0.0.1:1a/p.png",  # urlopen raises http.client.InvalidURL, not an OSError
        "http://127.0.0.1:99999/p.png",  # the socket raises OverflowError
        "https://user@api.twilio.com/Media/ME1",  # no Twilio URL has user info; urllib would take it for the host
        hostile.serve("/fine.pdf", Reply(PDF)),
    ]
    items = rehost_urls(settings, s3, urls)
    assert [(m["status"], m.get("error")) for m in items] == [("failed", "bad_length")] * 2 + [("failed", "bad_url")] * 3 + [
        ("stored", None)
    ]


def test_a_trickling_server_fails_its_item_at_the_deadline_and_holds_up_no_other_message(
    hostile: HostileServer, aws: tuple[Settings, Any]
) -> None:
    settings, s3 = aws
    slow = hostile.serve("/slow.pdf", Reply(PDF + b"0" * 200, trickle_seconds=0.2))  # 50 s for the whole body
    fine = hostile.serve("/fine.pdf", Reply(PDF))
    slow_sid, fine_sid = new_sid("MM"), new_sid("MM")
    first = store_inbound(slow_sid, [{"url": u, "content_type": "application/pdf", "status": "pending"} for u in (slow, fine)])
    second = store_inbound(fine_sid, [{"url": fine, "content_type": "application/pdf", "status": "pending"}])
    started = time.monotonic()
    outcome = MediaRehost(replace(settings, media_item_seconds=1.0), s3=s3).handle(
        [stream_record(first, arn=ARN, sequence=1), stream_record(second, arn=ARN, sequence=2)]
    )
    took = time.monotonic() - started
    assert outcome.failed_sequence is None and took < 3, took  # the deadline, not the body's 50 s
    slow_message, fine_message = current(slow_sid), current(fine_sid)
    # The slow message still completes (its update is its message.received), with the item failed.
    assert [(m["status"], m.get("error")) for m in slow_message["media"]] == [("failed", "timeout"), ("stored", None)]
    assert fine_message["media"][0]["status"] == "stored"
    # The later message in the batch finished first: it did not wait for the earlier one.
    assert fine_message["updated_at"] < slow_message["updated_at"]


def test_a_batch_reports_its_first_failed_record_while_the_other_messages_finish(aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws

    def fetch(url: str, credentials: tuple[str, str] | None) -> Fetched:
        if "down" in url:
            raise RuntimeError("the bucket's region is down")  # not an item's fault: the record is retried
        raise FetchFailed("http_404")

    sids = [new_sid("MM") for _ in range(4)]
    urls = ["https://api.twilio.com/ok", "https://api.twilio.com/down", "https://api.twilio.com/ok", "https://api.twilio.com/down"]
    batch = [
        stream_record(store_inbound(sid, [{"url": url, "status": "pending"}]), arn=ARN, sequence=n + 1)
        for n, (sid, url) in enumerate(zip(sids, urls))
    ]
    outcome = MediaRehost(settings, s3=s3, fetch=fetch).handle(batch)
    assert (outcome.failed_sequence, outcome.error) == (f"{2:021d}", "rehost_failed:RuntimeError")
    assert [current(sid)["media"][0]["status"] for sid in sids] == ["failed", "pending", "failed", "pending"]


def test_a_server_that_never_answers_fails_its_item_with_timeout_at_the_deadline(aws: tuple[Settings, Any]) -> None:
    settings, s3 = aws
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # connections complete in the backlog; no status line ever comes
    started = time.monotonic()
    try:
        [item] = rehost_urls(replace(settings, media_item_seconds=1.0), s3, [f"http://127.0.0.1:{silent.getsockname()[1]}/a.pdf"])
    finally:
        silent.close()
    assert (item["status"], item["error"]) == ("failed", "timeout") and time.monotonic() - started < 3


def test_a_tenants_media_are_fetched_with_its_credentials_and_a_removed_tenants_with_none(aws: tuple[Settings, Any]) -> None:
    from carrier_core.settings import TwilioAccount
    from carrier_core.tenants import TenantDirectory

    settings, s3 = aws
    acme = TwilioAccount(
        tenant="acme", account_sid="AC" + "a" * 32, auth_token="acme-token", api_key_sid="SK" + "a" * 32, api_key_secret="acme-key"
    )
    tenants = TenantDirectory(settings, load=lambda tenant: acme if tenant == "acme" else None)
    given: list[tuple[str, str] | None] = []

    def fetch(url: str, credentials: tuple[str, str] | None) -> Fetched:
        given.append(credentials)
        raise FetchFailed("http_404")

    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1"
    worker = MediaRehost(replace(settings, stage="dev", twilio_api_base_url=None), s3=s3, fetch=fetch, tenants=tenants)
    for tenant in ("acme", "gone", None):
        sid = new_sid("MM")
        worker.rehost({**store_inbound(sid, [{"url": url, "status": "pending"}]), **({"tenant": tenant} if tenant else {})}, [0])
    assert given == [("SK" + "a" * 32, "acme-key"), None, settings.account.media_credentials]
