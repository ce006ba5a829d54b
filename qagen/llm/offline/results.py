"""Finishing places in race results: "Who finished 1st in the Brannoch Sound Regatta 2023?".

A results section is what a race report is about, yet it is no prose: a table with a place column,
or lines such as "1st: Sea Lark (Morag Innesley), 2:41:07". ``place_candidates`` finds those rows
and asks who finished in each place, naming the race from the headings above. The answer restates
the row in a sentence made of the row's and the heading's words ("In the Brannoch Sound Regatta
2023, Sea Lark (Morag Innesley) was 1st in 2:41:07."), so the grounding check keeps it.
"""

from __future__ import annotations

import re

from qagen.llm.offline.passage import clean_phrase, strip_markup_edges

__all__ = ["place_candidates"]

PLACE_SCORE = 5.0  # a finishing place is the fact a results section exists for
_GROUP_BASE = 1_000_000  # each row is a group of its own, after the passage's blocks
_ORDINALS = {"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
             "winner": "1st"}
_PLACE_LINE_RE = re.compile(
    r"^\s*(?:[-*+]\s+)?(?P<place>\d{1,3}(?:st|nd|rd|th)|First|Second|Third|Fourth|Fifth|Winner)"
    r"(?:\s+place)?(?:\s*[:.)\-–—]\s*|\s+)(?P<rest>\S.*)$",
    re.IGNORECASE,
)
_NUMBERED_RE = re.compile(r"^\s*(?P<place>\d{1,3})[.)]\s+(?P<rest>\S.*)$")
_RESULTS_WORDS = r"results?|standings|classification|finishers|podium|leaderboard|placings"
_RESULTS_WORDS_RE = re.compile(rf"\b(?:{_RESULTS_WORDS})\b", re.IGNORECASE)
_PLACE_HEADER_RE = re.compile(r"^(?:place|pos\.?|position|rank|finish|placing|#|pl\.?)$", re.IGNORECASE)
_TIME_RE = re.compile(r"^\d{1,2}(?::\d\d){1,2}(?:\.\d+)?$|^\d+(?:\.\d+)?\s?s$")
_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# Whether a passage may hold a results row, searched in the whole passage at once: one with none
# (nine in ten) needs no reading line by line. Each is looser than what it stands for (no \b, its
# \s* may cross blank lines), so a passage it passes over holds no row. A leading "\n" lets the
# search jump from line to line (the passage is searched with one put before it). The results words
# are looked for in lower case only in ASCII text, where that is all re.IGNORECASE matches ("ſ" and
# "İ" match "s" and "i" under it): 0.14 s at 10 MB, against 1.3 s ignoring case.
_MAY_NAME_RESULTS_RE = re.compile(_RESULTS_WORDS)
# The spaces are taken possessively (*+, ++): what follows them is never a space, so giving some back
# cannot help, and trying to at every indented or blank line made the check take 0.78 s instead of 0.28 s at 50 MB.
_PLACE_OPENING = r"(?:[-*+]\s++)?(?i:\d{1,3}(?:st|nd|rd|th)|first|second|third|fourth|fifth|winner|\|)"  # a place or table row
_MAY_HOLD_PLACE_RE = re.compile(r"\n\s*+" + _PLACE_OPENING)
# A place or table row, or a numbered line (a row under a results heading).
_MAY_HOLD_ROW_RE = re.compile(r"\n\s*+(?:" + _PLACE_OPENING + r"|(?P<numbered>\d{1,3}[.)]\s))")


def _ordinal(place: str) -> str:
    lowered = place.lower()
    if lowered in _ORDINALS:
        return _ORDINALS[lowered]
    if lowered.isdigit():
        number = int(lowered)
        suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
        return f"{number}{suffix}"
    return lowered


def _race(headings: list[str]) -> str:
    """The race the results belong to: the nearest heading that is more than "Results"."""
    for heading in reversed(headings):
        name = clean_phrase(_RESULTS_WORDS_RE.sub("", strip_markup_edges(heading)))
        name = re.sub(r"^(?:final|full|official)\s+|[\s:,–—-]+$", "", name, flags=re.IGNORECASE).strip()
        if len(name.split()) >= 1 and any(ch.isalpha() for ch in name) and name.lower() not in {"final", "full"}:
            return name if name.lower().startswith("the ") else f"the {name}"
    return ""


def _sentence(race: str, place: str, who: str, extras: list[str], time: str) -> str:
    extra = f" ({', '.join(extras)})" if extras else ""
    timed = f" in {time}" if time else ""
    return f"In {race}, {who}{extra} was {place}{timed}."


