"""Opt-out keywords: what a customer texts to stop, restart or ask for help.

Twilio's default keyword set: https://help.twilio.com/articles/223134027
"""
from __future__ import annotations

import enum


class OptOutAction(str, enum.Enum):
    """What an inbound keyword does to the sender's opt-out state."""

    STOP = "stop"
    START = "start"
    HELP = "help"


KEYWORDS: dict[str, OptOutAction] = {
    **{word: OptOutAction.STOP for word in ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT")},
    **{word: OptOutAction.START for word in ("START", "UNSTOP", "YES")},
    "HELP": OptOutAction.HELP,
    "INFO": OptOutAction.HELP,
}


def match_keyword(body: str | None) -> tuple[str, OptOutAction] | None:
    """The keyword and its action when the whole body is one, ignoring case and spaces."""
    if not body:
        return None
    word = body.strip().strip(".!").upper()
    action = KEYWORDS.get(word)
    return (word, action) if action else None
