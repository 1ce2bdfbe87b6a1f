"""`omni-twilio`'s tables: an id is printed whole at any terminal width; narrow terminals
lose the least important columns instead, and say which."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from omni_cli.messages import parse_since
from omni_cli.context import CliFailure
from omni_cli.stores import FAILED_COLUMNS
from omni_cli.tables import Column, fit, table

ITEM = "RQ46e0" + "a" * 28
SID = "SM" + "b" * 32
ROW = [ITEM, "default", "***0010", "recipient_unreachable", "21612", "rejected", "False", "1", SID, "2026-12-01T20:23:53.123Z"]


def printed(width: int, columns: list[Column], rows: list[list[str]]) -> str:
    console = Console(width=width, soft_wrap=True, record=True, file=io.StringIO())
    console.print(table(columns, rows, width, "failed sends"))
    return console.export_text()


def test_every_column_is_kept_when_the_terminal_is_wide() -> None:
    assert fit(FAILED_COLUMNS, [ROW], 200) == list(range(len(FAILED_COLUMNS)))
    out = printed(200, FAILED_COLUMNS, [ROW])
    assert ITEM in out and SID in out and "left out" not in out


@pytest.mark.parametrize("width", [80, 60, 40, 20])
def test_a_narrow_terminal_drops_columns_never_the_id(width: int) -> None:
    out = printed(width, FAILED_COLUMNS, [ROW])
    assert ITEM in out and "…" not in out
    assert f"left out at {width} columns:" in out and "(--json has every field)" in out
    # The least important go first: at 80 columns, the id and what it is about remain.
    kept = [FAILED_COLUMNS[i].name for i in fit(FAILED_COLUMNS, [ROW], width)]
    assert kept[0] == "id" and "retryable" not in kept and "attempts" not in kept
    if width == 80:
        assert {"state", "category"} <= set(kept)


def test_cells_are_not_read_as_markup() -> None:
    out = printed(80, [Column("id", identifier=True), Column("note")], [[ITEM, "[bold]x[/bold] [red]"]])
    assert "[bold]x[/bold] [red]" in out


@pytest.mark.parametrize(
    "text,expected",
    [("2026-01-31T09:00:00Z", "2026-01-31T09:00:00.000Z"), ("2026-01-31T10:00:00+01:00", "2026-01-31T09:00:00.000Z")],
)
def test_since_takes_an_rfc3339_time(text: str, expected: str) -> None:
    assert parse_since(text) == expected


def test_since_takes_an_age_and_refuses_the_rest() -> None:
    assert parse_since("10m") < parse_since("1m")
    with pytest.raises(CliFailure, match="give the time's offset"):
        parse_since("2026-01-31T09:00:00")
    with pytest.raises(CliFailure, match=r"an age \(10m, 2h, 7d\) or an RFC 3339 time"):
        parse_since("soon")
