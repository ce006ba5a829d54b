"""The reasoning block some models write before their answer: ``<think>...</think>``.

The one place that knows what such a block looks like, for every reader of a reply (pairs,
candidate questions and checks, judge ratings, ``qagen eval`` answers):

- the tags are ``think``, ``thinking`` and ``reasoning``, in any letter case, and a block
  opened by one may be closed by any of them;
- a block counts only at the very start of the reply (after whitespace): a tag later on is
  part of the answer, unless it is a closing tag (below);
- the first closing tag ends the block. Some servers drop the opening tag but keep the
  closing one, so a closing tag with no opening tag before it still ends a block that
  began with the reply;
- a block that is opened and never closed means the reply was cut off while the model was
  still reasoning: there is no answer (``answer_start`` gives None, ``strip_reasoning`` "").

Pure functions of the reply text.
"""

from __future__ import annotations

import re

_TAGS = r"(?:think|thinking|reasoning)"
_OPEN = re.compile(rf"\s*<{_TAGS}>", re.IGNORECASE)
_CLOSE = re.compile(rf"</{_TAGS}>", re.IGNORECASE)


def answer_start(reply: str) -> int | None:
    """Where the answer begins after a reasoning block (0 when there is none); None when the
    reply is only an unfinished one."""
    close = _CLOSE.search(reply)
    if close is not None:
        return close.end()
    if _OPEN.match(reply):
        return None
    return 0


def strip_reasoning(reply: str) -> str:
    """The reply's answer, without a reasoning block and surrounding whitespace; "" when the
    reply is only an unfinished block (cut off while thinking: no answer was given)."""
    start = answer_start(reply)
    return "" if start is None else reply[start:].strip()
