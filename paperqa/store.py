"""The paper store: Chroma, embedded under PAPERQA_HOME or a server by URL.

Collections per store:
- `<name><set>_chunks`: one record per chunk (vector, text, paper id, offsets), what dense search reads;
- `<name><set>_papers`: one record per paper (title, abstract, metadata, content hash and key). A paper
  record is written last and deleted first, so it doubles as the commit marker: chunks without a paper
  record are leftovers of an interrupted write and are never served, and the next ingest removes them;
- `<name>_meta`: a single record holding the store's generation, bumped after every change, which
  tells the BM25 index (and long-running readers) that they are stale, and which set of collections
  is live (`<set>`: "" for a store's first set, `_r<hex>` for one built by `--rebuild`).

`--rebuild` writes a new set beside the live one (`PaperStore(..., staging=True)`) and `commit()` switches
to it in one write of that record (generation and live set together), then deletes the old set: a
process killed at any point leaves the old store or the new one, never less.

Chroma never embeds anything itself here: every collection is opened with `embedding_function=None`
and always receives our vectors.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import numpy as np

from paperqa.errors import EmbedderMismatchError, StoreError
from paperqa.records import Chunk, Paper, SourceRef, chunk_paper_id, content_key, title_key
from paperqa.settings import StoreSettings

WRITE_BATCH = 1000  # records per Chroma call; well under Chroma's max batch size


@dataclass(frozen=True)
class StoredPaper:
    """A paper as the store returns it."""

    paper_id: str
    title: str
    abstract: str
    content_hash: str
    n_chunks: int
    authors: tuple[str, ...] = ()
    year: int | None = None
    url: str | None = None
    doi: str | None = None
    source: str = ""


@dataclass(frozen=True)
class StoredKeys:
    """What an ingest compares a new record with: its content hash, and the keys of its title+abstract and title."""

    content_hash: str
    key: str
    title_key: str
    title: str


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: str
    paper_id: str
    similarity: float


EXACT_SEARCH_CHUNKS = 5000
_REBUILT_SET = re.compile(r"_r[0-9a-f]{10}")  # the set name a --rebuild gives its collections
T = TypeVar("T")


def chroma_client(settings: StoreSettings):  # type: ignore[no-untyped-def]
    """An embedded PersistentClient under PAPERQA_HOME, or an HttpClient for PAPERQA_CHROMA_URL. No telemetry."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"PAPERQA_CHROMA_URL={settings.chroma_url!r} is not an http(s) URL")
        try:
            return chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                                       ssl=url.scheme == "https", settings=chroma_settings)
        except Exception as exc:
            raise StoreError(f"Cannot reach the Chroma server at PAPERQA_CHROMA_URL={settings.chroma_url}: {exc}. "
                             "Start it (chroma run --host 127.0.0.1 --port 8000 --path DIR) or unset "
                             "PAPERQA_CHROMA_URL to use the embedded store.") from exc
    path = Path(settings.home) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        raise StoreError(f"Cannot open the store at {path} (PAPERQA_HOME): {exc}") from exc


def _missing_collection(exc: Exception) -> bool:
    return type(exc).__name__ in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(exc)


def _reopens(method: Callable[..., T]) -> Callable[..., T]:
    """Why: another process (`paperqa ingest --rebuild`) may delete and recreate the collections while this one
    has them open; Chroma then says the old ones do not exist. Reopen them by name and read again, once."""

    @functools.wraps(method)
    def wrapper(self: PaperStore, *args: object, **kwargs: object) -> T:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not _missing_collection(exc):
                raise
            with self._lock:
                self._open()
            return method(self, *args, **kwargs)

    return wrapper


