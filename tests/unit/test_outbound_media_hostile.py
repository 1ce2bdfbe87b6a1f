"""Outbound media against input that misbehaves: media servers' answers, URLs no client can
request, indexes int() misreads. Each is a 4xx with a stable code, never a 500, and nothing
is sent or stored half-way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from carrier_core.errors import CarrierError
from carrier_core.models import MediaItem
from carrier_core.settings import Settings
from tests.support.hostile import HostileServer, Reply, hostile_server
from tests.support.outbound import CUSTOMER, Outbound, media_env, outbound, outbound_module, twilio  # noqa: F401
from tests.unit.test_outbound_media import image_bytes, stored_message

PDF = b"%PDF-1.4\n" + b"0" * 2000


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with hostile_server() as server:
        yield server


def refused(urls: list[str], settings: Settings, s3: Any) -> CarrierError:
    with pytest.raises(CarrierError) as raised:
        outbound_module("media").prepare_media(tuple(urls), settings, s3=s3)
    assert not s3.list_objects_v2(Bucket=settings.media_bucket).get("Contents")
    return raised.value


def test_an_image_cut_short_of_its_length_is_unreachable(hostile: HostileServer, media_env: tuple[Settings, Any]) -> None:
    data = image_bytes("BMP", (400, 300))
    url = hostile.serve("/cut.bmp", Reply(data, "image/bmp", send_bytes=len(data) // 2))
    error = refused([url], *media_env)
    assert (error.code, error.http_status) == ("media_unreachable", 400)


@pytest.mark.parametrize(
    ("label", "reply"),
    [
        ("superscript length", Reply(PDF, headers={"Content-Length": "\xb2"})),
        ("5000-digit length", Reply(PDF, headers={"Content-Length": "9" * 5000})),
        ("superscript range total", Reply(PDF, "application/octet-stream", status=206, headers={"Content-Range": "bytes 0-63/\xb2"})),
        (
            "5000-digit range total",
            Reply(PDF, "application/octet-stream", status=206, headers={"Content-Range": "bytes 0-63/" + "9" * 5000}),
        ),
    ],
)
def test_lengths_int_misreads_are_a_400_not_a_500(
    label: str, reply: Reply, hostile: HostileServer, media_env: tuple[Settings, Any]
) -> None:
    error = refused([hostile.serve("/card.pdf", reply)], *media_env)
    assert (error.code, error.http_status) == ("media_response_invalid", 400), label


def test_a_redirect_to_a_port_that_is_not_a_number_is_unreachable(hostile: HostileServer, media_env: tuple[Settings, Any]) -> None:
    url = hostile.serve("/hop.pdf", Reply(b"", status=302, headers={"Location": "http://127.0.0.1:1a/p.pdf"}))
    error = refused([url], *media_env)
    assert (error.code, error.http_status) == ("media_unreachable", 400)


@pytest.mark.parametrize("url", ["https://example.com:1a/p.png", "https://example.com:99999/p.png", "https://[::1/p.png"])
def test_a_media_url_no_client_can_request_is_refused_at_the_request(url: str, outbound: Outbound) -> None:
    response = outbound.post({"to": CUSTOMER, "body": "look", "media_urls": [url]})
    assert response.status_code == 400 and json.loads(response.body)["error"]["code"] == "invalid_media_url"
    assert outbound.twilio.requests == []


@pytest.mark.parametrize("index", ["\u00b2", "\u0663", "9" * 5000])
def test_a_media_index_int_misreads_is_a_404_not_a_500(index: str, outbound: Outbound) -> None:
    sid = "MM" + "3" * 32
    gone = MediaItem(url="https://api.twilio.com/x/ME1", status="failed", error="http_404")
    # int("\u0663") is 3: item 3 has a copy, which only an ASCII "3" may read.
    stored_message(
        sid, [gone, gone, gone, MediaItem(url="https://api.twilio.com/x/ME4", status="stored", stored_url="s3://b/inbound/x/3", size=8)]
    )
    response = outbound.client.http.get(f"/messages/{sid}/media/{index}")
    assert response.status_code == 404 and json.loads(response.body)["error"]["code"] == "media_not_found"
