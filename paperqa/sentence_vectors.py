"""Vectors of every abstract sentence, computed once per abstract and kept on disk.

Choosing evidence needs a vector for each sentence of each retrieved abstract. Embedding them at
question time costs ~40-250 ms per question (five abstracts, ~40 sentences) on a 2-core CPU; the
abstracts hardly ever change, so the vectors are kept in an in-memory LRU backed by one `.npy` file per
abstract under the cache folder, and `warm()` fills both for a whole store in one batched encode
(at UI start-up or after an ingest).

The file name hashes the embedder's identity (name and backend), the paper's content hash and the
exact sentence spans, so a changed abstract, a changed sentence splitter or another embedder can never
be served stale vectors.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from paperqa.embed import Embedder
from paperqa.sentences import sentence_spans

Spans = list[tuple[int, int]]


class PaperLike(Protocol):
    """What `warm` needs of a paper (StoredPaper and Paper both qualify)."""

    @property
    def paper_id(self) -> str: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def abstract(self) -> str: ...


def embedder_key(embedder: Embedder) -> str:
    """A folder-safe name for the vectors one embedder (and backend) makes."""
    ident = f"{embedder.name}|{getattr(embedder, 'backend', 'torch')}|{embedder.settings.embed_max_tokens}"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", embedder.name.split("/")[-1]).strip("-")[:40]
    return f"{slug}-{getattr(embedder, 'backend', 'torch')}-{hashlib.sha1(ident.encode()).hexdigest()[:8]}"


class SentenceVectors:
    """Sentence spans and unit vectors of abstracts: memory LRU, then disk, then the embedder."""

    def __init__(self, embedder: Embedder, cache_dir: Path | None, max_items: int = 4096) -> None:
        self.embedder = embedder
        self.folder = Path(cache_dir) / embedder_key(embedder) if cache_dir is not None else None
        self.max_items = max_items
        self._memory: OrderedDict[str, tuple[Spans, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.stats = {"memory": 0, "disk": 0, "encoded": 0}

    # -- keys and files -------------------------------------------------------------------------
    @staticmethod
    def key(content_hash: str, abstract: str, spans: Spans) -> str:
        h = hashlib.sha1(content_hash.encode())
        h.update(hashlib.sha1(abstract.encode()).digest())
        h.update(",".join(f"{a}:{b}" for a, b in spans).encode())
        return h.hexdigest()

    def _file(self, key: str) -> Path | None:
        return self.folder / key[:2] / f"{key}.npy" if self.folder is not None else None

    def _read(self, key: str, n: int) -> np.ndarray | None:
        path = self._file(key)
        if path is None or not path.exists():
            return None
        try:
            vecs = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # torn or foreign file: recompute and overwrite
        if vecs.ndim != 2 or vecs.shape[0] != n or vecs.dtype != np.float32:
            return None
        return vecs

    def _write(self, key: str, vecs: np.ndarray) -> None:
        path = self._file(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            with open(tmp, "wb") as fh:
                np.save(fh, vecs, allow_pickle=False)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only or full disk only costs speed, never an answer

    def _remember(self, key: str, value: tuple[Spans, np.ndarray]) -> None:
        with self._lock:
            self._memory[key] = value
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_items:
                self._memory.popitem(last=False)

    # -- public ---------------------------------------------------------------------------------
    def get(self, paper_id: str, content_hash: str, abstract: str) -> tuple[Spans, np.ndarray]:
        """(sentence spans, one unit vector per sentence) of `abstract`."""
        spans = sentence_spans(abstract)
        key = self.key(content_hash, abstract, spans)
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                self.stats["memory"] += 1
                return hit
        vecs = self._read(key, len(spans))
        if vecs is not None:
            self.stats["disk"] += 1
        else:
            vecs = self.embedder.encode([abstract[a:b] for a, b in spans])
            self.stats["encoded"] += 1
            self._write(key, vecs)
        self._remember(key, (spans, vecs))
        return spans, vecs

    def warm(self, papers: Iterable[PaperLike], batch_size: int | None = None) -> int:
        """Make sure every paper's sentence vectors are cached: one batched encode for all missing ones.

        Returns how many papers had to be embedded."""
        todo: list[tuple[str, str, Spans]] = []
        seen: set[str] = set()
        for p in papers:
            spans = sentence_spans(p.abstract)
            key = self.key(p.content_hash, p.abstract, spans)
            if key in seen:
                continue
            seen.add(key)
            with self._lock:
                if key in self._memory:
                    continue
            vecs = self._read(key, len(spans))
            if vecs is not None:
                if len(self._memory) < self.max_items:
                    self._remember(key, (spans, vecs))
                continue
            todo.append((key, p.abstract, spans))
        if not todo:
            return 0
        texts = [abstract[a:b] for _, abstract, spans in todo for a, b in spans]
        all_vecs = self.embedder.encode(texts, batch_size=batch_size)
        pos = 0
        for key, _, spans in todo:
            vecs = np.ascontiguousarray(all_vecs[pos:pos + len(spans)], dtype=np.float32)
            pos += len(spans)
            self._write(key, vecs)
            self._remember(key, (spans, vecs))
        self.stats["encoded"] += len(todo)
        return len(todo)
