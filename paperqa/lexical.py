"""BM25 over chunks: exact-term matching for what embeddings blur (acronyms, numbers, method names).

Built at ingest time from the chunks in the store and saved under PAPERQA_HOME with the store
generation it reflects; readers load it and rebuild only when that generation is stale (a crash
between a store write and the index save, or a write by another process).

The index is `bm25s` (method "lucene": idf ln(1 + (N - df + 0.5) / (df + 0.5)), term part tf / (tf + k1 (1 - b +
b |d| / avgdl))); its scores are multiplied by (k1 + 1) so they equal the classic Okapi form paperqa computed itself
before (same numbers, same ranking: bench/libraries.py compares them). Tokenising stays ours: compounds like
'imagenet-256' kept whole and split, plural folding, the answer engine's stop words.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

_TOKEN = re.compile(r"[a-z0-9α-ω]+(?:[.\-][a-z0-9α-ω]+)*")
INDEX_FORMAT = "bm25s-1"  # in index.json; an index without it (or another value) is rebuilt
STOPWORDS = frozenset("""a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from further had has have having
he her here hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or
other our ours out over own same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you
your yours paper papers here propose proposed show shows use uses using used based via""".split())


def _stem(tok: str) -> str:
    """Plural and simple suffix folding, enough to match 'transformers' with 'transformer'."""
    if len(tok) <= 3 or not tok.isalpha():
        return tok
    if tok.endswith("ies") and len(tok) > 4:
        return tok[:-3] + "y"
    if tok.endswith(("sses", "shes", "ches", "xes")):
        return tok[:-2]
    if tok.endswith("s") and not tok.endswith(("ss", "us", "is")):
        return tok[:-1]
    return tok


def tokenize(text: str) -> list[str]:
    """Lower-cased terms; compounds like 'imagenet-256' or '1.48' are kept whole and also split."""
    out: list[str] = []
    for m in _TOKEN.finditer(text.lower()):
        tok = m.group(0)
        if tok not in STOPWORDS:
            out.append(_stem(tok))
        if "-" in tok or "." in tok:
            out.extend(_stem(p) for p in re.split(r"[.\-]", tok) if p and p not in STOPWORDS and len(p) > 1)
    return out


@dataclass
class LexicalHit:
    chunk_id: str
    paper_id: str
    score: float


class BM25Index:
    """Okapi BM25 over chunk texts (bm25s precomputes every term's per-chunk score in a sparse matrix)."""

    def __init__(self, chunk_ids: list[str], paper_ids: list[str], model: bm25s.BM25 | None, generation: int) -> None:
        self.chunk_ids = chunk_ids
        self.paper_ids = paper_ids
        self.model = model  # None for an empty store
        self.generation = generation
        self.vocab: dict[str, int] = model.vocab_dict if model is not None else {}

    @classmethod
    def build(cls, chunk_ids: list[str], paper_ids: list[str], texts: list[str], generation: int,
              k1: float = 1.5, b: float = 0.75) -> BM25Index:
        model = None
        tokens = [tokenize(t) for t in texts]
        if any(tokens):  # chunks with no indexable term (e.g. only non-Latin script) leave nothing to search
            model = bm25s.BM25(k1=k1, b=b, method="lucene")
            model.index(tokens, show_progress=False)
        return cls(chunk_ids, paper_ids, model, generation)

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a (tokenized) term over chunks; highest for unseen terms."""
        n = len(self.chunk_ids)
        df = 0
        if self.model is not None and term in self.vocab:
            indptr = self.model.scores["indptr"]
            df = int(indptr[self.vocab[term] + 1] - indptr[self.vocab[term]])
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    def scores(self, query: str) -> np.ndarray:
        """The query's BM25 score for every chunk (column order of `chunk_ids`); zeros when no term is known.
        Scaled by (k1 + 1), the Okapi form the index used before bm25s, so scores and fitted constants carry over."""
        ids = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        if not ids or self.model is None:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        return np.asarray(self.model.get_scores_from_ids(ids), dtype=np.float32) * (self.model.k1 + 1)

    def search(self, query: str, n: int) -> list[LexicalHit]:
        scores = self.scores(query)
        n = min(n, int(np.count_nonzero(scores)))
        if n <= 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [LexicalHit(self.chunk_ids[i], self.paper_ids[i], float(scores[i])) for i in top]

    def save(self, folder: Path) -> None:
        """Write to a sibling temp folder, then swap it in, so a crash never leaves half an index."""
        folder = Path(folder)
        tmp = folder.with_name(folder.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.model is not None:
            self.model.save(str(tmp))
        (tmp / "index.json").write_text(json.dumps({
            "format": INDEX_FORMAT, "generation": self.generation, "chunk_ids": self.chunk_ids,
            "paper_ids": self.paper_ids,
        }), encoding="utf-8")
        old = folder.with_name(folder.name + f".old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        """The saved index, or None if there is none or it is unreadable."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
            if meta.get("format") != INDEX_FORMAT:
                return None  # written by another version (the scipy index before bm25s): rebuild, never misread
            chunk_ids, paper_ids = list(meta["chunk_ids"]), list(meta["paper_ids"])
            model = bm25s.BM25.load(str(folder)) if (folder / "params.index.json").exists() else None
            index = cls(chunk_ids, paper_ids, model, int(meta["generation"]))
            if len(paper_ids) != len(chunk_ids) or (chunk_ids and model is None):
                return None
            if model is not None:
                scores = model.scores
                n_terms = len(scores["indptr"]) - 1  # bm25s adds "" to the vocabulary after scoring; we never query it
                if (int(scores["num_docs"]) != len(chunk_ids)
                        or not len(scores["data"]) == len(scores["indices"]) == int(scores["indptr"][-1])
                        or any(not 0 <= int(i) < n_terms for t, i in index.vocab.items() if t)):
                    return None
        except Exception:  # noqa: BLE001 - a torn or foreign file (bad npy, wrong JSON shape) just means "rebuild"
            return None
        return index
