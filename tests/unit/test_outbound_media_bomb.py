"""A pixel bomb: a small TIFF that decodes to over a gigabyte is refused from its header.

The outbound Lambda has 1,024 MB. Pillow refuses an image only above twice
Image.MAX_IMAGE_PIXELS (between 1x and 2x it only warns), so a 10,900 x 10,900 TIFF
(119 megapixels, under 2 x 60) was decoded. The conversion runs in a child process here,
whose peak resident size is the measurement: VmHWM, the high-water mark of its own memory
since exec (getrusage's ru_maxrss survives exec, so a child of a large pytest process
would report the parent's size).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.apps import ROOT

SIDE = 10_900
CHILD = """
import re, sys
sys.path.insert(0, sys.argv[2])
from carrier_core.errors import CarrierError
from chalicelib.media import to_jpeg
source = open(sys.argv[1], "rb").read()
try:
    to_jpeg(source, 5 * 1024 * 1024)
    outcome = "converted 0"
except CarrierError as exc:
    outcome = f"{exc.code} {exc.http_status}"
peak_kb = re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1)
print(outcome, int(peak_kb) // 1024)
"""


@pytest.fixture(scope="module")
def pixel_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.tiff"
    Image.new("1", (SIDE, SIDE), 1).save(path, "TIFF", compression="group4")
    return path


def test_a_pixel_bomb_is_refused_before_it_is_decoded(pixel_bomb: Path) -> None:
    assert pixel_bomb.stat().st_size < 256 * 1024
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(pixel_bomb), str(ROOT / "services" / "outbound")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    code, status, peak_mb = run.stdout.split()
    print(f"pixel bomb: {code} {status}, child peak {peak_mb} MB")
    assert (code, status) == ("media_too_large", "400")
    assert int(peak_mb) < 256, f"peak {peak_mb} MB"  # the Lambda has 1,024
