"""The tables the CLI prints: an identifier is never cut, whatever the terminal's width.

Rich fits a table to the terminal by shrinking its wrapable columns, and cuts a word that no
longer fits with `…`: at 80 columns `failed list` printed `RQ46e…`, an id no one can paste.
Here an identifier column is never wrapped nor shrunk below its longest value, and when the
table's narrowest rendering is wider than the terminal, the least important columns are left
out (a caption names them; `--json` has every field). Other values fold rather than end in `…`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Rich's default table: one space each side of a cell, a border between columns and at each edge.
PADDING = 2
# A value that may break anywhere (a URL) needs no more than this to be shown, folded.
BREAKABLE_MIN = 16


@dataclass(frozen=True)
class Column:
    """One column: `identifier` values are printed whole on one line; when the terminal is
    narrow, the column with the lowest `drop` is left out first (0: never left out)."""

    name: str
    identifier: bool = False
    drop: int = 0
    breakable: bool = False


def narrowest(column: Column, values: Sequence[str]) -> int:
    """The fewest cells `column` can take with every value readable: an identifier's longest
    value, otherwise its longest word (a breakable one's, up to BREAKABLE_MIN)."""
    if column.identifier:
        return max([len(column.name), *(len(v) for v in values)])
    longest = max([len(word) for text in (column.name, *values) for word in text.split()] or [1])
    return min(longest, BREAKABLE_MIN) if column.breakable else longest


def fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> list[int]:
    """The indexes of the columns to print at `width`: all of them when they fit, else without
    the ones dropped first, until the table fits or only the ones never dropped are left."""
    kept = list(range(len(columns)))
    need = {i: narrowest(columns[i], [row[i] for row in rows]) + PADDING for i in kept}
    droppable = sorted((i for i in kept if columns[i].drop), key=lambda i: (columns[i].drop, -i))
    while sum(need[i] for i in kept) + len(kept) + 1 > width and droppable:
        kept.remove(droppable.pop(0))
    return kept


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, title: str | None = None) -> Table:
    """A table of `rows` fitted to `width` as `fit` decides."""
    kept = fit(columns, rows, width)
    left_out = [columns[i].name for i in range(len(columns)) if i not in kept]
    caption = f"left out at {width} columns: {', '.join(left_out)} (--json has every field)" if left_out else None
    drawn = Table(title=title, caption=caption)
    for i in kept:
        column = columns[i]
        if column.identifier:
            longest = narrowest(column, [row[i] for row in rows])
            drawn.add_column(column.name, no_wrap=True, min_width=longest)
        else:
            drawn.add_column(column.name, overflow="fold")
    for row in rows:
        # Text, not str: a value is shown as it is, never read as Rich markup.
        drawn.add_row(*(Text(row[i]) for i in kept))
    return drawn


def print_table(console: Console, columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    console.print(table(columns, rows, console.width, title))
