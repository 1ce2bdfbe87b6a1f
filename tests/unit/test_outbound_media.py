"""Outbound media: GET /messages/{sid}/media/{n} and the checks before a send."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import boto3

from carrier_core.models import MediaItem, MessageModel
from tests.support.outbound import Outbound, outbound, twilio  # noqa: F401

AT = "2026-11-24T14:00:00.000Z"


def stored_message(sid: str, media: list[MediaItem]) -> None:
    MessageModel(sid, direction="inbound", status="received", media=media, created_at=AT, updated_at=AT).save()


def test_media_link_is_a_307_to_a_short_lived_copy(outbound: Outbound) -> None:
    settings = outbound.settings()
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=settings.media_bucket)
    s3.put_object(Bucket=settings.media_bucket, Key="inbound/MM1/0", Body=b"%PDF-1.4")
    sid = "MM" + "1" * 32
    stored_message(sid, [
        MediaItem(url="https://api.twilio.com/x/ME1", status="stored", stored_url=f"s3://{settings.media_bucket}/inbound/MM1/0", size=8),
        MediaItem(url="https://api.twilio.com/x/ME2", status="failed", error="http_404"),
        MediaItem(url="https://api.twilio.com/x/ME3", status="pending"),
    ])
    response = outbound.client.http.get(f"/messages/{sid}/media/0")
    assert response.status_code == 307
    location = urlsplit(response.headers["Location"])
    assert location.path.endswith(f"{settings.media_bucket}/inbound/MM1/0") or str(location.hostname).startswith(settings.media_bucket)
    # SigV4 (S3 reads of SSE-KMS objects accept nothing else), valid for the setting's seconds.
    assert f"X-Amz-Expires={settings.media_link_seconds}" in location.query and "X-Amz-Signature=" in location.query
    for index in ("1", "2", "3", "x"):
        missing = outbound.client.http.get(f"/messages/{sid}/media/{index}")
        body: dict[str, Any] = json.loads(missing.body)
        assert missing.status_code == 404 and body["error"]["code"] == "media_not_found", index
    unknown = outbound.client.http.get(f"/messages/MM{'2' * 32}/media/0")
    assert unknown.status_code == 404 and json.loads(unknown.body)["error"]["code"] == "message_not_found"