class PaperStore:
    """Papers and their chunk vectors in Chroma, with the embedder they were made with."""

    def __init__(self, settings: StoreSettings, embedder_name: str, dim: int, staging: bool = False) -> None:
        """Open the live store; `staging=True` creates an empty set beside it instead, for `commit()` to switch to
        (the live store's embedder does not matter then: a rebuild is how a store changes embedder)."""
        self.settings = settings
        self.embedder_name = embedder_name
        self.dim = dim
        self.client = chroma_client(settings)
        self._lock = threading.RLock()
        self.staging = staging
        self._set = f"_r{uuid.uuid4().hex[:10]}" if staging else ""
        self._open()

    def _open(self) -> None:
        name = self.settings.collection
        meta = {"embedder": self.embedder_name, "dim": self.dim, "paperqa": 1}
        try:
            self.meta = self._collection(f"{name}_meta", {"paperqa": 1})
            got = self.meta.get(ids=["state"], include=["metadatas", "embeddings"])
            self._meta_dim = len(got["embeddings"][0]) if got["ids"] else self.dim
            if not self.staging:
                self._set = str((got["metadatas"][0] or {}).get("live", "")) if got["ids"] else ""
            self.chunks = self._collection(f"{name}{self._set}_chunks", meta)
            self.papers = self._collection(f"{name}{self._set}_papers", meta)
        except EmbedderMismatchError:
            raise
        except Exception as exc:
            raise StoreError(f"Cannot open collection {name!r} in {self.location}: {exc}") from exc
        self._check_embedder(self.chunks)

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(Path(self.settings.home) / "chroma")

    def _collection(self, name: str, metadata: dict[str, object]):  # type: ignore[no-untyped-def]
        return self.client.get_or_create_collection(
            name=name, metadata=metadata, embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
        )

    def _check_embedder(self, collection) -> None:  # type: ignore[no-untyped-def]
        meta = collection.metadata or {}
        if meta.get("embedder") != self.embedder_name or int(meta.get("dim", self.dim)) != self.dim:
            raise EmbedderMismatchError(
                f"The store at {self.location} was built with embedder {meta.get('embedder')!r} "
                f"(dim {meta.get('dim')}), but paperqa is set to {self.embedder_name!r} (dim {self.dim}). "
                "Re-embed everything with `paperqa ingest --rebuild PATH...`, or set PAPERQA_EMBED_NAME / "
                "PAPERQA_EMBED_MODEL back.")

    # --- generation -------------------------------------------------------------------------
    def _state(self) -> dict[str, object]:
        got = self.meta.get(ids=["state"], include=["metadatas"])
        return dict(got["metadatas"][0] or {}) if got["ids"] else {}

    @_reopens
    def state(self) -> tuple[int, bool]:
        """(generation, dirty). Dirty: a write began and no bump_generation has closed it yet (or it crashed).
        A live store that another process has switched to a rebuilt set reopens the new set here."""
        meta = self._state()
        if not self.staging and str(meta.get("live", "")) != self._set:
            with self._lock:
                self._open()
        return int(meta.get("generation", 0)), bool(meta.get("dirty", False))  # type: ignore[call-overload]

    def generation(self) -> int:
        return self.state()[0]

    def _set_state(self, generation: int, dirty: bool, live: str | None = None) -> None:
        self.meta.upsert(ids=["state"], embeddings=[[1.0] + [0.0] * (self._meta_dim - 1)], documents=["state"],
                         metadatas=[{"generation": generation, "dirty": dirty,
                                     "live": self._set if live is None else live}])

    def begin_write(self) -> None:
        """Mark the store dirty before touching records: until the change is closed by bump_generation, no saved
        BM25 index is trusted, so a crash mid-write can never leave a stale index that looks current. A staging set
        is read by nobody until `commit()`, so its writes leave the live state alone."""
        if self.staging:
            return
        with self._lock:
            gen, dirty = self.state()
            if not dirty:
                self._set_state(gen, True)

    def bump_generation(self) -> int:
        """Close a change: a new generation, clean."""
        with self._lock:
            gen = self.generation() + 1
            self._set_state(gen, False)
            return gen

    # --- rebuild: a staging set beside the live one, switched to atomically ----------------------
    def commit(self) -> int:
        """Make this staging set the live store: one write of the state record switches readers to it with a new
        generation (so no BM25 index of the old set passes for it); then the old set is deleted. Returns the new
        generation. A kill before the switch leaves the old store; after it, the new one."""
        with self._lock:
            old = str(self._state().get("live", ""))
            gen = self._switch(int(self._state().get("generation", 0)) + 1)  # type: ignore[call-overload]
            self.staging = False
            self._drop_sets(lambda set_name: set_name == old)
            return gen

    def _switch(self, generation: int) -> int:
        self._set_state(generation, False, live=self._set)
        return generation

    def reopen(self) -> None:
        """Read the live set again (after this process committed a rebuild through another store object)."""
        with self._lock:
            self.staging = False
            self._open()

    def discard(self) -> None:
        """Delete this staging set (a rebuild that is not applied)."""
        if self.staging:
            self._drop_sets(lambda set_name: set_name == self._set)

    def drop_leftovers(self) -> int:
        """Delete sets left by earlier rebuilds killed before or after their switch (one rebuild runs at a time)."""
        live = str(self._state().get("live", ""))
        return self._drop_sets(lambda set_name: set_name not in (live, self._set))

    def _drop_sets(self, which: Callable[[str], bool]) -> int:
        """Delete the collections of every set whose name `which` accepts; returns how many collections went."""
        name = self.settings.collection
        dropped = 0
        for c in self.client.list_collections():
            cname = str(getattr(c, "name", c))
            for suffix in ("_chunks", "_papers"):
                if not (cname.startswith(name) and cname.endswith(suffix)):
                    continue
                set_name = cname[len(name):-len(suffix)]
                if (set_name == "" or _REBUILT_SET.fullmatch(set_name)) and which(set_name):
                    try:
                        self.client.delete_collection(cname)
                        dropped += 1
                    except Exception:  # noqa: BLE001 - deleted meanwhile
                        pass
        return dropped

    # --- reads ------------------------------------------------------------------------------
    @_reopens
    def count_papers(self) -> int:
        return self.papers.count()

    @_reopens
    def count_chunks(self) -> int:
        return self.chunks.count()

    @_reopens
    def stored_keys(self) -> dict[str, StoredKeys]:
        """paper_id -> hash and keys of every complete paper. Records written before keys were stored get theirs
        from their title and abstract."""
        out: dict[str, StoredKeys] = {}
        missing: list[str] = []
        for ids, metas in self._scan(self.papers, ["metadatas"]):
            for pid, meta in zip(ids, metas, strict=True):
                meta = meta or {}
                out[pid] = StoredKeys(str(meta.get("content_hash", "")), str(meta.get("key", "")),
                                      str(meta.get("title_key", "")), str(meta.get("title", "")))
                if not meta.get("key"):
                    missing.append(pid)
        for i in range(0, len(missing), WRITE_BATCH):
            got = self.papers.get(ids=missing[i:i + WRITE_BATCH], include=["documents"])
            for pid, doc in zip(got["ids"], got["documents"], strict=True):
                old = out[pid]
                out[pid] = StoredKeys(old.content_hash, content_key(old.title, doc or ""), title_key(old.title),
                                      old.title)
        return out

    @_reopens
    def paper_chunks(self, paper_ids: Sequence[str]) -> dict[str, tuple[list[Chunk], np.ndarray]]:
        """The stored chunks and vectors of each paper, to re-file them under a new id without embedding again."""
        got = self.chunks.get(where={"paper_id": {"$in": list(paper_ids)}},
                              include=["metadatas", "documents", "embeddings"])
        rows: dict[str, list[tuple[Chunk, np.ndarray]]] = {}
        for doc, meta, vec in zip(got["documents"], got["metadatas"], got["embeddings"], strict=True):
            pid = str(meta["paper_id"])
            chunk = Chunk(pid, int(meta["index"]), int(meta["start"]), int(meta["end"]), doc or "")
            rows.setdefault(pid, []).append((chunk, np.asarray(vec, dtype=np.float32)))
        return {pid: ([c for c, _ in sorted(r, key=lambda x: x[0].index)],
                      np.stack([v for _, v in sorted(r, key=lambda x: x[0].index)])) for pid, r in rows.items()}

    @_reopens
    def stored_hashes(self) -> dict[str, str]:
        """paper_id -> content hash of every complete paper."""
        out: dict[str, str] = {}
        for ids, metas in self._scan(self.papers, ["metadatas"]):
            for pid, meta in zip(ids, metas, strict=True):
                out[pid] = str((meta or {}).get("content_hash", ""))
        return out

    def _scan(self, collection, include: list[str], page: int = 5000) -> Iterator[tuple[list[str], list]]:  # type: ignore[no-untyped-def]
        offset = 0
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            ids = got["ids"]
            if not ids:
                return
            yield ids, got[include[0]] if include else [None] * len(ids)
            if len(ids) < page:
                return
            offset += page

    @_reopens
    def get_papers(self, paper_ids: Sequence[str]) -> dict[str, StoredPaper]:
        """The complete papers among `paper_ids` (missing ones are simply absent)."""
        if not paper_ids:
            return {}
        got = self.papers.get(ids=list(dict.fromkeys(paper_ids)), include=["metadatas", "documents"])
        return {pid: _stored_paper(pid, doc, meta)
                for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}

    @_reopens
    def list_papers(self) -> list[StoredPaper]:
        papers: list[StoredPaper] = []
        offset = 0
        while True:
            got = self.papers.get(include=["metadatas", "documents"], limit=5000, offset=offset)
            papers.extend(_stored_paper(pid, doc, meta)
                          for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True))
            if len(got["ids"]) < 5000:
                break
            offset += 5000
        return sorted(papers, key=lambda p: p.title.lower())

    @_reopens
    def all_chunks(self) -> tuple[list[str], list[str], list[str]]:
        """(chunk ids, paper ids, texts) of every chunk, for building the lexical index."""
        ids: list[str] = []
        pids: list[str] = []
        texts: list[str] = []
        offset = 0
        while True:
            got = self.chunks.get(include=["metadatas", "documents"], limit=5000, offset=offset)
            ids.extend(got["ids"])
            pids.extend(str(m["paper_id"]) for m in got["metadatas"])
            texts.extend(got["documents"])
            if len(got["ids"]) < 5000:
                break
            offset += 5000
        return ids, pids, texts

    @_reopens
    def dense_search(self, query_vec: np.ndarray, n: int) -> list[ChunkHit]:
        """Nearest chunks by cosine similarity, best first.

        Why not a plain top-n query: Chroma's HNSW graph is rebuilt with random levels from its write log in each
        process, so the tail of a top-40 search differed between runs (37-40 of the exact top 40 on the bundled
        corpus), and so did answers. Stores of up to `EXACT_SEARCH_CHUNKS` chunks are searched exhaustively
        (every chunk's distance, ~2 ms for the bundled corpus), which is exact and repeatable; larger ones search
        4x wider than asked and keep the n nearest."""
        total = self.chunks.count()
        if total == 0:
            return []
        wanted = total if total <= EXACT_SEARCH_CHUNKS else min(max(4 * n, 100), total)
        res = self.chunks.query(query_embeddings=[query_vec.tolist()], n_results=wanted, include=["distances"])
        hits = [ChunkHit(cid, chunk_paper_id(cid), 1.0 - float(dist))
                for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True)]
        hits.sort(key=lambda h: (-h.similarity, h.chunk_id))
        return hits[:n]

    # --- writes -----------------------------------------------------------------------------
    def write_papers(self, items: Iterable[tuple[Paper, list[Chunk], np.ndarray]]) -> int:
        """Replace each paper's record and chunks. Returns chunks written.

        Order matters for crash safety: paper record out, old chunks out, new chunks in, record in.
        """
        items = list(items)
        if not items:
            return 0
        pids = [p.paper_id for p, _, _ in items]
        with self._lock:
            self.begin_write()
            self.papers.delete(ids=pids)
            self.chunks.delete(where={"paper_id": {"$in": pids}})
            ids: list[str] = []
            vecs: list[list[float]] = []
            docs: list[str] = []
            metas: list[dict[str, object]] = []
            for paper, chunks, emb in items:
                for chunk, vec in zip(chunks, emb, strict=True):
                    ids.append(chunk.chunk_id)
                    vecs.append(vec.tolist())
                    docs.append(chunk.text)
                    metas.append({"paper_id": paper.paper_id, "index": chunk.index, "start": chunk.start,
                                  "end": chunk.end})
            for i in range(0, len(ids), WRITE_BATCH):
                self.chunks.add(ids=ids[i:i + WRITE_BATCH], embeddings=vecs[i:i + WRITE_BATCH],
                                documents=docs[i:i + WRITE_BATCH], metadatas=metas[i:i + WRITE_BATCH])
            rec_vecs = []
            for _, _, emb in items:
                mean = emb.mean(axis=0)
                rec_vecs.append((mean / (np.linalg.norm(mean) or 1.0)).tolist())
            self.papers.add(
                ids=pids, embeddings=rec_vecs, documents=[p.abstract for p, _, _ in items],
                metadatas=[_paper_meta(p, len(c)) for p, c, _ in items],
            )
            return len(ids)

    def remove_papers(self, paper_ids: Sequence[str]) -> None:
        if not paper_ids:
            return
        with self._lock:
            self.begin_write()
            self.papers.delete(ids=list(paper_ids))
            self.chunks.delete(where={"paper_id": {"$in": list(paper_ids)}})

    def remove_orphan_chunks(self) -> int:
        """Delete chunks whose paper record is missing (an interrupted write). Returns how many."""
        with self._lock:
            complete = set(self.stored_hashes())
            orphans: set[str] = set()
            for _ids, metas in self._scan(self.chunks, ["metadatas"]):
                orphans.update(str(m["paper_id"]) for m in metas if str(m["paper_id"]) not in complete)
            if not orphans:
                return 0
            before = self.chunks.count()
            self.chunks.delete(where={"paper_id": {"$in": sorted(orphans)}})
            return before - self.chunks.count()

    def drop(self) -> None:
        """Delete every collection of this store, all sets and the state record (tests clean up with this)."""
        with self._lock:
            self._drop_sets(lambda set_name: True)
            try:
                self.client.delete_collection(f"{self.settings.collection}_meta")
            except Exception:  # noqa: BLE001 - absent is fine
                pass


