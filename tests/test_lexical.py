"""BM25: terms that embeddings blur (acronyms, numbers, compounds) must match exactly, and a saved index that cannot
be trusted must read as absent so the caller rebuilds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperqa.lexical import BM25Index, tokenize

TEXTS = {
    "rar#0": "Randomized Autoregressive Visual Generation\nOn the ImageNet-256 benchmark, RAR achieves an FID of 1.48.",
    "dit#0": "Scalable Diffusion Models with Transformers\nDiT reaches an FID of 2.27 on ImageNet 256x256.",
    "music#0": "Pop2Piano\nWe generate piano covers from pop music audio with transformers.",
    "music#1": "Pop2Piano\nA transformer model maps pop songs to piano performances.",
    "t5#0": "Exploring Transfer Learning with T5\nWe study transfer learning for text-to-text transformers.",
}


def build(generation: int = 1) -> BM25Index:
    ids = list(TEXTS)
    return BM25Index.build(ids, [i.split("#")[0] for i in ids], [TEXTS[i] for i in ids], generation)


def test_tokenize_keeps_compounds_whole_and_split() -> None:
    toks = tokenize("RAR reaches FID 1.48 on ImageNet-256 with GPT-4o.")
    for t in ("rar", "reach", "fid", "1.48", "imagenet-256", "imagenet", "256", "gpt-4o", "gpt", "4o"):
        assert t in toks, t
    assert "on" not in toks and "with" not in toks  # stop words go


def test_tokenize_folds_plurals() -> None:
    assert tokenize("transformers") == tokenize("transformer") == ["transformer"]
    assert tokenize("studies") == ["study"]
    assert tokenize("classes") == ["class"]
    assert tokenize("corpus") == ["corpus"]
    assert tokenize("α-decay") == ["α-decay", "decay"]


def test_exact_terms_rank_first() -> None:
    index = build()
    assert index.search("RAR ImageNet-256 FID", 5)[0].chunk_id == "rar#0"
    assert index.search("1.48", 5)[0].chunk_id == "rar#0"
    assert index.search("2.27", 5)[0].chunk_id == "dit#0"
    assert index.search("T5", 5)[0].chunk_id == "t5#0"
    assert {h.paper_id for h in index.search("piano covers pop", 5)[:2]} == {"music"}


def test_search_edge_cases() -> None:
    index = build()
    assert index.search("zebra giraffe", 5) == []  # no known term
    assert index.search("the of and", 5) == []  # only stop words
    hits = index.search("transformers", 2)
    assert len(hits) == 2 and hits[0].score >= hits[1].score > 0
    assert len(index.search("transformers", 100)) == 4  # only chunks that contain a term
    empty = BM25Index.build([], [], [], 0)
    assert empty.search("anything", 5) == []


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    index = build(generation=7)
    folder = tmp_path / "bm25" / "papers-x"
    index.save(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["papers-x"]  # no temp folders left behind
    loaded = BM25Index.load(folder)
    assert loaded is not None and loaded.generation == 7
    assert [(h.chunk_id, round(h.score, 5)) for h in loaded.search("RAR FID 1.48", 5)] == \
        [(h.chunk_id, round(h.score, 5)) for h in index.search("RAR FID 1.48", 5)]
    build(generation=8).save(folder)  # replacing an existing index
    assert BM25Index.load(folder).generation == 8  # type: ignore[union-attr]


def _truncate_npy(folder: Path) -> None:
    data = (folder / "data.csc.index.npy").read_bytes()
    (folder / "data.csc.index.npy").write_bytes(data[: len(data) // 2])


def _garbage_npy(folder: Path) -> None:
    (folder / "indptr.csc.index.npy").write_bytes(b"not an array at all")


def _garbage_vocab(folder: Path) -> None:
    (folder / "vocab.index.json").write_text("{not json", encoding="utf-8")


def _garbage_json(folder: Path) -> None:
    (folder / "index.json").write_text("{not json", encoding="utf-8")


def _json_list(folder: Path) -> None:
    (folder / "index.json").write_text("[1, 2, 3]", encoding="utf-8")


def _json_missing_key(folder: Path) -> None:
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    del meta["generation"]
    (folder / "index.json").write_text(json.dumps(meta), encoding="utf-8")


def _json_wrong_shape(folder: Path) -> None:
    meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    meta["chunk_ids"] = meta["chunk_ids"][:-1]
    meta["paper_ids"] = meta["paper_ids"][:-1]
    (folder / "index.json").write_text(json.dumps(meta), encoding="utf-8")


def _missing_weights(folder: Path) -> None:
    (folder / "data.csc.index.npy").unlink()


@pytest.mark.parametrize("damage", [_truncate_npy, _garbage_npy, _garbage_vocab, _garbage_json, _json_list,
                                    _json_missing_key, _json_wrong_shape, _missing_weights])
def test_damaged_index_loads_as_none(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "idx"
    build().save(folder)
    damage(folder)
    assert BM25Index.load(folder) is None


def test_missing_index_loads_as_none(tmp_path: Path) -> None:
    assert BM25Index.load(tmp_path / "nothing-here") is None


def test_index_from_an_older_version_is_rebuilt_not_misread(tmp_path: Path) -> None:
    """A store from before bm25s kept index.json + weights.npz under the same generation; reading it as ours gave an
    index that found nothing."""
    folder = tmp_path / "bm25"
    folder.mkdir()
    (folder / "index.json").write_text(json.dumps({"generation": 1, "chunk_ids": ["a#0"], "paper_ids": ["a"],
                                                   "vocab": {"rar": 0}}), encoding="utf-8")
    (folder / "weights.npz").write_bytes(b"old")
    assert BM25Index.load(folder) is None
    build().save(folder)
    loaded = BM25Index.load(folder)
    assert loaded is not None and loaded.search("transformer", 3)
