"""Hybrid retrieval: dense (Chroma + MiniLM) and BM25 fused into one paper-level ranking.

Both retrievers work on chunks; several chunks of one paper count once (its best rank), because a
citation names a paper and a source list with one paper three times wastes the reader's attention.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperqa.embed import Embedder
from paperqa.lexical import BM25Index
from paperqa.settings import RetrievalSettings
from paperqa.store import PaperStore, StoredPaper

FUSIONS = ("rrf", "dense", "bm25", "weighted")


@dataclass
class PaperHit:
    """One retrieved paper with the evidence of why."""

    paper: StoredPaper
    score: float
    dense_sim: float | None = None  # best chunk cosine similarity to the question
    dense_rank: int | None = None
    bm25_score: float | None = None
    bm25_rank: int | None = None
    chunk_ids: list[str] = field(default_factory=list)

    @property
    def paper_id(self) -> str:
        return self.paper.paper_id

    @property
    def title(self) -> str:
        return self.paper.title


@dataclass
class Retrieval:
    query: str
    query_vec: np.ndarray
    hits: list[PaperHit]
    timings_ms: dict[str, float]


def lexical_index_dir(store: PaperStore) -> Path:
    """Where this store's BM25 index lives: under PAPERQA_HOME, keyed by collection and server."""
    where = store.settings.chroma_url or "embedded"
    key = hashlib.sha1(where.encode()).hexdigest()[:8]
    return Path(store.settings.home) / "bm25" / f"{store.settings.collection}-{key}"


def build_lexical_index(store: PaperStore, generation: int | None = None, save: bool = True) -> BM25Index:
    """BM25 over every chunk of every complete paper, saved next to the store (unless `save` is False)."""
    gen = store.generation() if generation is None else generation
    complete = set(store.stored_hashes())
    ids, pids, texts = store.all_chunks()
    keep = [i for i, p in enumerate(pids) if p in complete]
    index = BM25Index.build([ids[i] for i in keep], [pids[i] for i in keep], [texts[i] for i in keep], gen)
    if save:
        index.save(lexical_index_dir(store))
    return index


def _best_per_paper(items: list[tuple[str, str, float]]) -> dict[str, tuple[int, float, list[str]]]:
    """paper_id -> (paper rank, best score, chunk ids best first) from chunk hits sorted best first."""
    out: dict[str, tuple[int, float, list[str]]] = {}
    for cid, pid, score in items:
        if pid in out:
            out[pid][2].append(cid)
        else:
            out[pid] = (len(out) + 1, score, [cid])
    return out


class Retriever:
    """Finds the papers that bear on a question."""

    def __init__(self, store: PaperStore, embedder: Embedder, settings: RetrievalSettings) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self._lexical: BM25Index | None = None
        self._lexical_key: tuple[int, int] = (-1, -1)
        self._lock = threading.Lock()

    def lexical(self) -> BM25Index:
        """The BM25 index for the store's current generation: loaded once, rebuilt only if stale."""
        gen, dirty = self.store.state()
        # While a write is open (or was cut short by a crash) no saved index can be trusted, even one saved under
        # this generation: build from the store itself, keep it in memory only, and rebuild when the paper count moves.
        key = (gen, self.store.count_papers() if dirty else -1)
        with self._lock:
            if self._lexical is None or self._lexical_key != key:
                index = None if dirty else BM25Index.load(lexical_index_dir(self.store))
                if index is None or index.generation != gen:
                    index = build_lexical_index(self.store, gen, save=not dirty)
                self._lexical = index
                self._lexical_key = key
            return self._lexical

    def retrieve(self, query: str, k: int | None = None, fusion: str | None = None,
                 query_vec: np.ndarray | None = None) -> Retrieval:
        k = k or self.settings.top_k
        fusion = fusion or self.settings.fusion
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {FUSIONS} (PAPERQA_FUSION)")
        n = max(self.settings.candidates, k * 4)
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        if query_vec is None:
            query_vec = self.embedder.encode([query])[0]
        t1 = time.perf_counter()
        timings["embed_query"] = (t1 - t0) * 1000
        dense = {}
        if fusion != "bm25":
            dense = _best_per_paper([(h.chunk_id, h.paper_id, h.similarity)
                                     for h in self.store.dense_search(query_vec, n)])
        t2 = time.perf_counter()
        timings["dense"] = (t2 - t1) * 1000
        lexical = {}
        if fusion != "dense":
            lexical = _best_per_paper([(h.chunk_id, h.paper_id, h.score) for h in self.lexical().search(query, n)])
        t3 = time.perf_counter()
        timings["bm25"] = (t3 - t2) * 1000

        scores = self._fuse(dense, lexical, fusion)
        ranked = sorted(scores, key=lambda pid: (-scores[pid], pid))
        hits: list[PaperHit] = []
        pos = 0
        # Papers are fetched a few spare at a time: chunks whose paper record is missing (an interrupted write)
        # are skipped, and the next candidates fill their place.
        while len(hits) < k and pos < len(ranked):
            batch = ranked[pos: pos + k * 2]
            pos += len(batch)
            papers = self.store.get_papers(batch)
            for pid in batch:
                if pid not in papers or len(hits) == k:
                    continue
                d = dense.get(pid)
                b = lexical.get(pid)
                chunk_ids = list(dict.fromkeys((d[2] if d else []) + (b[2] if b else [])))
                hits.append(PaperHit(paper=papers[pid], score=scores[pid], dense_sim=d[1] if d else None,
                                     dense_rank=d[0] if d else None, bm25_score=b[1] if b else None,
                                     bm25_rank=b[0] if b else None, chunk_ids=chunk_ids))
        timings["fuse"] = (time.perf_counter() - t3) * 1000
        timings["retrieve"] = (time.perf_counter() - t0) * 1000
        return Retrieval(query=query, query_vec=query_vec, hits=hits, timings_ms=timings)

    def _fuse(self, dense: dict[str, tuple[int, float, list[str]]], lexical: dict[str, tuple[int, float, list[str]]],
              fusion: str) -> dict[str, float]:
        if fusion == "dense":
            return {pid: v[1] for pid, v in dense.items()}
        if fusion == "bm25":
            return {pid: v[1] for pid, v in lexical.items()}
        if fusion == "rrf":
            c = self.settings.rrf_k
            out: dict[str, float] = {}
            for ranking in (dense, lexical):
                for pid, (rank, _, _) in ranking.items():
                    out[pid] = out.get(pid, 0.0) + 1.0 / (c + rank)
            return out
        # weighted: min-max normalised scores, missing counts as 0
        w = self.settings.dense_weight
        out = {}
        for ranking, weight in ((dense, w), (lexical, 1.0 - w)):
            if not ranking:
                continue
            vals = [v[1] for v in ranking.values()]
            lo, hi = min(vals), max(vals)
            for pid, (_, s, _) in ranking.items():
                out[pid] = out.get(pid, 0.0) + weight * ((s - lo) / (hi - lo) if hi > lo else 1.0)
        return out