def _paper_meta(p: Paper, n_chunks: int) -> dict[str, object]:
    meta: dict[str, object] = {
        "title": p.title, "content_hash": p.content_hash, "n_chunks": n_chunks, "source": str(p.source),
        "authors": json.dumps(list(p.authors)), "key": p.content_key, "title_key": title_key(p.title),
    }
    if p.year is not None:
        meta["year"] = p.year
    if p.url:
        meta["url"] = p.url
    if p.doi:
        meta["doi"] = p.doi
    return meta


def _stored_paper(pid: str, doc: str | None, meta: dict | None) -> StoredPaper:  # type: ignore[type-arg]
    meta = meta or {}
    try:
        authors = tuple(json.loads(str(meta.get("authors", "[]"))))
    except ValueError:
        authors = ()
    year = meta.get("year")
    return StoredPaper(
        paper_id=pid, title=str(meta.get("title", "")), abstract=doc or "",
        content_hash=str(meta.get("content_hash", "")), n_chunks=int(meta.get("n_chunks", 0)), authors=authors,
        year=int(year) if year is not None else None, url=meta.get("url"), doi=meta.get("doi"),
        source=str(meta.get("source", "")),
    )


def paper_from_stored(p: StoredPaper) -> Paper:
    """Back to a Paper (for re-chunking stored text)."""
    file, _, line = p.source.rpartition(":")
    return Paper(paper_id=p.paper_id, title=p.title, abstract=p.abstract,
                 source=SourceRef(file or p.source, int(line) if line.isdigit() else 0), authors=p.authors,
                 year=p.year, url=p.url, doi=p.doi)