def _row_from_line(rest: str) -> tuple[str, list[str], str]:
    """"Sea Lark (Morag Innesley), 2:41:07" -> ("Sea Lark (Morag Innesley)", [], "2:41:07")."""
    parts = [part.strip() for part in re.split(r",\s+|\s+[–—-]\s+|\t+|\s{2,}", rest.strip().rstrip(".")) if part.strip()]
    time = parts.pop() if len(parts) > 1 and _TIME_RE.match(parts[-1]) else ""
    if not parts:
        return "", [], ""
    return parts[0], parts[1:], time


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def place_candidates(passage: str) -> list[tuple[str, str, float, int, int, str]]:
    """(answer, question, score, group, position, span) for each finishing place the passage lists."""
    found: list[tuple[str, str, float, int, int, str]] = []
    if not _may_hold_row("\n" + passage):
        return found
    headings: list[str] = []
    under_results = False  # whether the last heading names results; searched once per heading, not per line
    header: list[str] | None = None
    lines = passage.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped[:1] == "#" and (heading := _HEADING_RE.match(line)):
            headings.append(heading.group(2))
            under_results = bool(_RESULTS_WORDS_RE.search(headings[-1]))
            header = None
            continue
        if stripped.startswith("|") and stripped.count("|") >= 2:
            cells = _cells(stripped)
            if all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell):
                continue
            if header is None:
                header = cells
                continue
            row = _table_row(header, cells)
        else:
            header = None
            if not stripped:
                continue
            row = _line_row(stripped, under_results)
            if row is None and _is_title_line(stripped):
                headings.append(stripped)  # a plain-text title: "HARBOUR 10K 2024"
                under_results = bool(_RESULTS_WORDS_RE.search(stripped))
        if not row or not row[1] or not any(ch.isalpha() for ch in row[1]):
            continue
        race = _race(headings)
        if not race:
            continue
        place = _ordinal(row[0])
        answer = _sentence(race, place, row[1], list(row[2]), row[3])
        question = f"Who finished {place} in {race}?"
        span = " ".join(stripped.split())
        # The podium first; a long field's other places compete with the passage's sentences.
        score = PLACE_SCORE if place in {"1st", "2nd", "3rd"} else PLACE_SCORE / 2
        found.append((answer, question, score, _GROUP_BASE + index, _GROUP_BASE + index, span))
    return found


def _may_hold_row(text: str) -> bool:
    """Whether a passage (with a "\n" put before it) may hold a row: nine in ten hold none, and reading
    them line by line took 0.49 s at 10 MB."""
    if not (row := _MAY_HOLD_ROW_RE.search(text)):
        return False
    if not row.group("numbered"):
        return True
    # Under a results heading a plain numbered line is a row too; elsewhere only a place or a table row is.
    may_name_results = _MAY_NAME_RESULTS_RE.search(text.lower()) if text.isascii() else _RESULTS_WORDS_RE.search(text)
    return bool(may_name_results) or bool(_MAY_HOLD_PLACE_RE.search(text, row.start()))


def _is_title_line(line: str) -> bool:
    return line[:1].isupper() and not line.startswith(("|", "-", "*")) \
        and not line.rstrip("*_").endswith((".", "!", "?", ":", ",")) and len(line.split()) <= 10


def _line_row(line: str, under_results: bool) -> tuple[str, str, list[str], str] | None:
    """A results line as (place, who, other parts, time): "1st: Sea Lark (Morag Innesley), 2:41:07".

    under_results: the heading above names results ("Results", "Final standings").
    """
    match = _PLACE_LINE_RE.match(line) or (_NUMBERED_RE.match(line) if under_results else None)
    if not match:
        return None
    who, extras, time = _row_from_line(match.group("rest"))
    if not (under_results or time) or not who[:1].isupper():
        return None  # "First, the crew checks ...": prose, not a finishing place
    return match.group("place"), who, extras, time


def _table_row(header: list[str], cells: list[str]) -> tuple[str, str, list[str], str] | None:
    """A results table row as (place, who, other cells, time), when the table has a place column."""
    at = next((i for i, name in enumerate(header) if _PLACE_HEADER_RE.match(strip_markup_edges(name))), None)
    if at is None or at >= len(cells) or not re.fullmatch(r"\d{1,3}(?:st|nd|rd|th)?\.?|=\d{1,3}", cells[at]):
        return None
    others = [(header[i] if i < len(header) else "", cell) for i, cell in enumerate(cells) if i != at and cell]
    who = next((cell for _, cell in others if any(ch.isalpha() for ch in cell)), "")
    time = next((cell for name, cell in others if _TIME_RE.match(cell) or name.lower() in {"time", "result"}), "")
    extras = [cell for _, cell in others if cell not in (who, time)]
    return cells[at].rstrip(".").lstrip("="), who, extras, time
