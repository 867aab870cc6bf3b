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

FUSIONS = ("rrf", "dense", "bm25", "weighted", "convex")
SCORE_FUSIONS = ("convex",)  # fusions that read every paper's exact BM25 score, not only the top candidates


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
class Candidates:
    """One query's evidence before fusion: paper_id -> (rank, best chunk score, chunk ids best first) per retriever,
    and for score-aware fusions every paper's best-chunk BM25 score (None otherwise)."""

    query_vec: np.ndarray
    dense: dict[str, tuple[int, float, list[str]]]
    lexical: dict[str, tuple[int, float, list[str]]]
    paper_bm25: dict[str, float] | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)


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
        self._columns: tuple[BM25Index, dict[str, np.ndarray]] | None = None
        self._titles: tuple[BM25Index, dict[str, str]] | None = None
        self._title_vecs: dict[tuple[str, str], np.ndarray] = {}
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

    def titles(self) -> dict[str, str]:
        """Paper id -> title for every stored paper, read once per store generation: a paper may go by a name only
        its title's initials spell (see evidence.acronym_in_title), which no search for the name finds."""
        index = self.lexical()
        with self._lock:
            if self._titles is None or self._titles[0] is not index:
                self._titles = (index, {p.paper_id: p.title for p in self.store.list_papers()})
            return self._titles[1]

    def title_similarity(self, hits: list[PaperHit], query_vec: np.ndarray) -> list[float]:
        """Cosine between the question and each hit's title, the titles embedded once per process: a title states a
        paper's topic in few words, which tells members of a "which papers" list from papers that merely mention it."""
        with self._lock:
            missing = [h for h in hits if (h.paper_id, h.title) not in self._title_vecs]
        if missing:
            vecs = self.embedder.encode([h.title for h in missing])
            with self._lock:
                self._title_vecs.update({(h.paper_id, h.title): v for h, v in zip(missing, vecs, strict=True)})
        q = np.asarray(query_vec, dtype=np.float32)
        return [float(self._title_vecs[(h.paper_id, h.title)] @ q) for h in hits]

    def candidates(self, query: str, n: int, fusion: str, query_vec: np.ndarray | None = None) -> Candidates:
        """What fusion works from: each retriever's best `n` chunks folded to papers (dense unless `fusion` is
        "bm25", BM25 unless it is "dense"); score-aware fusions also get every paper's exact BM25 score."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if query_vec is None:
            query_vec = self.embedder.encode([query])[0]
        t1 = time.perf_counter()
        timings["embed_query"] = (t1 - t0) * 1000
        dense: dict[str, tuple[int, float, list[str]]] = {}
        if fusion != "bm25":
            dense = _best_per_paper([(h.chunk_id, h.paper_id, h.similarity)
                                     for h in self.store.dense_search(query_vec, n)])
        t2 = time.perf_counter()
        timings["dense"] = (t2 - t1) * 1000
        lexical: dict[str, tuple[int, float, list[str]]] = {}
        paper_bm25: dict[str, float] | None = None
        if fusion in SCORE_FUSIONS:
            lexical, paper_bm25 = self._lexical_scores(query, n, dense)
        elif fusion != "dense":
            lexical = _best_per_paper([(h.chunk_id, h.paper_id, h.score) for h in self.lexical().search(query, n)])
        timings["bm25"] = (time.perf_counter() - t2) * 1000
        return Candidates(query_vec, dense, lexical, paper_bm25, timings)

    def _lexical_scores(self, query: str, n: int, dense: dict[str, tuple[int, float, list[str]]]
                        ) -> tuple[dict[str, tuple[int, float, list[str]]], dict[str, float]]:
        """The top-n BM25 chunks folded to papers (as `search` gives them), and the exact BM25 score (best chunk) of
        every candidate paper, including those only dense search found: one pass over the query's term rows."""
        index = self.lexical()
        scores = index.scores(query)
        if not scores.any():
            return {}, {}
        m = min(n, int(np.count_nonzero(scores)))
        top = np.argpartition(-scores, m - 1)[:m] if m else np.zeros(0, dtype=int)
        top = top[np.argsort(-scores[top], kind="stable")]
        lexical = _best_per_paper([(index.chunk_ids[i], index.paper_ids[i], float(scores[i])) for i in top])
        paper_bm25 = {pid: v[1] for pid, v in lexical.items()}
        cols = self._paper_columns(index)
        for pid in dense:
            if pid not in paper_bm25 and pid in cols:
                best = float(scores[cols[pid]].max())
                if best > 0:
                    paper_bm25[pid] = best
        return lexical, paper_bm25

    def _paper_columns(self, index: BM25Index) -> dict[str, np.ndarray]:
        """paper_id -> its chunks' columns in `index`, built once per index."""
        with self._lock:
            if self._columns is None or self._columns[0] is not index:
                cols: dict[str, list[int]] = {}
                for i, pid in enumerate(index.paper_ids):
                    cols.setdefault(pid, []).append(i)
                self._columns = (index, {p: np.asarray(c) for p, c in cols.items()})
            return self._columns[1]

    def retrieve(self, query: str, k: int | None = None, fusion: str | None = None,
                 query_vec: np.ndarray | None = None) -> Retrieval:
        k = k or self.settings.top_k
        fusion = fusion or self.settings.fusion
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {FUSIONS} (PAPERQA_FUSION)")
        n = max(self.settings.candidates, k * 4)
        t0 = time.perf_counter()
        cands = self.candidates(query, n, fusion, query_vec)
        timings = dict(cands.timings_ms)
        t3 = time.perf_counter()
        dense, lexical = cands.dense, cands.lexical
        scores = fuse(cands, fusion, self.settings)
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
                bm25 = b[1] if b else (cands.paper_bm25 or {}).get(pid)
                chunk_ids = list(dict.fromkeys((d[2] if d else []) + (b[2] if b else [])))
                hits.append(PaperHit(paper=papers[pid], score=scores[pid], dense_sim=d[1] if d else None,
                                     dense_rank=d[0] if d else None, bm25_score=bm25,
                                     bm25_rank=b[0] if b else None, chunk_ids=chunk_ids))
        timings["fuse"] = (time.perf_counter() - t3) * 1000
        timings["retrieve"] = (time.perf_counter() - t0) * 1000
        return Retrieval(query=query, query_vec=cands.query_vec, hits=hits, timings_ms=timings)


