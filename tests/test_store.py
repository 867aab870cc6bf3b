"""PaperStore on a real embedded Chroma: records, chunk replacement, the commit marker, the generation counter and
the embedder guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import Corpus

from ingest.chunk import chunk_paper
from paperqa import store as store_module
from paperqa.embed import Embedder
from paperqa.errors import EmbedderMismatchError, StoreError
from paperqa.records import Paper, SourceRef, make_paper_id
from paperqa.settings import EmbedSettings, Settings, StoreSettings
from paperqa.store import PaperStore, paper_from_stored


def paper(title: str, abstract: str, **kw: object) -> Paper:
    return Paper(paper_id=make_paper_id(title), title=title, abstract=abstract, source=SourceRef("f.jsonl", 3),
                 **kw)  # type: ignore[arg-type]


def item(p: Paper, embedder: Embedder) -> tuple[Paper, list, np.ndarray]:
    chunks = chunk_paper(p, embedder.count_tokens, 256)
    return p, chunks, embedder.encode([c.text for c in chunks])


@pytest.fixture
def store(settings: Settings, embedder: Embedder) -> PaperStore:
    return PaperStore(settings.store, embedder.name, embedder.dim)


def test_write_and_read_back(store: PaperStore, embedder: Embedder) -> None:
    p = paper("Glacier Melt Forecasting", "We forecast glacier melt. It works well.", authors=("A. B", "C D"),
              year=2020, url="https://example.org/g", doi="10.1/xyz")
    written = store.write_papers([item(p, embedder)])
    assert written == 1 == store.count_chunks()
    assert store.count_papers() == 1
    got = store.get_papers([p.paper_id, "missing"])
    assert list(got) == [p.paper_id]
    sp = got[p.paper_id]
    assert (sp.title, sp.abstract, sp.authors, sp.year, sp.url, sp.doi, sp.n_chunks, sp.source) == (
        p.title, p.abstract, p.authors, 2020, "https://example.org/g", "10.1/xyz", 1, "f.jsonl:3")
    assert sp.content_hash == p.content_hash
    assert store.stored_hashes() == {p.paper_id: p.content_hash}
    assert paper_from_stored(sp) == p
    ids, pids, texts = store.all_chunks()
    assert ids == [f"{p.paper_id}#0"] and pids == [p.paper_id]
    assert texts == [f"{p.title}\n{p.abstract}"]


def test_dense_search_finds_the_right_paper(store: PaperStore, embedder: Embedder) -> None:
    a = paper("Coral Reef Monitoring from Drones", "Drones photograph coral reefs to map bleaching.")
    b = paper("Contract Question Answering", "Lawyers wrote questions about indemnity clauses in contracts.")
    store.write_papers([item(a, embedder), item(b, embedder)])
    hits = store.dense_search(embedder.encode(["bleached coral seen from the air"])[0], 5)
    assert [h.paper_id for h in hits] == [a.paper_id, b.paper_id]
    assert -1 <= hits[1].similarity < hits[0].similarity <= 1.0001
    assert len(store.dense_search(embedder.encode(["x"])[0], 50)) == 2  # n above the count is fine


def test_rewrite_replaces_all_old_chunks(store: PaperStore, embedder: Embedder) -> None:
    long_abstract = " ".join(f"Sentence {i} is about sparse attention, protein folding and contact maps in a long "
                             "abstract that needs several chunks." for i in range(25))
    p1 = paper("Protein Folding", long_abstract)
    store.write_papers([item(p1, embedder)])
    n1 = store.count_chunks()
    assert n1 >= 3
    p2 = paper("Protein Folding", "Now the abstract is one short sentence.")
    assert p2.paper_id == p1.paper_id and p2.content_hash != p1.content_hash
    store.write_papers([item(p2, embedder)])
    assert store.count_chunks() == 1
    assert store.get_papers([p1.paper_id])[p1.paper_id].n_chunks == 1
    assert store.all_chunks()[2] == ["Protein Folding\nNow the abstract is one short sentence."]


def test_remove_papers(store: PaperStore, embedder: Embedder) -> None:
    a = paper("Paper A", "Alpha text here.")
    b = paper("Paper B", "Beta text here.")
    store.write_papers([item(a, embedder), item(b, embedder)])
    store.remove_papers([a.paper_id])
    assert set(store.stored_hashes()) == {b.paper_id}
    assert store.all_chunks()[1] == [b.paper_id]
    assert [p.title for p in store.list_papers()] == ["Paper B"]


def test_generation_counter(store: PaperStore) -> None:
    assert store.generation() == 0
    assert store.bump_generation() == 1
    assert store.bump_generation() == 2
    assert store.generation() == 2


def test_orphan_chunks_are_removed(store: PaperStore, embedder: Embedder) -> None:
    good = paper("Complete Paper", "This one was written whole.")
    store.write_papers([item(good, embedder)])
    # an interrupted write: chunks in, paper record never written
    vec = embedder.encode(["orphan"])[0].tolist()
    store.chunks.add(ids=["t:orphan#0", "t:orphan#1"], embeddings=[vec, vec], documents=["o", "o"],
                     metadatas=[{"paper_id": "t:orphan", "index": 0, "start": 0, "end": 1},
                                {"paper_id": "t:orphan", "index": 1, "start": 0, "end": 1}])
    assert store.count_chunks() == 3
    assert store.remove_orphan_chunks() == 2
    assert store.all_chunks()[1] == [good.paper_id]
    assert store.remove_orphan_chunks() == 0


def test_chroma_never_embeds_by_itself(store: PaperStore) -> None:
    """Collections are opened without an embedding function: text without our vectors is refused."""
    with pytest.raises(ValueError, match="embedding function"):
        store.chunks.add(ids=["x"], documents=["some text"], metadatas=[{"paper_id": "p"}])
    with pytest.raises(ValueError, match="embedding function"):
        store.chunks.query(query_texts=["some text"], n_results=1)


def test_embedder_mismatch_is_refused(settings: Settings, store: PaperStore, embedder: Embedder) -> None:
    with pytest.raises(EmbedderMismatchError) as info:
        PaperStore(settings.store, "some/other-embedder", embedder.dim)
    assert "--rebuild" in str(info.value) and "some/other-embedder" in str(info.value)
    with pytest.raises(EmbedderMismatchError):
        PaperStore(settings.store, embedder.name, 768)
    # the refusal did not relabel the store: the right embedder still opens it
    assert PaperStore(settings.store, embedder.name, embedder.dim).chunks.metadata["embedder"] == embedder.name


def test_drop_empties_the_store(settings: Settings, store: PaperStore, embedder: Embedder) -> None:
    store.write_papers([item(paper("P", "Text here."), embedder)])
    store.bump_generation()
    store.drop()
    fresh = PaperStore(settings.store, "another/embedder", embedder.dim)  # a dropped store takes any embedder
    assert (fresh.count_papers(), fresh.count_chunks(), fresh.generation()) == (0, 0, 0)


def test_bad_chroma_url_is_a_store_error(home: Path) -> None:
    with pytest.raises(StoreError, match="PAPERQA_CHROMA_URL"):
        PaperStore(StoreSettings(home=home, chroma_url="ftp://nowhere"), "e", 384)


def test_unreachable_chroma_server_is_a_store_error(home: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError) as info:
        PaperStore(StoreSettings(home=home, chroma_url=f"http://127.0.0.1:{port}"), "e", 384)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_server_store_roundtrip(chroma_server: str, home: Path, embedder: Embedder) -> None:
    s = StoreSettings(home=home, chroma_url=chroma_server, collection="roundtrip")
    store = PaperStore(s, embedder.name, embedder.dim)
    p = paper("Served Paper", "Stored on a Chroma server.")
    store.write_papers([item(p, embedder)])
    again = PaperStore(s, embedder.name, embedder.dim)
    assert again.location == chroma_server
    assert again.get_papers([p.paper_id])[p.paper_id].abstract == "Stored on a Chroma server."
    with pytest.raises(EmbedderMismatchError):
        PaperStore(s, "other", embedder.dim)
    again.drop()


def test_embed_settings_name_reaches_the_store(home: Path) -> None:
    """The name recorded in the store comes from PAPERQA_EMBED_NAME (what the mismatch check compares)."""
    emb = Embedder(EmbedSettings(embed_name="custom-name"))
    store = PaperStore(StoreSettings(home=home), emb.name, emb.dim)
    assert store.chunks.metadata["embedder"] == "custom-name"


def test_dense_search_is_exact_on_the_bundled_corpus(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chroma's HNSW graph is rebuilt at random in each process, so a plain top-40 query missed 1-3 of the true
    top 40 and answers changed between runs. Below EXACT_SEARCH_CHUNKS the search is exact: the same chunks,
    in the same order, as a brute-force cosine over the stored vectors."""
    store = corpus.qa.store
    got = store.chunks.get(include=["embeddings"])
    vectors, ids = np.asarray(got["embeddings"]), got["ids"]
    assert len(ids) <= store_module.EXACT_SEARCH_CHUNKS
    questions = ["Which papers apply transformers to music?", "What FID does RAR reach on ImageNet-256?",
                 "Can a sequence network write down the interaction terms of quantum field theories?",
                 "graph tokenizer with residual vector quantization", "protein language model"]
    for vec in corpus.qa.embedder.encode(questions):
        sims = vectors @ vec
        exact = [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-sims[i], ids[i]))[:40]]
        hits = store.dense_search(vec, 40)
        assert [h.chunk_id for h in hits] == exact
        stored = store.chunks.get(ids=[h.chunk_id for h in hits], include=["metadatas"])
        paper_of = {cid: m["paper_id"] for cid, m in zip(stored["ids"], stored["metadatas"], strict=True)}
        assert all(h.paper_id == paper_of[h.chunk_id] for h in hits)  # the id-derived paper is the stored one
    # a store above the limit searches wider than asked and still returns the n nearest, best first
    monkeypatch.setattr(store_module, "EXACT_SEARCH_CHUNKS", 10)
    hits = store.dense_search(corpus.qa.embedder.encode(questions[:1])[0], 40)
    assert len(hits) == 40 and [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)
