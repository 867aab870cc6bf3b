"""Tests for eval/run.py and eval/systems.py: a small real run writes every output, and the numbers in metrics.json
are exactly what the rows recompute to. One module-scoped store with the bundled corpus is shared by all tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.metrics import metrics_from_rows
from eval.run import DEFAULT_CORPUS, DEFAULT_QUESTIONS, ensure_corpus, load_questions, main, run_eval, write_outputs
from eval.systems import SYSTEMS, LlamaIndexSystem, ReplayCacheLLM, says_it_does_not_know
from paperqa.api import PaperQA
from paperqa.llm import FakeLLM, Message
from paperqa.settings import Settings, StoreSettings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PAPERQA_HOME holding the bundled corpus, ingested through the runner's own 'ingest if empty' path."""
    home = tmp_path_factory.mktemp("eval-home")
    qa = PaperQA(settings=Settings(store=StoreSettings(home=home)), llm=FakeLLM())
    report = ensure_corpus(qa, DEFAULT_CORPUS)
    assert report is not None and report.added == 274 and not report.rejected
    assert ensure_corpus(qa, DEFAULT_CORPUS) is None  # not empty any more: nothing to do
    return home


def _read_outputs(out_dir: Path) -> tuple[list[dict[str, object]], dict[str, object]]:
    rows = [json.loads(line) for line in (out_dir / "rows.jsonl").read_text(encoding="utf-8").splitlines()]
    metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    return rows, metrics


def _echo_first_source(messages: list[Message]) -> str:
    """FakeLLM reply: paperqa prompts get their first evidence sentence back (a supported answer); the LlamaIndex
    tutorial prompt gets 'I don't know'."""
    user = messages[-1]["content"]
    m = re.search(r"^\[1\] \([^)]*\) (.+)$", user, flags=re.MULTILINE)
    return m.group(1) if m else "I don't know."


