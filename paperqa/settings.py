"""All of paperqa's settings in one place, read from `PAPERQA_*` environment variables.

Each concern is its own section; every section reads flat `PAPERQA_<FIELD>` variables (for example
`PAPERQA_HOME`, `PAPERQA_CHROMA_URL`, `PAPERQA_LLM`, `PAPERQA_TOP_K`), so users never need to know
the nesting. Components receive the section they need explicitly; nothing reads globals.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# No hub, no telemetry: set before any library that looks at these is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# OMP_WAIT_POLICY is left alone on purpose: PASSIVE (threads sleep at every barrier) made llama.cpp's decoding
# 3.5x slower on 2 cores (28 vs 99 tokens/s with the bundled model), because a small model syncs its threads
# hundreds of times per token. On a machine shared with other busy jobs PASSIVE helps; set it there yourself.

from paperqa.models import PROFILES, default_cache_dir, packaged_gguf_path  # noqa: E402 - after the env above

EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ModelProfile = Literal["fast", "default", "quality"]
assert set(PROFILES) == {"fast", "default", "quality"}, "keep ModelProfile in step with paperqa.models.PROFILES"
__all__ = ["packaged_gguf_path"]  # re-exported: it used to live here


def _section(**extra: object) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix="PAPERQA_", extra="ignore", populate_by_name=True, **extra)


class StoreSettings(BaseSettings):
    """Where vectors and paper records live."""

    model_config = _section()

    home: Path = Field(Path(".paperqa"), description="Folder for the embedded store, BM25 index and uploads "
                       "(PAPERQA_HOME).")
    chroma_url: str | None = Field(None, description="URL of a Chroma server (e.g. http://127.0.0.1:8000); "
                                   "unset means the embedded store under PAPERQA_HOME (PAPERQA_CHROMA_URL).")
    collection: str = Field("papers", description="Collection name prefix inside Chroma (PAPERQA_COLLECTION).")


class EmbedSettings(BaseSettings):
    """The sentence embedder used for chunks, queries and evidence sentences."""

    model_config = _section()

    embed_model: str = Field("", description="Path of a sentence-transformers model folder; empty means the "
                             "packaged all-MiniLM-L6-v2 (PAPERQA_EMBED_MODEL).")
    embed_name: str = Field(EMBEDDER_NAME, description="Name recorded in the collection so a store is never read "
                            "with another embedder (PAPERQA_EMBED_NAME).")
    embed_batch_size: int = Field(64, ge=1, description="Chunks embedded per batch (PAPERQA_EMBED_BATCH_SIZE).")
    embed_max_tokens: int = Field(256, ge=16, description="Word pieces the embedder reads; chunks are cut to fit "
                                  "(PAPERQA_EMBED_MAX_TOKENS).")
    embed_threads: int = Field(0, ge=0, description="Threads for embedding (torch or onnxruntime); 0 keeps the "
                               "library's default (PAPERQA_EMBED_THREADS).")
    embed_backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        "onnx-int8", description="What runs the embedder: 'onnx-int8' (int8 ONNX export, the default: no torch "
        "import at start, same retrieval quality on the eval set), 'onnx' (fp32 ONNX) or 'torch' "
        "(sentence-transformers). ONNX exports are built once from the packaged weights and cached "
        "(PAPERQA_EMBED_BACKEND).")


class RetrievalSettings(BaseSettings):
    """How candidate papers are found and ranked."""

    model_config = _section()

    top_k: int = Field(5, ge=1, le=50, description="Papers retrieved for a question (PAPERQA_TOP_K).")
    list_k: int = Field(12, ge=1, le=50, description="Papers retrieved for a 'which papers…' question "
                        "(PAPERQA_LIST_K).")
    candidates: int = Field(40, ge=1, description="Chunks each retriever returns before fusion "
                            "(PAPERQA_CANDIDATES).")
    fusion: Literal["rrf", "dense", "bm25", "weighted", "convex"] = Field(
        "convex", description="How dense and BM25 rankings are combined: 'convex' (normalised scores, weighted, with a "
        "bonus for a wide-margin BM25 winner; the default, fitted by bench/fit_fusion.py), 'rrf' (reciprocal rank "
        "fusion), 'weighted' (min-max normalised scores), 'dense' or 'bm25' alone (PAPERQA_FUSION).")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant (PAPERQA_RRF_K).")
    dense_weight: float = Field(0.5, ge=0, le=1, description="Dense share for 'weighted' fusion "
                                "(PAPERQA_DENSE_WEIGHT).")
    convex_dense_weight: float = Field(
        0.75, ge=0, le=1, description="'convex' fusion: weight of the dense cosine (divided by the best candidate's); "
        "BM25 (divided by the best) gets the rest. Fitted on SciFact train and the eval dev questions by "
        "bench/fit_fusion.py (PAPERQA_CONVEX_DENSE_WEIGHT).")
    convex_standout_ratio: float = Field(
        1.1, ge=1, description="'convex' fusion: BM25's first paper gets a bonus when its score is more than this "
        "many times the second paper's: a rare exact term only it contains (PAPERQA_CONVEX_STANDOUT_RATIO).")
    convex_standout_bonus: float = Field(
        0.5, ge=0, description="'convex' fusion: the bonus per unit of BM25 lead beyond PAPERQA_CONVEX_STANDOUT_RATIO "
        "(PAPERQA_CONVEX_STANDOUT_BONUS); 0 turns it off.")


class LLMSettings(BaseSettings):
    """Which model writes answers. The default runs in-process and needs nothing else."""

    model_config = _section()

    backend: Literal["llamacpp", "ollama", "openai"] = Field(
        # Only PAPERQA_LLM: every alias is also an environment name (matched case-insensitively), so an alias like
        # "backend" would let an unrelated BACKEND variable pick the model. `LLMSettings(backend=...)` works by name.
        "llamacpp", validation_alias=AliasChoices("PAPERQA_LLM"),
        description="LLM backend: llamacpp (in-process GGUF), ollama, or openai (any OpenAI-compatible server) "
                    "(PAPERQA_LLM).")
    model_profile: ModelProfile = Field(
        "default", description="Which packaged model llamacpp runs: 'fast' (SmolLM2-135M, quickest), 'default' "
        "(Qwen2.5-Coder-0.5B-Instruct Q4_K_M) or 'quality' (Qwen2.5-Coder-1.5B-Instruct, needs the `quality` extra: "
        "pip install '.[quality]'). Split models are joined once into PAPERQA_MODEL_CACHE and checked against their "
        "pinned sha256 (PAPERQA_MODEL_PROFILE).")
    model_path: Path | None = Field(None, description="Any GGUF file for llamacpp; overrides PAPERQA_MODEL_PROFILE "
                                    "(PAPERQA_MODEL_PATH).")
    model_cache: Path | None = Field(None, description="Folder the split models are joined into; unset means "
                                     "$XDG_CACHE_HOME/paperqa/models, i.e. ~/.cache/paperqa/models "
                                     "(PAPERQA_MODEL_CACHE).")
    model: str = Field("", description="Model name for ollama/openai, e.g. 'llama3.2:3b' (PAPERQA_MODEL).")
    base_url: str = Field("", description="Server URL for ollama (default http://127.0.0.1:11434) or openai "
                          "(e.g. http://127.0.0.1:8080/v1) (PAPERQA_BASE_URL).")
    api_key: str = Field("", description="API key for an openai-compatible server, if it wants one "
                         "(PAPERQA_API_KEY).")
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for a server backend (PAPERQA_TIMEOUT).")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 is deterministic "
                               "(PAPERQA_TEMPERATURE).")
    seed: int = Field(0, description="Sampling seed (PAPERQA_SEED).")
    max_tokens: int = Field(96, ge=8, description="Most tokens the model writes per answer "
                            "(PAPERQA_MAX_TOKENS).")
    n_ctx: int = Field(2048, ge=256, description="Context window for llamacpp, capped at the context the GGUF was "
                       "trained with (PAPERQA_N_CTX).")
    n_threads: int = Field(0, ge=0, description="CPU threads for llamacpp; 0 means all cores "
                           "(PAPERQA_N_THREADS).")
    llama_extra_buffers: bool = Field(
        False, description="Let llama.cpp put weights in its extra CPU buffer types (AMX, repacked). Off by "
                           "default: on Xeons with AMX, llama.cpp 0.3.x crashes (SIGSEGV in "
                           "ggml_backend_amx_mul_mat) on the bundled Q4_1 model (PAPERQA_LLAMA_EXTRA_BUFFERS).")

    def cache_dir(self) -> Path:
        return Path(self.model_cache).expanduser() if self.model_cache else default_cache_dir()

    def gguf_path(self) -> Path | None:
        """The GGUF llamacpp loads: PAPERQA_MODEL_PATH, else the profile's file (for a split model, its place in
        the cache, which may not be joined yet: `paperqa.models.model_file` joins it)."""
        if self.model_path:
            return self.model_path
        profile = PROFILES[self.model_profile]
        if profile.split:
            return self.cache_dir() / profile.filename
        return packaged_gguf_path()

    def describe_model(self) -> str:
        """What the configured llamacpp model is, for logs and the UI: 'default · Qwen2.5-Coder-0.5B-Instruct…'."""
        if self.model_path:
            return f"{Path(self.model_path).name} (PAPERQA_MODEL_PATH)"
        return f"{self.model_profile} · {PROFILES[self.model_profile].model}"


class AnswerSettings(BaseSettings):
    """How evidence is chosen and how strictly answers are checked against it."""

    model_config = _section()

    evidence_sentences: int = Field(4, ge=2, le=30, description="Most abstract sentences an explain answer quotes "
                                    "(PAPERQA_EVIDENCE_SENTENCES).")
    min_support: float = Field(0.5, ge=0, le=1, description="Share of a model-written sentence's content words "
                               "that its cited sentence must contain (PAPERQA_MIN_SUPPORT).")
    max_question_chars: int = Field(1000, ge=10, description="Longest question accepted "
                                    "(PAPERQA_MAX_QUESTION_CHARS).")
    decisions: Path | None = Field(
        None, description="A decisions.json written by `python -m eval.fit_decisions` (the engine's fitted models and "
        "thresholds); unset means the one shipped in the package (PAPERQA_DECISIONS).")
    model_summary: bool = Field(
        True, description="Let the model write a one-line answer above the quoted sentences of a fact answer; it is "
        "kept only where a quoted sentence supports it (PAPERQA_MODEL_SUMMARY). Off: answers are quotes only, and "
        "never wait for the model.")


class ServerSettings(BaseSettings):
    """The Gradio UI."""

    model_config = _section()

    host: str = Field("127.0.0.1", description="Address the UI binds to (PAPERQA_HOST).")
    port: int = Field(7860, ge=0, le=65535, description="UI port (PAPERQA_PORT).")
    auth: str | None = Field(None, description="'user:password' required to use the UI (PAPERQA_AUTH).")
    max_upload_mb: float = Field(20.0, gt=0, description="Largest upload accepted (PAPERQA_MAX_UPLOAD_MB).")


class Settings(BaseSettings):
    """Every paperqa setting, grouped by concern."""

    model_config = SettingsConfigDict(env_prefix="PAPERQA_", extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):  # type: ignore[no-untyped-def]
        # Sections read the environment themselves (flat PAPERQA_* names); here `PAPERQA_LLM=ollama`
        # must not be mistaken for the whole `llm` section.
        return (init_settings,)

    store: StoreSettings = Field(default_factory=StoreSettings, description="Vector store location.")
    embed: EmbedSettings = Field(default_factory=EmbedSettings, description="Embedder.")
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description="Retrieval and fusion.")
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Answer-writing model.")
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="Evidence and verification.")
    server: ServerSettings = Field(default_factory=ServerSettings, description="Web UI.")
