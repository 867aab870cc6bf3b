"""Sentence splitting with character offsets.

Ingest (chunk boundaries) and answering (evidence and quotes) must cut abstracts in exactly the same
places, so that a citation's quote is always a real sentence of the stored abstract.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "e.g", "i.e", "al", "etc", "fig", "figs", "eq", "eqs", "sec", "vs", "cf", "approx", "no", "resp", "ref",
    "refs", "tab", "dr", "mr", "ms", "prof", "inc", "ltd", "st", "vol", "pp", "ca", "viz", "w.r.t", "a.k.a",
}
# A candidate boundary: sentence-final punctuation (optionally closed by quotes/brackets), then white space.
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_INITIALISM = re.compile(r"(?:[a-z]\.)+[a-z]")  # "U.S.", "e.g.", "a.k.a.": a dot between single letters


def _is_abbreviation(text: str, dot: int) -> bool:
    if text[dot] != ".":
        return False
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    if not m:
        return False
    word = m.group(1).lower().rstrip(".")
    return (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha() and text[m.start()].isupper())
            or _INITIALISM.fullmatch(word) is not None)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, trailing white space excluded; covers all non-space text."""
    spans: list[tuple[int, int]] = []
    start = 0
    n = len(text)
    while start < n and text[start].isspace():
        start += 1
    for m in _BOUNDARY.finditer(text):
        nxt = m.end()
        if nxt >= n:
            break
        follower = text[nxt]
        if not (follower.isupper() or follower.isdigit() or follower in "\"'([" or not follower.isascii()):
            continue
        if _is_abbreviation(text, m.start()):
            continue
        end = m.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
        start = nxt
    end = n
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """The sentences of `text`, in order."""
    return [text[a:b] for a, b in sentence_spans(text)]
