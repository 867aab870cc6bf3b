"""The SciFact harness (bench/scifact.py) on a 50-abstract slice kept in tests/fixtures/scifact, so it cannot rot while
CI never runs the full benchmark: loading and slicing, the store and its doc-id mapping, retrieval metrics for every
fusion, answer scoring (rationale sentences, SUPPORT vs CONTRADICT) and the command's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

from bench import scifact
from paperqa.answer import Answer, Citation
from paperqa.embed import Embedder
from paperqa.llm import LLM
from paperqa.retrieve import FUSIONS

SLICE = FIXTURES / "scifact"


@pytest.fixture(scope="module")
def data() -> scifact.SciFact:
    return scifact.load_scifact(SLICE)


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory, data: scifact.SciFact, embedder: Embedder, real_llm: LLM):
    """The slice ingested into a module-private store, sharing the session's embedder and model."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in __import__("os").environ if k.startswith("PAPERQA_")]:
            mp.delenv(key)
        home = tmp_path_factory.mktemp("scifact-home")
        return scifact.scifact_qa(home, data=data, llm=real_llm, embedder=embedder, progress=False)


def test_the_slice_loads_whole(data: scifact.SciFact) -> None:
    assert len(data.corpus) == 50
    assert data.qrels["test"] and data.claims["dev"]
    for rels in data.qrels["test"].values():  # every judged doc of a kept query is in the slice
        assert set(rels) <= set(data.corpus)
    with_rationale = [c for c in data.claims["dev"] if c.evidence]
    assert {c.label for c in with_rationale} == {"SUPPORT", "CONTRADICT"}
    doc = data.corpus["14717500"]
    assert doc.sentences and " ".join(doc.text.split()) == " ".join(" ".join(doc.sentences).split())


def test_missing_data_names_the_folder_and_the_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(scifact.DATA_ENV, raising=False)
    with pytest.raises(scifact.SciFactDataError) as err:
        scifact.load_scifact(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value) and "corpus.jsonl" in str(err.value)
    monkeypatch.setenv(scifact.DATA_ENV, str(tmp_path))
    with pytest.raises(scifact.SciFactDataError, match=scifact.DATA_ENV):
        scifact.data_dir()


def test_slicing_keeps_only_complete_queries(data: scifact.SciFact) -> None:
    small = scifact.slice_scifact(data, 20)
    assert len(small.corpus) == 20
    assert small.qrels["test"]
    for rels in small.qrels["test"].values():
        assert set(rels) <= set(small.corpus)
    for c in small.claims["dev"]:
        assert set(c.evidence) <= set(small.corpus)


def test_every_stored_paper_maps_back_to_its_doc(qa, data: scifact.SciFact) -> None:
    papers = qa.papers()
    ids = scifact.paper_doc_ids(papers, data)
    assert len(papers) == len(data.corpus) == len(ids)
    assert sorted(ids.values()) == sorted(data.corpus)
    for p in papers:
        assert " ".join(p.title.split()) == " ".join(data.corpus[ids[p.paper_id]].title.split())


def test_rationale_sentences_are_found_in_the_stored_abstracts(qa, data: scifact.SciFact) -> None:
    ids = scifact.paper_doc_ids(qa.papers(), data)
    for p in qa.papers():
        doc = data.corpus[ids[p.paper_id]]
        spans = scifact.rationale_spans(doc, p.abstract)
        assert None not in spans
        for (a, b), sentence in zip(spans, doc.sentences, strict=True):
            assert p.abstract[a:b].split() == sentence.split()


def test_a_second_open_reuses_the_store(qa, data: scifact.SciFact) -> None:
    again = scifact.ensure_store(qa, data, progress=False)
    assert again["ingested"] is False and again["papers"] == 50


def test_retrieval_metrics_for_every_fusion(qa, data: scifact.SciFact) -> None:
    results = scifact.run_retrieval(qa, data, "test")
    assert set(results) == {*FUSIONS, "bm25s (plain baseline)"}
    for r in results.values():
        assert r["queries"] == len(data.qrels["test"])
        assert 0.0 <= r["ndcg@10"] <= 1.0 and r["recall@10"] <= r["recall@100"] <= 1.0
        assert r["p50_ms"] > 0 and r["p95_ms"] >= r["p50_ms"]
    # 50 abstracts, 34 claims: any working retriever finds most relevant docs in its top 10.
    assert results["rrf"]["recall@10"] > 0.8
    assert results[qa.settings.retrieval.fusion]["ndcg@10"] > 0.7


