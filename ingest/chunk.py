"""Sentence-aligned chunking that never silently truncates.

all-MiniLM-L6-v2 reads at most 256 word pieces and drops the rest without a word; abstracts run to
~450. So each abstract is cut at sentence boundaries into chunks that fit, each prefixed with the
title (which carries most of the topical signal), keeping character offsets into the abstract.
"""

from __future__ import annotations

from collections.abc import Callable

from paperqa.records import Chunk, Paper
from paperqa.sentences import sentence_spans

TokenCounter = Callable[[str], int]
SPECIAL_TOKENS = 2  # [CLS] and [SEP]


def _word_pieces(text: str, start: int, end: int, count: TokenCounter, budget: int) -> list[tuple[int, int]]:
    """Split one over-long sentence at word boundaries into spans of at most `budget` tokens."""
    spans: list[tuple[int, int]] = []
    words: list[tuple[int, int]] = []
    i = start
    while i < end:
        while i < end and text[i].isspace():
            i += 1
        j = i
        while j < end and not text[j].isspace():
            j += 1
        if j > i:
            words.append((i, j))
        i = j
    cur_start: int | None = None
    cur_tokens = 0
    cur_end = start
    for a, b in words:
        t = count(text[a:b])
        if t > budget:  # a single "word" longer than the budget (e.g. a URL soup): cut by characters
            if cur_start is not None:
                spans.append((cur_start, cur_end))
                cur_start, cur_tokens = None, 0
            step = max(1, (b - a) * budget // max(t, 1))
            s = a
            while s < b:  # token density varies along a word: check each slice, shrink it until it fits
                e = min(b, s + step)
                while e - s > 1 and count(text[s:e]) > budget:
                    e = s + max(1, (e - s) * 3 // 4)
                spans.append((s, e))
                s = e
            continue
        if cur_start is not None and cur_tokens + t > budget:
            spans.append((cur_start, cur_end))
            cur_start, cur_tokens = None, 0
        if cur_start is None:
            cur_start = a
        cur_tokens += t
        cur_end = b
    if cur_start is not None:
        spans.append((cur_start, cur_end))
    return spans


def chunk_paper(paper: Paper, count_tokens: TokenCounter, max_tokens: int = 256) -> list[Chunk]:
    """Chunks covering the whole abstract; `count_tokens` counts word pieces without special tokens."""
    title = paper.title
    title_tokens = count_tokens(title)
    while title_tokens > max_tokens // 2:  # keep room for content: the prefix is context, the abstract is content
        keep = max(1, min(len(title) - 1, len(title) * (max_tokens // 2) // max(title_tokens, 1)))
        title = title[:keep].rstrip()
        title_tokens = count_tokens(title)
    budget = max_tokens - SPECIAL_TOKENS - title_tokens
    abstract = paper.abstract

    pieces: list[tuple[int, int, int]] = []  # (start, end, tokens)
    for a, b in sentence_spans(abstract):
        t = count_tokens(abstract[a:b])
        if t <= budget:
            pieces.append((a, b, t))
        else:
            pieces.extend((s, e, count_tokens(abstract[s:e])) for s, e in _word_pieces(abstract, a, b, count_tokens,
                                                                                       budget))
    groups: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    cur_tokens = 0
    for a, b, t in pieces:
        merged = cur_tokens + t
        if cur is not None and a == cur[1] and merged <= budget:
            # Counts add up across white space, not across a cut inside a word: re-count the joined span there.
            merged = count_tokens(abstract[cur[0]:b])
        if cur is not None and merged <= budget:
            cur = (cur[0], b)
            cur_tokens = merged
        else:
            if cur is not None:
                groups.append(cur)
            cur, cur_tokens = (a, b), t
    if cur is not None:
        groups.append(cur)
    return [
        Chunk(paper_id=paper.paper_id, index=i, start=a, end=b, text=f"{title}\n{abstract[a:b]}", title=paper.title)
        for i, (a, b) in enumerate(groups)
    ]
