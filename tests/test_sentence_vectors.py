"""SentenceVectors: the same vectors as embedding at question time, served from memory or disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from paperqa.embed import Embedder
from paperqa.sentence_vectors import SentenceVectors, embedder_key
from paperqa.sentences import sentence_spans
from paperqa.settings import EmbedSettings

ABSTRACT = ("We present RAR, a randomized autoregressive model for image generation. It reaches an FID of 1.48 on "
            "ImageNet-256. The code is public, e.g. on GitHub.")
OTHER = "Mamba is a state space model. It scales linearly with sequence length."


class CountingEmbedder(Embedder):
    """The real embedder, counting how many texts it was asked to encode and in how many calls."""

    def __init__(self) -> None:
        super().__init__(EmbedSettings())
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return super().encode(texts, batch_size)


@dataclass(frozen=True)
class P:
    paper_id: str
    content_hash: str
    abstract: str


@pytest.fixture(scope="module")
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


def test_get_matches_direct_encoding(embedder: CountingEmbedder, tmp_path: Path) -> None:
    sv = SentenceVectors(embedder, tmp_path)
    spans, vecs = sv.get("rar", "h1", ABSTRACT)
    assert spans == sentence_spans(ABSTRACT)
    assert len(spans) == 3  # "e.g." must not split
    direct = embedder.encode([ABSTRACT[a:b] for a, b in spans])
    assert vecs.shape == (3, embedder.dim)
    assert np.allclose(vecs, direct, atol=1e-5)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def test_second_instance_reads_disk_without_encoding(embedder: CountingEmbedder, tmp_path: Path) -> None:
    first = SentenceVectors(embedder, tmp_path)
    _, vecs = first.get("rar", "h1", ABSTRACT)
    assert len(list(tmp_path.rglob("*.npy"))) == 1
    calls = embedder.calls
    second = SentenceVectors(embedder, tmp_path)
    spans2, vecs2 = second.get("rar", "h1", ABSTRACT)
    assert embedder.calls == calls
    assert second.stats == {"memory": 0, "disk": 1, "encoded": 0}
    assert np.array_equal(vecs, vecs2)
    second.get("rar", "h1", ABSTRACT)
    assert second.stats["memory"] == 1


def test_changed_abstract_is_reencoded(embedder: CountingEmbedder, tmp_path: Path) -> None:
    sv = SentenceVectors(embedder, tmp_path)
    sv.get("rar", "h1", ABSTRACT)
    changed = ABSTRACT.replace("1.48", "1.50")
    spans, vecs = sv.get("rar", "h2", changed)
    assert sv.stats["encoded"] == 2
    assert np.allclose(vecs, embedder.encode([changed[a:b] for a, b in spans]), atol=1e-5)


def test_corrupt_file_is_recomputed(embedder: CountingEmbedder, tmp_path: Path) -> None:
    SentenceVectors(embedder, tmp_path).get("rar", "h1", ABSTRACT)
    (path,) = tmp_path.rglob("*.npy")
    path.write_bytes(b"not a numpy file")
    sv = SentenceVectors(embedder, tmp_path)
    _, vecs = sv.get("rar", "h1", ABSTRACT)
    assert sv.stats["encoded"] == 1 and vecs.shape == (3, embedder.dim)
    assert np.load(path).shape == (3, embedder.dim)  # rewritten


def test_warm_encodes_all_missing_in_one_call(embedder: CountingEmbedder, tmp_path: Path) -> None:
    sv = SentenceVectors(embedder, tmp_path)
    sv.get("rar", "h1", ABSTRACT)
    calls, texts = embedder.calls, embedder.texts
    papers = [P("rar", "h1", ABSTRACT), P("mamba", "h3", OTHER), P("mamba-dup", "h3", OTHER)]
    assert sv.warm(papers) == 1  # rar was cached; the duplicate abstract is encoded once
    assert embedder.calls == calls + 1
    assert embedder.texts == texts + len(sentence_spans(OTHER))
    assert sv.warm(papers) == 0
    fresh = SentenceVectors(embedder, tmp_path)
    assert fresh.warm(papers) == 0
    fresh.get("mamba", "h3", OTHER)
    assert fresh.stats["memory"] == 1  # warm loaded it from disk into memory


def test_memory_is_bounded(embedder: CountingEmbedder, tmp_path: Path) -> None:
    sv = SentenceVectors(embedder, None, max_items=2)
    for i in range(3):
        sv.get(f"p{i}", f"h{i}", f"Sentence number {i} about transformers.")
    assert len(sv._memory) == 2
    assert not list(tmp_path.rglob("*.npy"))  # no folder, no files


def test_backends_get_separate_folders() -> None:
    keys = {embedder_key(Embedder(EmbedSettings(), backend=b)) for b in ("torch", "onnx", "onnx-int8")}
    assert len(keys) == 3
