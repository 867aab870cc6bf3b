"""Hybrid retrieval on real Chroma and the real embedder: exact terms win, papers are counted once, every fusion
fills k, and the BM25 index follows the store (reloaded after an ingest, rebuilt when its saved copy is stale)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GOOD, GOOD_FILES, Corpus, make_qa

from paperqa.api import PaperQA
from paperqa.embed import Embedder
from paperqa.lexical import BM25Index
from paperqa.retrieve import FUSIONS, Retriever, lexical_index_dir
from paperqa.settings import RetrievalSettings, Settings

RAR = "Randomized Autoregressive Visual Generation"


# --- the bundled corpus ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "title_start"), [
    ("RAR ImageNet-256 FID", RAR),
    ("PIXART-alpha 10.8% training time", "PixArt-α"),
    ("T2T-ViT ImageNet", "Tokens-to-Token ViT"),
    ("Pop2Piano piano cover", "Pop2Piano"),
    ("CodeBERT", "CodeBERT"),
])
@pytest.mark.parametrize("fusion", ["bm25", "rrf"])
def test_acronyms_and_numbers_rank_the_right_paper_first(corpus: Corpus, query: str, title_start: str,
                                                         fusion: str) -> None:
    hits = corpus.qa.retriever.retrieve(query, k=5, fusion=fusion).hits
    assert hits[0].title.startswith(title_start), [h.title for h in hits]


@pytest.mark.parametrize("fusion", FUSIONS)
def test_a_paper_with_three_chunks_appears_once(corpus: Corpus, fusion: str) -> None:
    t2t = next(p for p in corpus.qa.papers() if p.title.startswith("Tokens-to-Token ViT"))
    assert t2t.n_chunks == 3
    hits = corpus.qa.retriever.retrieve("Tokens-to-Token ViT transformer trained from scratch on ImageNet", k=10,
                                        fusion=fusion).hits
    ids = [h.paper_id for h in hits]
    assert ids.count(t2t.paper_id) == 1
    assert len(ids) == len(set(ids))
    hit = hits[ids.index(t2t.paper_id)]
    assert len(hit.chunk_ids) >= 2 and all(c.startswith(t2t.paper_id + "#") for c in hit.chunk_ids)
    assert len(hit.chunk_ids) == len(set(hit.chunk_ids))


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("k", [1, 5, 12])
def test_every_fusion_returns_k_papers(corpus: Corpus, fusion: str, k: int) -> None:
    r = corpus.qa.retriever.retrieve("transformer model for images", k=k, fusion=fusion)
    assert len(r.hits) == k
    assert len({h.paper_id for h in r.hits}) == k
    scores = [h.score for h in r.hits]
    assert scores == sorted(scores, reverse=True)
    for h in r.hits:
        if fusion in ("rrf", "weighted", "dense"):
            assert h.dense_sim is not None or h.bm25_score is not None
        if fusion == "bm25":
            assert h.bm25_rank is not None and h.dense_rank is None
        if fusion == "dense":
            assert h.dense_rank is not None and h.bm25_rank is None
    assert {"embed_query", "dense", "bm25", "fuse", "retrieve"} <= set(r.timings_ms)
    assert r.query_vec.shape == (384,)


def test_rrf_combines_both_rankings(corpus: Corpus) -> None:
    hits = corpus.qa.retriever.retrieve("RAR ImageNet-256 FID", k=5, fusion="rrf").hits
    rar = hits[0]
    c = RetrievalSettings().rrf_k
    expected = sum(1.0 / (c + r) for r in (rar.dense_rank, rar.bm25_rank) if r is not None)
    assert rar.score == pytest.approx(expected)
    assert rar.bm25_rank == 1


def test_unknown_fusion_is_refused(corpus: Corpus) -> None:
    with pytest.raises(ValueError, match="PAPERQA_FUSION"):
        corpus.qa.retriever.retrieve("anything", fusion="magic")


def test_top_k_setting_is_the_default(corpus: Corpus) -> None:
    r = Retriever(corpus.qa.store, corpus.qa.embedder, RetrievalSettings(top_k=3))
    assert len(r.retrieve("diffusion models").hits) == 3


# --- small stores: embedded and server -------------------------------------------------------------------------------


SMALL_STORE_QUERIES = [
    ("ContactFormer CASP14 top-L precision", "Sparse Attention for Protein Contact Prediction"),
    ("QDecode logical error rate 0.7%", "Surface Code Decoding on Noisy Superconducting Hardware"),
    ("bleached coral seen from drones", "Coral Reef Health Monitoring from Drone Imagery"),
]


def test_retrieval_on_a_small_store(backend_settings: Settings, embedder: Embedder) -> None:
    qa = make_qa(backend_settings, embedder)
    qa.ingest(GOOD_FILES)
    for query, title in SMALL_STORE_QUERIES:
        for fusion in FUSIONS:
            if fusion == "dense" and "0.7%" in query:
                continue  # exact numbers are BM25's job
            hits = qa.retriever.retrieve(query, k=3, fusion=fusion).hits
            assert hits[0].title == title, (query, fusion, [h.title for h in hits])
    if backend_settings.store.chroma_url:
        qa.store.drop()


def test_empty_store_returns_nothing(qa_factory: Callable[..., PaperQA]) -> None:
    r = qa_factory().retriever.retrieve("anything at all", k=5)
    assert r.hits == []


# --- the BM25 index follows the store --------------------------------------------------------------------------------


def _extra(tmp_path: Path) -> Path:
    path = tmp_path / "extra.jsonl"
    path.write_text(json.dumps({"title": "Narwhal Tusk Acoustics",
                                "abstract": "Narwhals use their tusks as acoustic sensors in Arctic water."}) + "\n",
                    encoding="utf-8")
    return path


def test_bm25_reloads_after_a_new_ingest(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    reader = qa_factory()
    reader.ingest([GOOD / "seed.txt"])
    assert reader.retriever.retrieve("narwhal tusk", k=3, fusion="bm25").hits == []
    gen = reader.retriever.lexical().generation
    assert gen == reader.store.generation()

    qa_factory().ingest([_extra(tmp_path)])  # another writer bumps the generation
    assert reader.store.generation() == gen + 1
    hits = reader.retriever.retrieve("narwhal tusk", k=3, fusion="bm25").hits
    assert [h.title for h in hits] == ["Narwhal Tusk Acoustics"]
    assert reader.retriever.lexical().generation == gen + 1


def _delete(folder: Path) -> None:
    shutil.rmtree(folder)


def _corrupt(folder: Path) -> None:
    (folder / "weights.npz").write_bytes(b"PK\x03\x04 torn")


def _stale(folder: Path) -> None:
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    meta["generation"] -= 1
    (folder / "index.json").write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize("damage", [_delete, _corrupt, _stale])
def test_bm25_is_rebuilt_when_the_saved_index_cannot_be_trusted(damage: Callable[[Path], None],
                                                                 qa_factory: Callable[..., PaperQA]) -> None:
    qa = qa_factory()
    qa.ingest(GOOD_FILES)
    folder = lexical_index_dir(qa.store)
    damage(folder)
    fresh = qa_factory()
    hits = fresh.retriever.retrieve("GlacierGNN AlpsMelt", k=3, fusion="bm25").hits
    assert hits[0].title == "Glacier Melt Forecasting with Graph Neural Networks"
    saved = BM25Index.load(folder)  # and the rebuilt index was saved for the next reader
    assert saved is not None and saved.generation == qa.store.generation()
    assert len(saved.chunk_ids) == qa.store.count_chunks()


def test_bm25_catches_up_after_a_crash_between_store_write_and_index_save(qa_factory: Callable[..., PaperQA]) -> None:
    from ingest.chunk import chunk_paper
    from paperqa.records import Paper, SourceRef

    qa = qa_factory()
    qa.ingest([GOOD / "seed.txt"])
    p = Paper("t:axolotl", "Axolotl Limb Regrowth", "Axolotls regrow limbs after amputation.", SourceRef("x", 1))
    chunks = chunk_paper(p, qa.embedder.count_tokens)
    qa.store.write_papers([(p, chunks, qa.embedder.encode([c.text for c in chunks]))])
    qa.store.bump_generation()  # ...and the process dies before build_lexical_index()
    hits = qa_factory().retriever.retrieve("axolotl limb", k=3, fusion="bm25").hits
    assert [h.paper_id for h in hits] == ["t:axolotl"]
