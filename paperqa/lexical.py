"""BM25 over chunks: exact-term matching for what embeddings blur (acronyms, numbers, method names).

Built at ingest time from the chunks in the store and saved under PAPERQA_HOME with the store
generation it reflects; readers load it and rebuild only when that generation is stale (a crash
between a store write and the index save, or a write by another process).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

_TOKEN = re.compile(r"[a-z0-9α-ω]+(?:[.\-][a-z0-9α-ω]+)*")
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
    """Okapi BM25 with precomputed per-term weights in a sparse term x chunk matrix."""

    def __init__(self, chunk_ids: list[str], paper_ids: list[str], vocab: dict[str, int],
                 weights: sparse.csr_matrix, generation: int) -> None:
        self.chunk_ids = chunk_ids
        self.paper_ids = paper_ids
        self.vocab = vocab
        self.weights = weights  # terms x chunks
        self.generation = generation
        self._df: np.ndarray | None = None

    @classmethod
    def build(cls, chunk_ids: list[str], paper_ids: list[str], texts: list[str], generation: int,
              k1: float = 1.5, b: float = 0.75) -> BM25Index:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for j, text in enumerate(texts):
            counts: dict[int, int] = {}
            toks = tokenize(text)
            lengths[j] = len(toks)
            for t in toks:
                i = vocab.setdefault(t, len(vocab))
                counts[i] = counts.get(i, 0) + 1
            for i, c in counts.items():
                rows.append(i)
                cols.append(j)
                vals.append(c)
        n = max(len(texts), 1)
        tf = sparse.csr_matrix((np.asarray(vals, dtype=np.float32), (rows, cols)),
                               shape=(len(vocab), len(texts)))
        df = np.diff(tf.indptr).astype(np.float32)
        idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        avg = float(lengths.mean()) if len(texts) else 1.0
        coo = tf.tocoo()
        norm = k1 * (1 - b + b * lengths[coo.col] / max(avg, 1e-9))
        w = idf[coo.row] * coo.data * (k1 + 1) / (coo.data + norm)
        weights = sparse.csr_matrix((w.astype(np.float32), (coo.row, coo.col)), shape=tf.shape)
        return cls(chunk_ids, paper_ids, vocab, weights, generation)

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency of a (tokenized) term over chunks; highest for unseen terms."""
        if self._df is None:
            self._df = np.diff(self.weights.indptr)
        n = len(self.chunk_ids)
        df = int(self._df[self.vocab[term]]) if term in self.vocab else 0
        return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))

    def search(self, query: str, n: int) -> list[LexicalHit]:
        rows = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        if not rows or not self.chunk_ids:
            return []
        scores = np.asarray(self.weights[rows].sum(axis=0)).ravel()
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
        sparse.save_npz(tmp / "weights.npz", self.weights)
        (tmp / "index.json").write_text(json.dumps({
            "generation": self.generation, "chunk_ids": self.chunk_ids, "paper_ids": self.paper_ids,
            "vocab": self.vocab,
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
            weights = sparse.load_npz(folder / "weights.npz").tocsr()
            index = cls(list(meta["chunk_ids"]), list(meta["paper_ids"]), dict(meta["vocab"]), weights,
                        int(meta["generation"]))
            n_chunks, n_terms = len(index.chunk_ids), len(index.vocab)
            if (len(index.paper_ids) != n_chunks or index.weights.shape != (n_terms, n_chunks)
                    or any(not 0 <= int(i) < n_terms for i in index.vocab.values())):
                return None
        except Exception:  # noqa: BLE001 - a torn or foreign file (bad zip, wrong JSON shape) just means "rebuild"
            return None
        return index
