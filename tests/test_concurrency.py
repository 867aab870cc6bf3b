"""Concurrency: one PaperQA ingesting in a thread while other threads ask questions (ask, stream, chat) and list
papers. Nothing may raise, and every answer must be well formed and grounded in what the store holds."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Corpus, make_qa

from bench.load import main as load_main
from bench.load import start_app
from paperqa.answer import Answer, Progress, Token
from paperqa.api import PaperQA
from paperqa.embed import Embedder
from paperqa.llm import LLM
from paperqa.records import Paper
from paperqa.settings import Settings

QUESTIONS = [
    "What FID does RAR reach on ImageNet-256?",
    "How many languages does MiniMax-Speech support?",
    "Which papers generate music audio from text descriptions?",
    "How much faster is FastSpeech at mel-spectrogram generation than an autoregressive Transformer TTS?",
    "What is a visual tokenizer used for in image generation?",
    "Which papers are about speech synthesis?",
]
FIRST, REST = 40, 100  # papers stored before the threads start, and ingested while they ask
MODES = {"fact", "identify", "explain", "compare", "yesno", "list", "refused"}
_MARK = re.compile(r"\[(\d+)\]")


def write_jsonl(path: Path, papers: list[Paper]) -> Path:
    path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers),
                    encoding="utf-8")
    return path


def check_answer(ans: Answer, question: str, abstracts: dict[str, str]) -> None:
    """Well formed, and every citation quotes the stored abstract of a retrieved paper at its offsets."""
    assert isinstance(ans, Answer)
    assert ans.question == question
    assert ans.answer.strip()
    assert ans.mode in MODES
    assert ans.refused == (ans.mode == "refused")
    assert ans.refused == (not ans.citations)
    assert [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
    source_ids = {s.paper_id for s in ans.sources}
    assert len(source_ids) == len(ans.sources)
    for c in ans.citations:
        assert c.paper_id in source_ids
        abstract = abstracts[c.paper_id]
        assert c.quote and c.quote in abstract
        assert abstract[c.start:c.end] == c.quote
    assert {int(n) for n in _MARK.findall(ans.answer)} <= {c.n for c in ans.citations}
    assert ans.timings_ms["total"] > 0
    json.dumps(ans.to_dict())


def test_questions_while_ingesting(settings: Settings, tmp_path: Path, embedder: Embedder, real_llm: LLM,
                                   corpus_papers: list[Paper]) -> None:
    qa: PaperQA = make_qa(settings, embedder, llm=real_llm)
    papers = corpus_papers[:FIRST + REST]
    first = write_jsonl(tmp_path / "first.jsonl", papers[:FIRST])
    rest = write_jsonl(tmp_path / "rest.jsonl", papers[FIRST:])
    assert qa.ingest([first]).added == FIRST

    errors: list[BaseException] = []
    answers: list[tuple[str, Answer]] = []
    done = threading.Event()
    reports = []

    def guarded(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the test thread
                errors.append(exc)
        return run

    def ingest() -> None:
        try:
            reports.append(qa.ingest([rest]))
        finally:
            done.set()

    def asker(offset: int, how: str) -> Callable[[], None]:
        def run() -> None:
            i = offset
            chat = qa.chat()
            while not done.is_set() or i < offset + 2:
                q = QUESTIONS[i % len(QUESTIONS)]
                if how == "ask":
                    ans = qa.ask(q)
                elif how == "stream":
                    events = list(qa.stream(q))
                    assert all(isinstance(e, Token | Progress) for e in events[:-1])
                    ans = events[-1]
                else:
                    ans = chat.ask(q)
                answers.append((q, ans))
                i += 1
        return run

    def lister() -> None:
        while not done.is_set():
            papers = qa.papers()
            assert all(p.n_chunks >= 1 and p.abstract for p in papers)
            time.sleep(0.05)

    threads = [threading.Thread(target=guarded(fn), name=name) for name, fn in (
        ("ingest", ingest), ("ask", asker(0, "ask")), ("stream", asker(2, "stream")), ("chat", asker(4, "chat")),
        ("papers", lister))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]

    assert reports and reports[0].added == REST and not reports[0].rejected
    assert qa.stats()["papers"] == FIRST + REST
    abstracts = {p.paper_id: p.abstract for p in qa.papers()}
    assert len(answers) >= 6
    for q, ans in answers:
        check_answer(ans, q, abstracts)
    assert any(not a.refused for _, a in answers)
    # After the ingest the index serves the new papers too: BM25 covers every stored chunk.
    assert len(qa.retriever.lexical().chunk_ids) == qa.stats()["chunks"]


def test_load_bench_four_sessions(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/load.py against a real app.py: 4 concurrent sessions, 2 distinct questions each, none lost or crossed."""
    app = start_app(corpus.home)
    try:
        rc = load_main(["--url", app.url, "--n", "4", "--per-session", "2"])
    finally:
        app.stop()
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "N=4: 8/8 ok, 0 errors, 0 lost, 0 crossed" in out, out
