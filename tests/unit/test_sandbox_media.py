"""The sandbox's media hosting: Twilio-shaped URLs behind basic auth, redirects, 404s, DELETE."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator

import pytest
import requests
from PIL import Image

from carrier_core.media.sniff import HEAD_BYTES, sniff
from carrier_core.settings import LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN
from devstack.sandbox import SandboxServer
from tests.support.sandbox import running_sandbox

AUTH = (LOCAL_ACCOUNT_SID, LOCAL_AUTH_TOKEN)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    yield from running_sandbox()


def host(server: SandboxServer, data: bytes = PNG, query: str = "") -> dict[str, object]:
    response = requests.post(server.url + "/_sandbox/media" + query, data=data, headers={"Content-Type": "image/png"}, timeout=5)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_hosted_media_has_a_twilio_shaped_url_that_needs_basic_auth(server: SandboxServer) -> None:
    sid = "MM" + "a" * 32
    hosted = host(server, query=f"?message_sid={sid}")
    url = str(hosted["url"])
    assert re.fullmatch(rf"{server.url}/2010-04-01/Accounts/{LOCAL_ACCOUNT_SID}/Messages/{sid}/Media/ME[0-9a-f]{{32}}", url)
    assert requests.get(url, timeout=5).json()["code"] == 20003
    assert requests.get(url, auth=(LOCAL_ACCOUNT_SID, "wrong"), timeout=5).status_code == 401
    redirect = requests.get(url, auth=AUTH, allow_redirects=False, timeout=5)
    assert redirect.status_code == 307 and redirect.headers["Location"].startswith("/_sandbox/media/ME")
    followed = requests.get(url, auth=AUTH, timeout=5)
    assert followed.content == PNG and followed.headers["Content-Type"] == "image/png"
    assert hosted["sha256"] == hashlib.sha256(PNG).hexdigest() and hosted["size"] == len(PNG)
    resource = requests.get(url + ".json", auth=AUTH, timeout=5).json()
    assert resource["parent_sid"] == sid and resource["content_type"] == "image/png"


def test_not_ready_answers_404_for_the_first_gets_then_serves(server: SandboxServer) -> None:
    url = str(host(server, query="?not_ready=2")["url"])
    assert [requests.get(url, auth=AUTH, timeout=5).status_code for _ in range(3)] == [404, 404, 200]
    gone = str(host(server, query="?not_ready=-1")["url"])
    assert [requests.get(gone, auth=AUTH, timeout=5).status_code for _ in range(3)] == [404, 404, 404]


def test_delete_is_like_twilios(server: SandboxServer) -> None:
    url = str(host(server)["url"])
    assert requests.delete(url + ".json", timeout=5).status_code == 401
    assert requests.delete(url + ".json", auth=AUTH, timeout=5).status_code == 204
    assert requests.get(url, auth=AUTH, timeout=5).json()["code"] == 20404
    assert requests.delete(url + ".json", auth=AUTH, timeout=5).status_code == 404
    listed = requests.get(server.url + "/_sandbox/media", timeout=5).json()
    assert [item["deleted"] for item in listed] == [True]


def test_bad_message_sid_is_refused(server: SandboxServer) -> None:
    response = requests.post(server.url + "/_sandbox/media?message_sid=nope", data=b"x", timeout=5)
    assert response.status_code == 400


def test_a_twelve_megabyte_item_is_hosted(server: SandboxServer) -> None:
    data = b"\xff\xd8\xff" + b"\x01" * (12 * 1024 * 1024)
    url = str(host(server, data)["url"])
    assert requests.get(url, auth=AUTH, timeout=10).content == data


def test_a_sample_image_is_served_without_auth_for_a_quick_try(server: SandboxServer) -> None:
    """The quick start's MMS uses it: real bytes of a real PNG, with no network."""
    response = requests.get(server.url + "/_sandbox/media/sample.png", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        image.load()
        assert (image.format, image.size) == ("PNG", (64, 64))
    assert sniff(response.content[:HEAD_BYTES]) == "image/png"
    assert requests.post(server.url + "/_sandbox/media/sample.png", timeout=5).status_code == 404
