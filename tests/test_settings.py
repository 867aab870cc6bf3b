"""Settings: every section reads flat PAPERQA_* variables, explicit values win, bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from paperqa.settings import (
    EMBEDDER_NAME,
    AnswerSettings,
    LLMSettings,
    RetrievalSettings,
    Settings,
    StoreSettings,
    packaged_gguf_path,
)


def test_defaults(home: Path) -> None:
    s = Settings()
    assert s.store.home == home  # the `home` fixture exports PAPERQA_HOME
    assert s.store.chroma_url is None
    assert s.embed.embed_name == EMBEDDER_NAME
    assert s.embed.embed_max_tokens == 256
    assert s.retrieval.fusion == "convex"
    assert s.retrieval.top_k == 5
    assert s.llm.backend == "llamacpp"
    assert s.llm.temperature == 0.0


def test_flat_environment_variables_reach_every_section(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERQA_CHROMA_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("PAPERQA_COLLECTION", "other")
    monkeypatch.setenv("PAPERQA_TOP_K", "7")
    monkeypatch.setenv("PAPERQA_FUSION", "bm25")
    monkeypatch.setenv("PAPERQA_MODEL", "llama3.2:3b")
    monkeypatch.setenv("PAPERQA_MIN_SUPPORT", "0.6")
    monkeypatch.setenv("PAPERQA_PORT", "8123")
    monkeypatch.setenv("PAPERQA_EMBED_MAX_TOKENS", "128")
    s = Settings()
    assert s.store.chroma_url == "http://127.0.0.1:9999"
    assert s.store.collection == "other"
    assert s.retrieval.top_k == 7
    assert s.retrieval.fusion == "bm25"
    assert s.llm.model == "llama3.2:3b"
    assert s.answer.min_support == 0.6
    assert s.server.port == 8123
    assert s.embed.embed_max_tokens == 128


def test_paperqa_llm_selects_the_backend_not_the_section(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERQA_LLM", "ollama")
    s = Settings()
    assert isinstance(s.llm, LLMSettings)
    assert s.llm.backend == "ollama"
    assert LLMSettings(backend="openai").backend == "openai"


def test_unprefixed_variables_are_ignored(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only PAPERQA_* names count: a BACKEND or LLM variable set for some other tool must not pick the model."""
    monkeypatch.setenv("BACKEND", "keras")
    monkeypatch.setenv("LLM", "openai")
    monkeypatch.setenv("TOP_K", "9")
    monkeypatch.setenv("HOME_DIR", "/nowhere")
    s = Settings()
    assert s.llm.backend == "llamacpp" and s.retrieval.top_k == 5 and s.store.home == home


def test_explicit_values_win_over_the_environment(home: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERQA_TOP_K", "9")
    other = tmp_path / "elsewhere"
    s = Settings(store=StoreSettings(home=other), retrieval=RetrievalSettings(top_k=3))
    assert s.store.home == other
    assert s.retrieval.top_k == 3


@pytest.mark.parametrize(("var", "value"), [
    ("PAPERQA_TOP_K", "0"),
    ("PAPERQA_FUSION", "magic"),
    ("PAPERQA_LLM", "gpt-from-the-cloud"),
    ("PAPERQA_TEMPERATURE", "5"),
    ("PAPERQA_MIN_SUPPORT", "1.5"),
    ("PAPERQA_EMBED_MAX_TOKENS", "8"),
])
def test_bad_values_are_refused(home: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert var.removeprefix("PAPERQA_").lower() in str(info.value).lower() or "backend" in str(info.value)


def test_answer_settings_bounds() -> None:
    with pytest.raises(ValidationError):
        AnswerSettings(evidence_sentences=0)
    assert AnswerSettings(evidence_sentences=3).evidence_sentences == 3


def test_bundled_gguf_is_found(home: Path) -> None:
    path = packaged_gguf_path()
    assert path is not None and path.suffix == ".gguf" and path.is_file()
    assert LLMSettings(model_profile="fast").gguf_path() == path
    assert LLMSettings(model_path=Path("/x/y.gguf")).gguf_path() == Path("/x/y.gguf")
