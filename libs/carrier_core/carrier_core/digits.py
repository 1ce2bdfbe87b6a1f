"""Numbers read from text others send: header lengths, path indexes.

str.isdigit() and int() accept more than ASCII: "²" passes isdigit() and then int() raises,
"٣" (Arabic-Indic three) is 3 to int(), and int() of over 4300 digits raises. None of them
belongs in a Content-Length or a URL path, so only ASCII digits are read, and only so many.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,15}")  # 15 digits: about a petabyte, past any length we take


def ascii_int(raw: str | None) -> int | None:
    """The value of `raw` when it is 1 to 15 ASCII digits (surrounding blanks allowed), else None."""
    if raw is None:
        return None
    text = raw.strip(" \t")
    return int(text) if _DIGITS.fullmatch(text) else None
