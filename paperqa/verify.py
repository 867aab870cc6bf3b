"""Verification of what a model writes: a sentence is kept only when an abstract sentence says the same thing.

Checked, for each sentence of a draft against its best evidence sentence:
- every number in the claim is in the evidence, attached to the same thing: the words next to the number in the
  claim (its quantity, "FID", "parameters") are next to it in the evidence too, so a right number for the wrong
  quantity ("1.52", another model's FID, in a sentence about RAR) fails;
- every name in the claim is in the evidence or its paper's title;
- no relation the evidence lacks ("faster", "best");
- most of the claim's content words are in the evidence.
Degenerate drafts never pass: repeated sentences, a sentence that only echoes the question or a title, a "fact"
without content ("X has 1 parameters: 1").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paperqa.evidence import Sentence
from paperqa.lexical import STOPWORDS
from paperqa.sentences import sentence_spans
from paperqa.terms import (
    WORD,
    comparatives,
    content_roots,
    key_terms,
    number_positions,
    numbers,
    squash,
    strip_citations,
    term_in,
    word_root,
)

_IDK = re.compile(r"\b(i\s+(do\s+not|don'?t)\s+know|not\s+(mentioned|provided|stated|specified)|no\s+information|"
                  r"cannot\s+(answer|determine)|unknown)\b", re.IGNORECASE)
_ATTACH_WINDOW = 4


@dataclass
class Verified:
    text: str           # the claim as written by the model
    evidence: Sentence  # the sentence that supports it
    support: float


def _label(words: list[str], i: int) -> set[str]:
    """The content words within a few words of position i: what a number there measures."""
    return {w for w in words[max(0, i - _ATTACH_WINDOW): i + _ATTACH_WINDOW + 1]
            if len(w) > 2 and not w[0].isdigit() and w not in STOPWORDS}


def attached(claim: str, evidence: str) -> bool:
    """Every number of the claim stands next to the same words in the evidence (what it measures: "FID",
    "parameters"), so a number the evidence gives for something else does not pass."""
    c_words = [word_root(w) for w in WORD.findall(claim)]
    e_words = [word_root(w) for w in WORD.findall(evidence)]
    e_positions: dict[str, list[int]] = {}
    for n, i in number_positions(evidence):
        e_positions.setdefault(n, []).append(i)
    for n, i in number_positions(claim):
        near = _label(c_words, i)
        if near and not any(near & _label(e_words, j) for j in e_positions.get(n, [])):
            return False
    return True


def support(claim: str, s: Sentence) -> float:
    """How well sentence `s` supports `claim`: 0 when a number, name or relation is missing or a number is attached
    to something else, else the share of the claim's content words found in the sentence or its paper's title."""
    src = s.text + " " + s.title
    if not numbers(claim) <= numbers(src):
        return 0.0
    if not attached(claim, s.text) and not attached(claim, s.title):
        return 0.0
    squashed = squash(src)
    if not all(term_in(t, squashed) for t in key_terms(claim, skip_first=False) if not t.isdigit()):
        return 0.0
    if not comparatives(claim) <= comparatives(src):
        return 0.0
    roots = content_roots(claim)
    if len(roots) < 2:
        return 0.0
    return len(roots & content_roots(src)) / len(roots)


def restates(sentence: str, question: str) -> bool:
    """A question, or a sentence that only repeats the question's words and numbers, claims nothing."""
    s = sentence.strip()
    if s.endswith("?"):
        return True
    return not (content_roots(s) - content_roots(question)) and numbers(s) <= numbers(question)


def degenerate(sentence: str, question: str, titles: list[str]) -> bool:
    """Sentences that pass word overlap but say nothing: echoes of the question or of a title, content-free
    'facts' whose only number is a tiny count with no quantity beside it."""
    if _IDK.search(sentence) or restates(sentence, question):
        return True
    bare = squash(sentence)
    if any(bare and bare in squash(t) for t in titles):
        return True
    roots = content_roots(sentence) - content_roots(question)
    return not roots or len(set(WORD.findall(sentence.lower()))) < 4


def draft_sentences(draft: str) -> list[str]:
    """The model's sentences, without its own citation marks, copied title prefixes or a sentence cut off."""
    cleaned = strip_citations(draft).strip()
    cleaned = re.sub(r"^(answer|a)\s*:\s*", "", cleaned, flags=re.IGNORECASE)
    cleaned = re.sub(r"(^|(?<=[.!?]\s))\([^()]{3,200}\)\s*", "", cleaned)
    sentences = [cleaned[a:b].strip() for a, b in sentence_spans(cleaned)]
    if sentences and not re.search(r"[.!?)\"']$", sentences[-1]) and len(sentences) > 1:
        sentences = sentences[:-1]
    out: list[str] = []
    for s in sentences:  # a repeated sentence is kept once
        if squash(s) not in {squash(o) for o in out}:
            out.append(s)
    return out


def verify_draft(draft: str, question: str, evidence: list[Sentence], min_support: float
                 ) -> tuple[list[Verified], list[str]]:
    """(the draft sentences an evidence sentence supports, the ones dropped)."""
    kept: list[Verified] = []
    dropped: list[str] = []
    titles = list({s.title for s in evidence})
    for sent in draft_sentences(draft):
        if degenerate(sent, question, titles):
            dropped.append(sent)
            continue
        scored = [(support(sent, e), e) for e in evidence if not e.suspicious]
        best_score, best = max(scored, key=lambda x: x[0], default=(0.0, None))
        if best is None or best_score < min_support:
            dropped.append(sent)
            continue
        kept.append(Verified(sent, best, best_score))
    return kept, dropped
