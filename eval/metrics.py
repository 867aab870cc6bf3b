"""Scoring for the evaluation: pure functions over plain data, so every number in a report can be recomputed.

Retrieval metrics compare a system's ranked source titles with the question's gold titles. Answer metrics read
the answer text and the citations. The citation-support checker here is deliberately separate from
paperqa/answer.py's own attribution code, so paperqa is not graded by the code that made its citations.

`metrics_from_rows(rows)` turns the per-question rows (as written to rows.jsonl) into the whole metrics.json.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ANSWERABLE = "answerable"
UNANSWERABLE_TYPE = "unanswerable"
K_NDCG = 10
K_RECALL = 10

# --- titles ----------------------------------------------------------------------------------------------------------


def norm_title(title: str) -> str:
    """Case-, accent- and punctuation-insensitive title, so 'TunesFormer: Forming…' matches however it was typed."""
    t = unicodedata.normalize("NFKD", title)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9α-ω]+", t))


def _dedup(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _gold_set(gold: Iterable[str]) -> set[str]:
    return {norm_title(g) for g in gold}


# --- retrieval -------------------------------------------------------------------------------------------------------


def hit_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """1.0 if any of the first k ranked titles is a gold title, else 0.0."""
    g = _gold_set(gold)
    return 1.0 if any(norm_title(t) in g for t in ranked[:k]) else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str]) -> float:
    """1/rank of the first gold title (ranks from 1), 0.0 if none is ranked."""
    g = _gold_set(gold)
    for i, t in enumerate(ranked, start=1):
        if norm_title(t) in g:
            return 1.0 / i
    return 0.0


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of the gold titles found among the first k ranked titles."""
    g = _gold_set(gold)
    if not g:
        raise ValueError("recall needs at least one gold title")
    found = {norm_title(t) for t in ranked[:k]} & g
    return len(found) / len(g)


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain with linear gains: sum of gain_i / log2(i + 1), ranks i from 1."""
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains, start=1))


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """nDCG@k with graded (or binary) relevance keyed by title.

    The ideal DCG comes from the ideal ordering of ALL relevant items (every positive grade, best first), cut at
    k — not from the relevant items the system happened to retrieve, which would flatter a system that finds one
    of three gold papers. A title ranked twice counts once (its first position).
    """
    rel = {norm_title(t): float(r) for t, r in relevance.items() if r > 0}
    if not rel:
        raise ValueError("nDCG needs at least one relevant item")
    seen = _dedup(norm_title(t) for t in ranked)
    gains = [rel.get(t, 0.0) for t in seen[:k]]
    ideal = sorted(rel.values(), reverse=True)[:k]
    return dcg(gains) / dcg(ideal)


# --- answers ---------------------------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


_VERDICT = re.compile(r"\W*(yes|no)\b", re.IGNORECASE)


def answer_correct(answer: str, must_include: Sequence[str], refused: bool = False, qtype: str = "") -> bool | None:
    """All must_include strings occur in the answer (case-insensitive). None when nothing is required.

    A refusal is never correct: paperqa's refusal lists the closest titles, which may contain the string.
    A yes/no question's first must_include is its verdict, which must be the answer's first word: a bare
    substring test would find "no" in "not" or "novel".
    """
    if not must_include:
        return None
    if refused:
        return False
    text = _fold(answer)
    if qtype == "yesno" and must_include[0].lower() in ("yes", "no"):
        verdict = _VERDICT.match(answer)
        if verdict is None or verdict.group(1).lower() != must_include[0].lower():
            return False
        must_include = must_include[1:]
    return all(_fold(m) in text for m in must_include)


def citation_precision(cited_titles: Sequence[str], gold: Iterable[str]) -> float | None:
    """Share of citations (each one, duplicates included) whose paper is a gold paper; None with no citations."""
    if not cited_titles:
        return None
    g = _gold_set(gold)
    return sum(1 for t in cited_titles if norm_title(t) in g) / len(cited_titles)


def citation_recall(cited_titles: Sequence[str], gold: Iterable[str]) -> float:
    """Share of the gold papers cited at least once."""
    g = _gold_set(gold)
    if not g:
        raise ValueError("citation recall needs at least one gold title")
    return len({norm_title(t) for t in cited_titles} & g) / len(g)


# --- citation support (ALCE-style, by exact terms) -------------------------------------------------------------------

_MARKER = re.compile(r"\[\s*(\d+(?:\s*[,\-–]\s*\d+)*)\s*\]")
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\[\"'(A-Z0-9])")
_NUM = re.compile(r"(?<![A-Za-z0-9.])\d+(?:,\d{3})*(?:\.\d+)?")
_TOKEN = re.compile(r"[A-Za-z0-9α-ωΑ-Ω][A-Za-z0-9α-ωΑ-Ω.\-+/']*")
_ALNUM = re.compile(r"[a-z0-9α-ω]+")
_NOT_NAMES = frozenset("i a an the this that these those it its we our they their he she his her there here in on "
                       "of for to and or but by with from as at is are was were be yes no".split())


def marker_numbers(marker_body: str) -> list[int]:
    """'1, 3-5' -> [1, 3, 4, 5]."""
    out: list[int] = []
    for part in re.split(r"\s*,\s*", marker_body.strip()):
        if re.search(r"[\-–]", part):
            a, b = (int(x) for x in re.split(r"\s*[\-–]\s*", part))
            out.extend(range(min(a, b), max(a, b) + 1))
        elif part:
            out.append(int(part))
    return out


def answer_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """The answer's claim sentences with the citation numbers each carries, markers removed from the text.

    Lines are split first (list answers put one paper per line), then sentences. A marker that opens a piece
    ('… claim. [2] Next …') belongs to the sentence before it. Lines ending in ':' are headers, not claims.
    """
    pieces: list[str] = []
    for line in answer.splitlines():
        line = line.strip()
        if line:
            pieces.extend(p.strip() for p in _SPLIT.split(line) if p.strip())
    out: list[tuple[str, list[int]]] = []
    for piece in pieces:
        lead = re.match(r"^(\s*\[\s*\d+(?:\s*[,\-–]\s*\d+)*\s*\])+", piece)
        if lead and out:
            out[-1][1].extend(n for m in _MARKER.finditer(lead.group(0)) for n in marker_numbers(m.group(1)))
            piece = piece[lead.end():].strip()
            if not piece:
                continue
        marks = [n for m in _MARKER.finditer(piece) for n in marker_numbers(m.group(1))]
        text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(_MARKER.sub(" ", piece).split()))
        if not text or text.endswith(":") or not re.search(r"[A-Za-z0-9]", text):
            continue
        out.append((text, _dedup_ints(marks)))
    return out


def _dedup_ints(xs: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(xs))


def claim_numbers(text: str) -> set[str]:
    """Numbers stated in a text, thousands separators removed: '178,238 models, 2-5x' -> {'178238', '2', '5'}."""
    return {m.group(0).replace(",", "") for m in _NUM.finditer(text)}


def claim_entities(sentence: str) -> list[str]:
    """Names a sentence asserts: acronyms and CamelCase ('RAR', 'GReaT'), words mixing letters and digits
    ('ImageNet-256', 'L1'), and capitalised words that do not open the sentence ('Stable Diffusion')."""
    out: list[str] = []
    first = True
    for m in _TOKEN.finditer(sentence):
        tok = m.group(0).strip(".-'/+")
        if not tok:
            continue
        letters = any(c.isalpha() for c in tok)
        digits = any(c.isdigit() for c in tok)
        inner_upper = any(c.isupper() for c in tok[1:])
        capital = tok[0].isupper() and not first and tok.lower() not in _NOT_NAMES
        opens_clause = first or sentence[: m.start()].rstrip().endswith((":", ";", "-", "(", "\"", "'"))
        if letters and (inner_upper or (digits and letters) or (capital and not opens_clause)):
            out.append(tok)
        first = False
    return _dedup(out)


def _tokens(text: str) -> list[str]:
    return _ALNUM.findall(unicodedata.normalize("NFKC", text).lower())


def _contains_seq(haystack: list[str], needle: list[str]) -> bool:
    """`needle` occurs as consecutive tokens in `haystack` (a trailing plural 's' is forgiven per token)."""
    def same(a: str, b: str) -> bool:
        return a == b or a.rstrip("s") == b.rstrip("s")

    n = len(needle)
    return n > 0 and any(all(same(haystack[i + j], needle[j]) for j in range(n)) for i in range(len(haystack) - n + 1))


def sentence_supported(sentence: str, sources: Sequence[str]) -> bool:
    """True if the cited source texts together contain every number and every name in the sentence."""
    joined = " \n ".join(sources)
    if not claim_numbers(sentence) <= claim_numbers(joined):
        return False
    toks = _tokens(joined)
    return all(_contains_seq(toks, _tokens(e)) for e in claim_entities(sentence) if _tokens(e))


def _citation_texts(citations: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Citation number -> the text it offers as support: the paper's title and the quote (an ALCE passage is
    title plus text too)."""
    return {int(c["n"]): f"{c.get('title', '')}\n{c.get('quote', '')}" for c in citations}


