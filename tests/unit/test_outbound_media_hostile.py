"""Outbound media checks against media servers that misbehave: every answer is a 4xx with a
stable code, never a 500, and nothing is sent or stored half-way."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from carrier_core.errors import CarrierError
from carrier_core.settings import Settings
from tests.support.hostile import HostileServer, Reply, hostile_server
from tests.support.outbound import media_env, outbound_module  # noqa: F401
from tests.unit.test_outbound_media import image_bytes


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
