"""The embedder: unit vectors from the packaged MiniLM, and ONNX backends that agree with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paperqa.embed import Embedder
from paperqa.errors import PaperQAError
from paperqa.onnx_export import ensure_export
from paperqa.settings import EmbedSettings

TEXTS = [
    "We present RAR, a randomized autoregressive model that reaches an FID of 1.48 on ImageNet-256.",
    "Mamba is a selective state space model whose cost grows linearly with sequence length.",
    "Short.",
    "A language model generates realistic synthetic rows of tabular data. " * 12,  # long: truncated at 256
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(EmbedSettings(), backend="torch")


def test_encode_gives_unit_vectors(torch_embedder: Embedder) -> None:
    vecs = torch_embedder.encode(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert torch_embedder.encode([]).shape == (0, 384)
    sims = vecs @ vecs.T
    assert sims[0, 1] < 0.5  # unrelated sentences are not near-duplicates


def test_count_tokens_excludes_special_tokens(torch_embedder: Embedder) -> None:
    assert torch_embedder.count_tokens("hello world") == 2
    for text in TEXTS + ["word " * 700, "Ünïcödé — ε≈0.1, ×4 speed-up", ""]:  # never truncated, same as transformers
        expected = len(torch_embedder.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])
        assert torch_embedder.count_tokens(text) == expected


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(PaperQAError, match="backend"):
        Embedder(EmbedSettings(), backend="tensorrt")  # type: ignore[arg-type]


def test_onnx_backends_match_torch(torch_embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> None:
    cache = tmp_path_factory.mktemp("onnx")
    ref = torch_embedder.encode(TEXTS)
    fp32 = Embedder(EmbedSettings(), backend="onnx", cache_dir=cache)
    vecs = fp32.encode(TEXTS, batch_size=2)  # batches of different widths: padding must not leak in
    assert vecs.shape == ref.shape
    assert np.min(np.sum(vecs * ref, axis=1)) > 0.9999
    int8 = Embedder(EmbedSettings(), backend="onnx-int8", cache_dir=cache)
    q = int8.encode(TEXTS)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    assert np.min(np.sum(q * ref, axis=1)) > 0.97
    # built once: a second request reuses the cached files
    path = ensure_export(fp32.path, "onnx-int8", cache)
    before = path.stat().st_mtime_ns
    again = Embedder(EmbedSettings(), backend="onnx-int8", cache_dir=cache)
    assert np.allclose(again.encode(TEXTS), q, atol=1e-5)
    # dynamic quantisation scales activations per batch, so a text alone differs slightly from in a batch
    assert float(again.encode(TEXTS[:1])[0] @ q[0]) > 0.98
    assert path.stat().st_mtime_ns == before
    assert sorted(p.name for p in Path(path).parent.glob("*.onnx")) == [
        "model.onnx", "model_fused.onnx", "model_fused_int8.onnx"]