def citation_support(answer: str, citations: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of the answer's claim sentences that carry a citation whose quote(s) contain all the sentence's numbers
    and names. Sentences without an in-text citation count as unsupported. None when there is no claim sentence."""
    sents = answer_sentences(answer)
    if not sents:
        return None
    texts = _citation_texts(citations)
    ok = 0
    for text, marks in sents:
        cited = [texts[n] for n in marks if n in texts]
        if cited and sentence_supported(text, cited):
            ok += 1
    return ok / len(sents)


def claim_grounding(answer: str, citations: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of claim sentences whose numbers and names appear in ANY of the answer's cited texts, ignoring which
    marker points where: a hallucination check that also applies to systems without in-text citations."""
    sents = answer_sentences(answer)
    if not sents:
        return None
    pool = list(_citation_texts(citations).values())
    if not pool:
        return 0.0
    return sum(1 for text, _ in sents if sentence_supported(text, pool)) / len(sents)


# --- latency ---------------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# --- per question and aggregate --------------------------------------------------------------------------------------


def question_scores(row: Mapping[str, Any]) -> dict[str, float | bool | None]:
    """Every per-question score for one row of rows.jsonl; None where a score does not apply."""
    gold = list(row.get("gold_titles") or [])
    ranked = _dedup(s["title"] for s in row.get("sources") or [])
    cites = list(row.get("citations") or [])
    cited_titles = [c["title"] for c in cites]
    refused = bool(row.get("refused"))
    answerable = row.get("type") != UNANSWERABLE_TYPE and bool(gold)
    s: dict[str, float | bool | None] = {
        "hit@1": None, "hit@5": None, "mrr": None, "ndcg@10": None, "recall@10": None,
        "correct": None, "citation_precision": None, "citation_recall": None,
        "citation_support": None, "claim_grounding": None,
        "refused": refused,
    }
    if answerable:
        s["hit@1"] = hit_at_k(ranked, gold, 1)
        s["hit@5"] = hit_at_k(ranked, gold, 5)
        s["mrr"] = reciprocal_rank(ranked, gold)
        s["ndcg@10"] = ndcg_at_k(ranked, {g: 1.0 for g in gold}, K_NDCG)
        s["recall@10"] = recall_at_k(ranked, gold, K_RECALL)
        s["correct"] = answer_correct(str(row.get("answer", "")), list(row.get("must_include") or []), refused,
                                      str(row.get("type", "")))
        s["citation_precision"] = citation_precision(cited_titles, gold)
        s["citation_recall"] = citation_recall(cited_titles, gold)
    if not refused and not row.get("error"):
        s["citation_support"] = citation_support(str(row.get("answer", "")), cites)
        s["claim_grounding"] = claim_grounding(str(row.get("answer", "")), cites)
    return s


def _mean(xs: Iterable[float | bool | None]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | int | None]:
    """Headline metrics over a group of rows of one system (means of the applicable per-question scores)."""
    scores = [question_scores(r) for r in rows]
    answerable = [s for r, s in zip(rows, scores, strict=True) if r.get("type") != UNANSWERABLE_TYPE]
    unanswerable = [s for r, s in zip(rows, scores, strict=True) if r.get("type") == UNANSWERABLE_TYPE]
    multi = [s for r, s in zip(rows, scores, strict=True) if r.get("type") == "multi"]

    def lat(key: str) -> list[float]:
        return [float(r["timings_ms"][key]) for r in rows if (r.get("timings_ms") or {}).get(key) is not None]

    out: dict[str, float | int | None] = {
        "n": len(rows),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "errors": sum(1 for r in rows if r.get("error")),
    }
    for key in ("hit@1", "hit@5", "mrr", "ndcg@10", "recall@10"):
        out[key] = _mean(s[key] for s in answerable)
    out["recall@10_multi"] = _mean(s["recall@10"] for s in multi)
    out["correct"] = _mean(s["correct"] for s in answerable)
    out["citation_precision"] = _mean(s["citation_precision"] for s in answerable)
    out["citation_recall"] = _mean(s["citation_recall"] for s in answerable)
    out["citation_support"] = _mean(s["citation_support"] for s in scores)
    out["claim_grounding"] = _mean(s["claim_grounding"] for s in scores)
    out["refusal_rate"] = _mean(s["refused"] for s in unanswerable)
    out["false_refusal_rate"] = _mean(s["refused"] for s in answerable)
    total, first = lat("total"), lat("first_token")
    out["latency_total_p50_ms"] = percentile(total, 50)
    out["latency_total_p95_ms"] = percentile(total, 95)
    out["latency_first_token_p50_ms"] = percentile(first, 50)
    out["latency_first_token_p95_ms"] = percentile(first, 95)
    return out


def metrics_from_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """metrics.json from rows.jsonl: per system, overall and by type, split, and split x type."""
    systems = _dedup(str(r["system"]) for r in rows)
    out: dict[str, Any] = {}
    for name in systems:
        mine = [r for r in rows if r["system"] == name]
        types = sorted({str(r["type"]) for r in mine})
        splits = sorted({str(r["split"]) for r in mine})
        out[name] = {
            "all": aggregate(mine),
            "by_type": {t: aggregate([r for r in mine if r["type"] == t]) for t in types},
            "by_split": {sp: aggregate([r for r in mine if r["split"] == sp]) for sp in splits},
            "by_split_type": {sp: {t: aggregate([r for r in mine if r["split"] == sp and r["type"] == t])
                                   for t in types if any(r["split"] == sp and r["type"] == t for r in mine)}
                              for sp in splits},
        }
    return out
