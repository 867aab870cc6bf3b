"""The PaperQA object: wiring, settings from the environment, lazy models, papers/remove/stats, ask and stream.
Answers here use FakeLLM (scripted), on a small store of fixture papers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GOOD_FILES, GOOD_PAPERS

from paperqa import Answer, PaperQA, Progress, Settings, Token
from paperqa.llm import FakeLLM, LlamaCppLLM
from paperqa.retrieve import FUSIONS

QDECODE_Q = "What logical error rate does QDecode reach?"
QDECODE_CLAIM = "QDecode lowers the logical error rate to 0.7% per round at code distance 5."
SURFACE = "Surface Code Decoding on Noisy Superconducting Hardware"


@pytest.fixture
def small(qa_factory: Callable[..., PaperQA]) -> PaperQA:
    qa = qa_factory(llm=FakeLLM())
    qa.ingest(GOOD_FILES)
    return qa


def test_settings_come_from_the_environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERQA_COLLECTION", "envcoll")
    qa = PaperQA()
    assert qa.settings.store.home == home
    assert qa.store.location == str(home / "chroma")
    assert qa.store.chunks.name == "envcoll_chunks"


def test_models_load_lazily(settings: Settings) -> None:
    qa = PaperQA(settings=settings)
    assert qa.embedder._model is None  # opening a store embeds nothing
    assert qa.papers() == [] and qa.stats()["papers"] == 0
    assert qa.embedder._model is None
    llm = qa.llm
    assert isinstance(llm, LlamaCppLLM) and llm._llama is None  # built from settings, not loaded yet
    assert qa.llm is llm


def test_papers_stats_and_remove(small: PaperQA) -> None:
    papers = small.papers()
    assert len(papers) == GOOD_PAPERS
    assert [p.title.lower() for p in papers] == sorted(p.title.lower() for p in papers)
    stats = small.stats()
    assert stats["papers"] == GOOD_PAPERS and stats["chunks"] == sum(p.n_chunks for p in papers)
    assert stats["embedder"] == small.embedder.name and stats["dim"] == 384
    gen = stats["generation"]
    assert isinstance(gen, int) and gen >= 1

    target = next(p for p in papers if p.title == SURFACE)
    small.remove([target.paper_id])
    assert small.stats()["papers"] == GOOD_PAPERS - 1
    assert small.stats()["generation"] == gen + 1
    assert target.paper_id not in {p.paper_id for p in small.papers()}
    for fusion in FUSIONS:
        hits = small.retriever.retrieve("QDecode surface code logical error rate", k=5, fusion=fusion).hits
        assert target.paper_id not in {h.paper_id for h in hits}


def test_ask_cites_the_supporting_sentence(small: PaperQA) -> None:
    small.llm.enqueue(QDECODE_CLAIM)  # type: ignore[attr-defined]
    ans = small.ask(QDECODE_Q)
    assert not ans.refused and ans.mode == "fact"
    assert ans.answer.startswith(QDECODE_CLAIM[:-1] + " [1].\n\n")  # the checked summary, then the quote
    [c] = ans.citations
    assert c.title == SURFACE
    assert c.quote == "QDecode lowers the logical error rate to 0.7% per round at code distance 5."
    assert ans.sources[0].title == SURFACE
    assert ans.to_markdown().startswith(ans.answer) and f"[1] {SURFACE}" in ans.to_markdown()


def test_ask_k_limits_sources(small: PaperQA) -> None:
    small.llm.enqueue(QDECODE_CLAIM)  # type: ignore[attr-defined]
    assert len(small.ask(QDECODE_Q, k=2).sources) == 2


def test_stream_yields_tokens_then_the_answer(small: PaperQA) -> None:
    small.llm.enqueue(QDECODE_CLAIM)  # type: ignore[attr-defined]
    events = list(small.stream(QDECODE_Q))
    assert isinstance(events[-1], Answer) and all(isinstance(e, Token | Progress) for e in events[:-1])
    assert events[-1].draft == QDECODE_CLAIM  # type: ignore[union-attr]
    assert "".join(e.text for e in events if isinstance(e, Token)) == events[-1].answer  # only verified text


def test_empty_store_says_so(qa_factory: Callable[..., PaperQA]) -> None:
    fake = FakeLLM()
    ans = qa_factory(llm=fake).ask("What is in here?")
    assert ans.refused and ans.mode == "refused" and ans.sources == [] and ans.citations == []
    assert "paperqa ingest" in ans.answer
    assert fake.calls == []


def test_chat_keeps_history(small: PaperQA) -> None:
    small.llm.enqueue(QDECODE_CLAIM, "I don't know.")  # type: ignore[attr-defined]
    chat = small.chat()
    chat.ask(QDECODE_Q)
    second = chat.ask("How fast is it per round?")
    assert "QDecode" in second.standalone_question
    assert [a.question for a in chat.history] == [QDECODE_Q, "How fast is it per round?"]


@pytest.mark.parametrize("k", [0, -1, 51, 2.5, True, "3"])
def test_bad_k_is_refused_with_the_range(settings: Settings, k: object) -> None:
    from paperqa.errors import OptionError

    qa = PaperQA(settings=settings, llm=FakeLLM())
    with pytest.raises(OptionError, match="k must be a whole number from 1 to 50"):
        qa.ask("What is here?", k=k)  # type: ignore[arg-type]
    with pytest.raises(OptionError):
        qa.stream("What is here?", k=k)  # type: ignore[arg-type]
