"""Whether a model's reply declines to answer: ``looks_like_refusal``.

Used by ``qagen eval`` to score replies.

``looks_like_refusal`` reads only the opening of a reply: courtesy words ("Sorry,",
"Unfortunately,", "Good question!", "According to the documents,") are skipped, then the
first clause of the first sentence decides (a clause ends at ";" or before "but",
"however", "although"), checked with ``qagen.quality.grounding.is_refusal`` and a wider set of
phrasings that free model output uses ("I do not have that information", "The documents
I was trained on do not cover that", curly apostrophes, markdown emphasis). So an answer
that states something first and adds a caveat ("The fare is £9.40, but the documents do
not say whether...") is an answer, and a hedge that opens by declining ("I don't know,
but it may be £9") is a refusal. A reasoning block (``<think>...</think>``) is removed
first (``qagen.replies.reasoning.strip_reasoning``), and the text unified
(``qagen.quality.text.unify``: NFKC, curly quotes as ASCII).
"""

from __future__ import annotations

import re

from qagen.quality.grounding import is_refusal
from qagen.quality.text import unify
from qagen.replies.reasoning import strip_reasoning

# Where an answer would come from; "information" and "data" are left out on purpose, since
# real answers say "the timetable information does not include Sundays".
_SOURCE = (
    r"(?:documents?|docs|documentation|passages?|texts?|sources?|context|materials?|excerpts?|"
    r"training(?:\s+data)?|knowledge\s+base|provided\s+information|available\s+information|information\s+(?:provided|available|given))"
)
_NOT = r"(?:do\s+not|don't|does\s+not|doesn't|did\s+not|didn't|never)"
_UNABLE = (
    r"(?:do\s+not|don't|did\s+not|didn't|cannot|can't|can\s+not|could\s+not|couldn't|was\s+unable\s+to|"
    r"wasn't\s+able\s+to|am\s+unable\s+to|am\s+not\s+able\s+to|have\s+not\s+been\s+able\s+to|haven't\s+been\s+able\s+to)"
)
_EVAL_REFUSAL = re.compile(
    rf"""
    ^(?:i|we)\s+{_UNABLE}\s+(?:\w+\s+)?(?:know|say|tell|find|answer|determine|locate|see|confirm|verify|provide|help)\b
    | ^(?:i|we)\s+(?:do\s+not|don't)\s+have\s+(?:\w+\s+){{0,2}}?(?:information|details|data|knowledge|records?|answer)\b
    | ^(?:i|we)\s+have\s+no\s+(?:\w+\s+)?(?:information|details|data|knowledge|record|records|idea)\b
    | ^(?:i'm|i\s+am)\s+not\s+(?:aware|certain|able)\b
    | ^(?:no\s+idea|not\s+sure|unsure|no\s+information|no\s+details)\b
    | ^(?:that|this|it|the\s+answer)\s+(?:is|was)\s+not\s+(?:\w+\s+)?(?:mentioned|stated|specified|documented|known)\b
    | \bnot\s+(?:\w+\s+)?(?:(?:mentioned|stated|specified|provided|given|covered|included|described|found|documented|
        available|listed|discussed|addressed)\s+)?(?:anywhere\s+)?in\s+(?:\w+\s+){{0,3}}?{_SOURCE}\b
    | \b{_SOURCE}\s+(?:\w+\s+){{0,5}}?{_NOT}\s+(?:\w+\s+)?(?:say|mention|state|specify|provide|contain|include|give|
        cover|tell|describe|answer|address|discuss|list|name)\b
    | \b{_SOURCE}\s+(?:\w+\s+){{0,5}}?(?:says?|contains?|gives?|provides?|includes?|ha(?:ve|s)|holds?|offers?)\s+
        (?:nothing|no\s+(?:\w+\s+)?(?:information|details|mention|data|answer))\b
    | \bnothing\s+in\s+(?:\w+\s+){{0,3}}?{_SOURCE}\b
    | \b(?:there\s+is|there's|there\s+are)\s+no\s+(?:\w+\s+)?(?:mention|information|details?|indication|record|data)\b
    | \bno\s+(?:\w+\s+)?(?:information|details|mention|record|data)\s+(?:is\s+|are\s+)?(?:given|provided|available|about|
        on|regarding|of)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Words that open a reply without answering or declining; skipped so the sentence after them decides.
_COURTESY = re.compile(
    rf"""
    ^\W*(?:
        (?:i'm|i\s+am)\s+(?:very\s+|so\s+|really\s+)?(?:sorry|afraid)
      | sorry | unfortunately | regrettably | apologies | my\s+apologies | i\s+apologi[sz]e
      | (?:(?:that|this)(?:'s|\s+is)\s+)?(?:a\s+)?(?:good|great|fair)\s+question | thanks?(?:\s+you)?(?:\s+for\s+(?:the|your)\s+question)?
      | hmm+ | well | honestly | to\s+be\s+honest
      | (?:based\s+on|according\s+to|from|looking\s+at|after\s+(?:checking|reviewing))\s+(?:\w+\s+){{0,3}}?{_SOURCE}
    )\b[\s,.!:;-]*(?:but\s+)?
    """,
    re.IGNORECASE | re.VERBOSE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Where an answer turns to a caveat: "The fare is £9.40, but the documents do not say ...".
_CLAUSE_END = re.compile(r"\s*(?:;|,?\s+(?:but|however|although|though|except\s+that)\b)", re.IGNORECASE)
_EMPHASIS = re.compile(r"[*_#>`]+")


def _opening(reply: str) -> str:
    # Case is kept: every pattern here ignores it.
    text = unify(strip_reasoning(reply))
    text = _EMPHASIS.sub("", text).strip()
    for _ in range(3):  # "Sorry, unfortunately, ..." chains a few
        match = _COURTESY.match(text)
        # A reply that is nothing but "I'm sorry." keeps its words: is_refusal reads them.
        if not match or not match.group().strip() or not text[match.end() :].strip():
            break
        text = text[match.end() :].lstrip()
    sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
    if not sentences:
        return ""
    return _CLAUSE_END.split(sentences[0], maxsplit=1)[0].strip()


def looks_like_refusal(reply: str) -> bool:
    """Whether a model's reply declines to answer (rules in the module docstring)."""
    opening = _opening(reply)
    return bool(opening) and (is_refusal(opening) or _EVAL_REFUSAL.search(opening) is not None)
