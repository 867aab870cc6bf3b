"""`paperqa` on the command line, through cli.main() with the real store, embedder and model.

The session's loaded embedder and GGUF model are handed to the CLI's PaperQA (same models, same names) so each
command does not load them again; the CLI code path itself is unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BAD, CORPUS_PAPERS, GOOD, Corpus

import paperqa.api
from paperqa import cli
from paperqa.embed import Embedder
from paperqa.llm import LLM, make_llm
from paperqa.settings import EmbedSettings, LLMSettings

TO_DICT_KEYS = {"question", "answer", "refused", "citations", "sources", "timings_ms", "model", "mode",
                "standalone_question", "intent", "subject", "confidence", "unsupported", "draft", "prompt_tokens",
                "completion_tokens", "closest"}


@pytest.fixture(autouse=True)
def shared_models(monkeypatch: pytest.MonkeyPatch, embedder: Embedder, real_llm: LLM) -> None:
    def make_embedder(settings: EmbedSettings) -> Embedder:
        same = settings.embed_name == embedder.name and settings.embed_model == embedder.settings.embed_model
        return embedder if same else Embedder(settings)

    def make(settings: LLMSettings) -> LLM:
        same = (settings.backend == "llamacpp" and settings.model_path is None
                and settings.model_profile == real_llm.profile.name)  # type: ignore[attr-defined]
        return real_llm if same else make_llm(settings)

    monkeypatch.setattr(paperqa.api, "Embedder", make_embedder)
    monkeypatch.setattr(paperqa.api, "make_llm", make)


@pytest.fixture
def corpus_env(corpus: Corpus, home: Path, monkeypatch: pytest.MonkeyPatch) -> Corpus:
    monkeypatch.setenv("PAPERQA_HOME", str(corpus.home))
    return corpus


def test_papers_lists_the_corpus(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["papers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{CORPUS_PAPERS} papers"
    assert len(lines) == 1 + CORPUS_PAPERS
    assert any("Randomized Autoregressive Visual Generation" in ln for ln in lines)


def test_papers_json(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["papers", "--json"]) == 0
    papers = json.loads(capsys.readouterr().out)
    assert len(papers) == CORPUS_PAPERS
    assert set(papers[0]) == {"paper_id", "title", "chunks"}
    assert sum(p["chunks"] for p in papers) == corpus_env.qa.store.count_chunks()


def test_stats(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stats"]) == 0
    out = capsys.readouterr().out
    assert f"papers: {CORPUS_PAPERS}" in out and "embedder: sentence-transformers/all-MiniLM-L6-v2" in out
    assert cli.main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["papers"] == CORPUS_PAPERS
    assert stats["chunks"] == corpus_env.qa.store.count_chunks()
    assert stats["store"] == str(corpus_env.home / "chroma")


def test_reingest_of_the_bundled_corpus_is_all_unchanged(corpus_env: Corpus,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ingest", "--json", "--quiet"]) == 0  # no path: the bundled corpus
    report = json.loads(capsys.readouterr().out)
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, CORPUS_PAPERS)
    assert report["chunks_written"] == 0 and report["rejected"] == []


def test_ask_json(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "--json", "Which papers here apply transformers to music?"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) == TO_DICT_KEYS
    assert d["mode"] == "list" and not d["refused"] and d["citations"]
    assert set(d["citations"][0]) == {"n", "paper_id", "title", "quote", "start", "end"}
    assert set(d["sources"][0]) == {"rank", "paper_id", "title", "score"}
    assert {c["paper_id"] for c in d["citations"]} <= {s["paper_id"] for s in d["sources"]}


def test_ask_plain_prints_the_answer_and_references(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "--k", "3", "Which paper generates piano covers from pop audio?"]) == 0
    out = capsys.readouterr().out
    assert "References:" in out and "[1] Pop2Piano" in out
    assert "llamacpp:" in out and " ms" in out


def test_ask_profile_picks_the_model(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    question = "What FID does RAR reach on ImageNet-256?"
    assert cli.main(["ask", "--json", "--profile", "fast", question]) == 0
    fast = json.loads(capsys.readouterr().out)
    assert fast["model"] == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    assert cli.main(["ask", "--json", question]) == 0  # PAPERQA_MODEL_PROFILE unset: the default profile
    default = json.loads(capsys.readouterr().out)
    assert default["model"] == "llamacpp:Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
    assert "1.48" in default["answer"] and not default["refused"]
    with pytest.raises(SystemExit):
        cli.main(["ask", "--profile", "huge", question])
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_serve_profile_reaches_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    import app

    seen: dict[str, object] = {}

    def fake_main(argv: list[str]) -> int:
        seen["argv"], seen["profile"] = argv, os.environ.get("PAPERQA_MODEL_PROFILE")
        return 0

    monkeypatch.setenv("PAPERQA_MODEL_PROFILE", "default")  # restored after the test
    monkeypatch.setattr(app, "main", fake_main)
    assert cli.main(["serve", "--profile", "quality", "--no-ingest"]) == 0
    assert seen == {"argv": ["--no-ingest"], "profile": "quality"}


def test_ask_empty_question_is_an_error(corpus_env: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "   "]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paperqa: ") and "empty" in err


def test_ingest_report_and_exit_codes(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ingest", "--quiet", str(GOOD / "seed.txt")]) == 0
    out = capsys.readouterr().out
    assert "2 added" in out and "2 papers in the store" in out

    bad = BAD / "bad_line.jsonl"
    assert cli.main(["ingest", "--quiet", str(bad), str(GOOD / "papers.csv")]) == 1  # a rejected file fails the run
    out = capsys.readouterr().out
    assert f"rejected {bad}:2: " in out and "4 papers in the store" in out

    assert cli.main(["ingest", "--quiet", "--json", "--rebuild", str(GOOD / "papers.bib")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == 2 and report["papers_total"] == 2


def test_embedder_mismatch_is_reported_with_the_fix(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ingest", "--quiet", str(GOOD / "seed.txt")]) == 0
    capsys.readouterr()
    monkeypatch.setenv("PAPERQA_EMBED_NAME", "acme/other-embedder")
    assert cli.main(["papers"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("paperqa: ") and "--rebuild" in err and "acme/other-embedder" in err


def test_bad_chroma_url_is_reported(home: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAPERQA_CHROMA_URL", "not a url")
    assert cli.main(["stats"]) == 2
    assert "PAPERQA_CHROMA_URL" in capsys.readouterr().err


def test_ingest_against_a_chroma_server(home: Path, chroma_server: str, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAPERQA_CHROMA_URL", chroma_server)
    monkeypatch.setenv("PAPERQA_COLLECTION", "clitest")
    assert cli.main(["ingest", "--quiet", "--json", "--rebuild", str(GOOD / "seed.txt")]) == 0
    assert json.loads(capsys.readouterr().out)["added"] == 2
    assert cli.main(["stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["store"] == chroma_server and stats["papers"] == 2


@pytest.mark.parametrize(("argv", "fragment"), [
    (["ask", "--k", "-1", "q"], "--k must be from 1 to 50, not -1"),
    (["ask", "--k", "0", "q"], "--k must be from 1 to 50, not 0"),
    (["ask", "--k", "51", "q"], "--k must be from 1 to 50, not 51"),
    (["chat", "--k", "three"], "--k must be a whole number from 1 to 50, not 'three'"),
    (["serve", "--port", "70000"], "--port must be from 0 to 65535, not 70000"),
])
def test_numeric_options_are_checked(home: Path, argv: list[str], fragment: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`--k -1` used to say "There are no papers in the store yet" and `--k 0` silently meant the default."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err