def fuse(cands: Candidates, fusion: str, settings: RetrievalSettings) -> dict[str, float]:
    """paper_id -> fused score (higher is better) for one query's candidates; a pure function, so
    bench/fit_fusion.py can fit the constants on cached candidates and get exactly what retrieve() does."""
    dense, lexical = cands.dense, cands.lexical
    if fusion == "dense":
        return {pid: v[1] for pid, v in dense.items()}
    if fusion == "bm25":
        return {pid: v[1] for pid, v in lexical.items()}
    if fusion == "rrf":
        c = settings.rrf_k
        out: dict[str, float] = {}
        for ranking in (dense, lexical):
            for pid, (rank, _, _) in ranking.items():
                out[pid] = out.get(pid, 0.0) + 1.0 / (c + rank)
        return out
    if fusion == "weighted":  # min-max normalised scores, missing counts as 0
        w = settings.dense_weight
        out = {}
        for ranking, weight in ((dense, w), (lexical, 1.0 - w)):
            if not ranking:
                continue
            vals = [v[1] for v in ranking.values()]
            lo, hi = min(vals), max(vals)
            for pid, (_, s, _) in ranking.items():
                out[pid] = out.get(pid, 0.0) + weight * ((s - lo) / (hi - lo) if hi > lo else 1.0)
        return out
    return _convex(cands, settings)


def _convex(cands: Candidates, settings: RetrievalSettings) -> dict[str, float]:
    """Convex combination of normalised scores, w * cosine / best cosine + (1 - w) * BM25 / best BM25, plus a bonus
    for a paper BM25 ranks first by a wide margin (a rare exact term only it contains), which dense search may
    rank low or miss: RRF counts only ranks, so such a paper fell behind ones both retrievers liked moderately.

    A paper dense search did not return gets the lowest returned cosine (its own is at most that); every candidate's
    BM25 is exact (`Candidates.paper_bm25`). Constants are fitted by bench/fit_fusion.py."""
    w = settings.convex_dense_weight
    dense, bm25 = cands.dense, cands.paper_bm25 or {}
    sims = [v[1] for v in dense.values()]
    lo, hi = (min(sims), max(sims)) if sims else (0.0, 0.0)
    best = sorted(bm25.values(), reverse=True)[:2]
    top = best[0] if best else 0.0
    standout = None
    if len(best) == 2 and best[1] > 0:
        lead = best[0] / best[1] - settings.convex_standout_ratio
        if lead > 0:
            standout = settings.convex_standout_bonus * lead
    out: dict[str, float] = {}
    for pid in dense.keys() | cands.lexical.keys():
        d = dense[pid][1] if pid in dense else lo
        b = bm25.get(pid, 0.0)
        score = w * (d / hi if hi > 0 else 0.0) + (1.0 - w) * (b / top if top > 0 else 0.0)
        if standout is not None and b == top:
            score += standout
        out[pid] = score
    return out
