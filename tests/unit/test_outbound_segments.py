"""Segments and encoding of outbound bodies: GSM-7 (160/153) and UCS-2 (70/67)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from carrier_core.segments import GSM7_BASIC, GSM7_EXTENSION, Encoding, count_segments


@dataclass(frozen=True)
class Case:
    label: str
    body: str
    encoding: Encoding
    count: int
    units: int


GSM, UCS = Encoding.GSM7, Encoding.UCS2

CASES = [
    Case("empty (media only)", "", GSM, 1, 0),
    Case("one char", "a", GSM, 1, 1),
    Case("160 GSM fits one", "a" * 160, GSM, 1, 160),
    Case("161 GSM needs two", "a" * 161, GSM, 2, 161),
    Case("306 GSM is two full parts", "a" * 306, GSM, 2, 306),
    Case("307 GSM needs three", "a" * 307, GSM, 3, 307),
    Case("GSM accents stay GSM", "é è ù ì ò Ç Ø å Δ ß É ¿ ¡", GSM, 1, 25),
    Case("extension chars count two", "{}[]~|^€\\", GSM, 1, 18),
    Case("80 euros fit one (160 septets)", "€" * 80, GSM, 1, 160),
    Case("81 euros need two", "€" * 81, GSM, 2, 162),
    Case("escape pair never split across parts", "a" * 152 + "€" + "a" * 152, GSM, 3, 306),
    Case("lower c-cedilla is not GSM", "ç", UCS, 1, 1),
    Case("70 UCS-2 fit one", "ж" * 70, UCS, 1, 70),
    Case("71 UCS-2 need two", "ж" * 71, UCS, 2, 71),
    Case("134 UCS-2 are two full parts", "ж" * 134, UCS, 2, 134),
    Case("135 UCS-2 need three", "ж" * 135, UCS, 3, 135),
    Case("emoji is two code units", "😀", UCS, 1, 2),
    Case("35 emoji fit one", "😀" * 35, UCS, 1, 70),
    Case("36 emoji need two", "😀" * 36, UCS, 2, 72),
    Case("surrogate pair never split across parts", "a" * 66 + "😀" + "a" * 66, UCS, 3, 134),
    Case("one emoji makes a GSM body UCS-2", "a" * 69 + "😀", UCS, 2, 71),
    Case("1600 GSM chars", "a" * 1600, GSM, 11, 1600),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_segments(case: Case) -> None:
    segments = count_segments(case.body)
    assert (segments.encoding, segments.count, segments.units) == (case.encoding, case.count, case.units)


def test_gsm_tables_have_the_standard_sizes() -> None:
    # 128 basic positions minus ESC, which is not a character; 10 extension characters.
    assert (len(GSM7_BASIC), len(GSM7_EXTENSION)) == (127, 10)
    assert not GSM7_BASIC & GSM7_EXTENSION


def test_every_basic_character_alone_is_gsm_and_anything_else_is_not() -> None:
    for char in GSM7_BASIC:
        assert count_segments(char).encoding is GSM
    for char in "çÀ`¢😀":
        assert count_segments(char).encoding is UCS, char