@pytest.mark.timeout(1500)
def test_small_real_run_writes_all_outputs(corpus_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """`paperqa eval --limit 6 --systems paperqa,bm25` on the real default model and the real store."""
    monkeypatch.setenv("PAPERQA_HOME", str(corpus_home))
    code = main(["--limit", "6", "--systems", "paperqa,bm25", "--out", str(tmp_path), "--label", "t",
                 "--no-progress"])
    assert code == 0
    (out_dir,) = list(tmp_path.iterdir())
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-t", out_dir.name)
    for name in ("report.md", "metrics.json", "rows.jsonl", "run.json", "headline.png"):
        assert (out_dir / name).is_file(), name
    assert not (out_dir / "rows.partial.jsonl").exists()  # the running copy is removed once the run completes

    rows, metrics = _read_outputs(out_dir)
    assert len(rows) == 12
    assert [r["system"] for r in rows] == ["paperqa"] * 6 + ["bm25"] * 6
    assert [r["id"] for r in rows[:6]] == [q["id"] for q in load_questions(DEFAULT_QUESTIONS, "all", 6)]
    for r in rows:
        for key in ("id", "split", "type", "question", "answer", "refused", "citations", "sources", "gold_titles",
                    "scores", "timings_ms"):
            assert key in r, key
        assert r["timings_ms"]["total"] > 0 and r["sources"], r["id"]
        assert "error" not in r, r.get("error")
    # the real model ran, and every citation points at a paper that was retrieved
    assert any(r["citations"] for r in rows if r["system"] == "paperqa")
    for r in rows:
        retrieved = {s["paper_id"] for s in r["sources"]}
        assert {c["paper_id"] for c in r["citations"]} <= retrieved

    assert metrics_from_rows(rows) == metrics
    assert set(metrics) == {"paperqa", "bm25"}
    assert set(metrics["paperqa"]["by_split"]) == {"dev", "test"}
    run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["model"].startswith("llamacpp:") and run["store"]["papers"] == 274

    assert (out_dir / "headline.png").read_bytes()[:8] == PNG_MAGIC
    report = (out_dir / "report.md").read_text(encoding="utf-8")
    for heading in ("## All questions", "## Test split", "## Dev split", "## By question type",
                    "## Where paperqa does not win"):
        assert heading in report
    assert "| paperqa | 6 |" in report and "| bm25 | 6 |" in report
    # the real model's citations are checked against the corpus, and all hold
    assert re.search(r"paperqa \d+ cited, 0 not a retrieved paper, 0 not a sentence of the cited abstract", report)


def test_every_system_runs_with_a_fake_model(corpus_home: Path, tmp_path: Path) -> None:
    """All four systems over three questions, FakeLLM for speed; outputs recompute to the same metrics."""
    fake = FakeLLM(responder=_echo_first_source)
    questions = load_questions(DEFAULT_QUESTIONS, "test", 3)
    rows, meta = run_eval(questions, list(SYSTEMS), Settings(store=StoreSettings(home=corpus_home)), llm=fake,
                          progress=False)
    assert [r["system"] for r in rows] == [s for s in SYSTEMS for _ in questions]
    assert meta["llm_cache"]["misses"] >= 1 and meta["model"] == "fake"
    li = [r for r in rows if r["system"] == "llamaindex"]
    assert all(r["refused"] for r in li)  # the fake says "I don't know" to the tutorial prompt
    assert all(len(r["citations"]) == 5 for r in li)  # one citation per source node
    metrics = write_outputs(tmp_path, rows, {"label": "fake", **meta})
    again, written = _read_outputs(tmp_path)
    assert metrics_from_rows(again) == written == metrics
    assert (tmp_path / "headline.png").read_bytes()[:8] == PNG_MAGIC


def test_llamaindex_reads_paperqa_chunks_and_uses_only_the_given_llm(corpus_home: Path) -> None:
    import llama_index.core

    settings = Settings(store=StoreSettings(home=corpus_home))
    qa = PaperQA(settings=settings, llm=FakeLLM())
    fake = FakeLLM(responder=lambda _m: "RAR achieves an FID of 1.48 on ImageNet-256.")
    system = LlamaIndexSystem(qa.store, fake, settings.llm)
    out = system.answer("What FID does RAR achieve on the ImageNet-256 benchmark?")

    assert out.answer == "RAR achieves an FID of 1.48 on ImageNet-256." and not out.refused
    assert len(fake.calls) == 1 and fake.calls[0]["max_tokens"] == settings.llm.max_tokens
    # the nodes are paperqa's stored chunks, verbatim, and the prompt carries them
    stored = set(qa.store.chunks.get(include=["documents"])["documents"])
    quotes = [c["quote"] for c in out.citations]
    assert len(quotes) == 5 and set(quotes) <= stored
    prompt = "\n".join(m["content"] for m in fake.calls[0]["messages"])
    assert all(q.split("\n", 1)[1][:60] in prompt for q in quotes)
    # ... and they are the chunks paperqa's own dense search finds for the question (same vectors, same model)
    question_vec = qa.embedder.encode(["What FID does RAR achieve on the ImageNet-256 benchmark?"])[0]
    dense_ids = [h.chunk_id for h in qa.store.dense_search(question_vec, 5)]
    assert set(quotes) == set(qa.store.chunks.get(ids=dense_ids, include=["documents"])["documents"])
    titles = {p.title for p in qa.papers()}
    assert "Randomized Autoregressive Visual Generation" in {s["title"] for s in out.sources}
    # paperqa's bookkeeping metadata stays out of the prompt, so the same question sends the same prompt every time
    assert "paper_id:" not in prompt and "start:" not in prompt
    for _ in range(2):
        system.answer("What FID does RAR achieve on the ImageNet-256 benchmark?")
    assert fake.calls[1]["messages"] == fake.calls[2]["messages"] == fake.calls[0]["messages"]
    assert {s["title"] for s in out.sources} <= titles
    assert len({s["paper_id"] for s in out.sources}) == len(out.sources)  # deduplicated by paper
    assert out.timings_ms["total"] >= out.timings_ms["first_token"] > 0
    # nothing was put into LlamaIndex's global Settings
    assert llama_index.core.Settings._llm is None and llama_index.core.Settings._embed_model is None


def test_replay_cache_generates_an_identical_prompt_once() -> None:
    inner = FakeLLM(replies=["RAR reaches 1.48 FID.", "another"])
    llm = ReplayCacheLLM(inner)
    msgs: list[Message] = [{"role": "user", "content": "q"}]
    first = list(llm.stream(msgs, max_tokens=8, temperature=0.0, seed=0))
    owed_before = llm.owed_ms
    second = list(llm.stream(msgs, max_tokens=8, temperature=0.0, seed=0))
    assert first == second == ["RAR", " reaches", " 1.48", " FID."]
    assert len(inner.calls) == 1 and (llm.hits, llm.misses) == (1, 1)
    assert llm.owed_ms > owed_before == 0.0  # the replay is charged the original generation time
    assert llm.complete(msgs, max_tokens=8, temperature=0.7, seed=0) == "another"  # sampling is never replayed
    assert len(inner.calls) == 2


def test_says_it_does_not_know() -> None:
    assert says_it_does_not_know("I don't know.")
    assert says_it_does_not_know("The context does not mention the Elo rating.")
    assert says_it_does_not_know("Empty Response")
    assert says_it_does_not_know("  ")
    assert not says_it_does_not_know("RAR achieves an FID of 1.48.")


def test_main_rejects_bad_arguments(tmp_path: Path) -> None:
    assert main(["--systems", "paperqa,gpt5", "--out", str(tmp_path)]) == 2
    assert main(["--limit", "0", "--out", str(tmp_path)]) == 2
    assert not list(tmp_path.iterdir())


def test_losses_and_ties_on_hand_made_metrics() -> None:
    """A baseline ahead is a loss; a baseline level on citation precision, refusal or hit@5 is listed as a tie."""
    from eval.run import _losses

    def m(**kw: float) -> dict[str, object]:
        return {"all": kw, "by_split": {}, "by_type": {}}

    metrics = {"paperqa": m(**{"hit@5": 1.0, "citation_precision": 0.9, "refusal_rate": 0.5, "correct": 0.7}),
               "bm25": m(**{"hit@5": 1.0, "citation_precision": 0.8, "refusal_rate": 0.5, "correct": 0.8})}
    assert _losses(metrics) == [("all", "correct", "bm25", 0.8, 0.7)]
    assert sorted(_losses(metrics, ties=True)) == [("all", "hit@5", "bm25", 1.0, 1.0),
                                                   ("all", "refusal_rate", "bm25", 0.5, 0.5)]