def _answer(question: str, text: str, citations: list[Citation], refused: bool = False) -> Answer:
    return Answer(question=question, answer=text, refused=refused, citations=citations, sources=[], timings_ms={},
                  model="test")


def test_answer_scoring_counts_rationale_quotes_and_verdicts(qa, data: scifact.SciFact) -> None:
    claim = next(c for c in data.claims["dev"] if c.id == "3")  # SUPPORT, doc 14717500 sentences {2, 5, 7}
    papers = {p.paper_id: p for p in qa.papers()}
    ids = scifact.paper_doc_ids(papers.values(), data)
    pid = next(p for p, d in ids.items() if d == "14717500")
    other = next(p for p, d in ids.items() if d not in claim.evidence)
    spans = scifact.rationale_spans(data.corpus["14717500"], papers[pid].abstract)
    (a2, b2), (a0, b0) = spans[2], spans[0]  # type: ignore[misc]
    abstract = papers[pid].abstract
    cites = [Citation(1, pid, "t", abstract[a2:b2], a2, b2), Citation(2, pid, "t", abstract[a0:b0], a0, b0),
             Citation(3, other, "t", "x", 0, 1)]
    row = scifact.score_answer(claim, _answer("q", "Yes, it maps rare variants [1][2][3].", cites), data, ids,
                               {p: x.abstract for p, x in papers.items()})
    assert row.verdict == "yes" and not row.refused and row.label == "SUPPORT"
    assert [c["gold_paper"] for c in row.citations] == [True, True, False]
    assert [c["rationale"] for c in row.citations] == [True, False, False]
    assert (row.rationale_found, row.rationale_total) == (1, 3)
    refusal = scifact.score_answer(claim, _answer("q", "The papers here don't say.", [], refused=True), data, ids,
                                   {p: x.abstract for p, x in papers.items()})
    m = scifact.answer_metrics([row, refusal])
    assert m["refusal_rate"] == 0.5 and m["citations"] == 3
    assert m["cited_paper_precision"] == round(2 / 3, 4) and m["rationale_precision"] == round(1 / 3, 4)
    assert m["rationale_recall"] == round(1 / 6, 4) and m["rationale_recall_answered"] == round(1 / 3, 4)
    assert m["by_label"]["SUPPORT"] == {"claims": 2, "yes": 1, "no": 0, "other": 0, "refused": 1}


def test_real_answers_to_a_few_claims(qa, data: scifact.SciFact) -> None:
    metrics, rows = scifact.run_answers(qa, data, n=3, progress=False)
    assert metrics["claims"] == len(rows) == 3
    for row in rows:
        assert row.question.startswith("Is it true that ") and row.question.endswith("?")
        assert row.refused or row.answer
        for c in row.citations:
            assert c["doc_id"] in data.corpus
    assert metrics["refused"] == sum(r.refused for r in rows)


def test_the_command_writes_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("PAPERQA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PAPERQA_EMBED_THREADS", "1")
    code = scifact.main(["--data", str(SLICE), "--home", str(tmp_path / "home"), "--skip-answers", "--quiet",
                         "--fusions", "rrf,bm25", "--queries", "5", "--results-dir", str(tmp_path), "--out", "s"])
    assert code == 0
    saved = json.loads((tmp_path / "s.json").read_text())
    assert set(saved["retrieval"]) == {"rrf", "bm25", "bm25s (plain baseline)"}
    assert saved["retrieval"]["rrf"]["queries"] == 5 and saved["ingest"]["papers"] == 50
    out = capsys.readouterr().out
    assert "published: BM25 (Anserini)" in out and "| paperqa `rrf`" in out


def test_the_cli_says_where_the_data_is_missing(tmp_path: Path, capsys) -> None:
    from paperqa.cli import main

    assert main(["bench", "scifact", "--data", str(tmp_path / "absent"), "--skip-answers"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "absent") in err and "--data" in err and "corpus.jsonl" in err


def test_a_store_holds_only_the_corpus_it_was_opened_for(tmp_path: Path, data: scifact.SciFact,
                                                         embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in __import__("os").environ if k.startswith("PAPERQA_")]:
        monkeypatch.delenv(key)
    small = scifact.slice_scifact(data, 20)
    qa = scifact.scifact_qa(tmp_path, data=small, embedder=embedder, progress=False)
    assert qa.store.count_papers() == 20
    scifact.scifact_qa(tmp_path, data=data, embedder=embedder, progress=False)  # the whole slice: 30 more
    again = scifact.scifact_qa(tmp_path, data=small, embedder=embedder, progress=False)
    assert again.store.count_papers() == 20
    assert sorted(scifact.paper_doc_ids(again.papers(), small).values()) == sorted(small.corpus)
