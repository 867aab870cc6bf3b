"""paperqa.llama_index on the bundled corpus with the real embedder and the real default LLM: the retriever's nodes
are abstract sentences (or chunks) with their paper's metadata, the query engine's response is paperqa's verified
answer with one source node per citation, LlamaIndex's global Settings stay untouched, and the README example runs
as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, Corpus, clear_paperqa_env
from llama_index.core.schema import NodeWithScore

from paperqa.errors import OptionError
from paperqa.llama_index import PaperQAQueryEngine, PaperQARetriever

RAR = "Randomized Autoregressive Visual Generation"
QUESTION = "What FID does RAR reach on ImageNet-256?"


def global_settings() -> tuple[object, object, object]:
    """LlamaIndex's global LLM, embed model and callback manager (unset: None), as other tests left them."""
    from llama_index.core import Settings

    return Settings._llm, Settings._embed_model, Settings._callback_manager


def test_retriever_returns_abstract_sentences_with_paper_metadata(corpus: Corpus) -> None:
    before = global_settings()
    nodes = PaperQARetriever(corpus.qa, k=3, sentences=2).retrieve(QUESTION)
    assert nodes and all(isinstance(n, NodeWithScore) for n in nodes)
    papers = {p.paper_id: p for p in corpus.qa.papers()}
    assert nodes[0].node.metadata["title"] == RAR and "1.48" in nodes[0].node.get_content()
    assert len({n.node.metadata["paper_id"] for n in nodes}) == 3 and len(nodes) == 6
    for n in nodes:
        meta = n.node.metadata
        paper = papers[meta["paper_id"]]
        assert n.node.get_content() == paper.abstract[meta["start"]:meta["end"]]  # a sentence, exactly as stored
        assert (meta["title"], meta["source"], meta["year"]) == (paper.title, paper.source, paper.year)
        assert -1.0 <= n.score <= 1.0 and meta["rank"] in (1, 2, 3)
    assert global_settings() == before and before[:2] == (None, None)


def test_retriever_can_return_chunks(corpus: Corpus) -> None:
    nodes = PaperQARetriever(corpus.qa, k=2, unit="chunk").retrieve(QUESTION)
    ids, _, texts = corpus.qa.store.all_chunks()
    chunk_text = dict(zip(ids, texts, strict=True))
    assert nodes[0].node.metadata["title"] == RAR
    assert all(n.node.get_content() == chunk_text[n.node.node_id] for n in nodes)
    assert all(n.score == n.node.metadata["retrieval_score"] for n in nodes)
    with pytest.raises(OptionError):
        PaperQARetriever(corpus.qa, k=0)
    with pytest.raises(ValueError, match="unit"):
        PaperQARetriever(corpus.qa, unit="page")  # type: ignore[arg-type]


def test_query_engine_response_is_the_verified_answer_with_citations(corpus: Corpus) -> None:
    before = global_settings()
    engine = PaperQAQueryEngine(corpus.qa, k=5)
    response = engine.query(QUESTION)
    expected = engine.answer(QUESTION)  # the same engine, asked directly (temperature 0: the same answer)
    assert str(response) == expected.answer and not response.metadata["refused"]
    assert "1.48" in str(response) and re.search(r"\[\d+\]", str(response))
    assert len(response.source_nodes) == len(expected.citations) >= 1
    papers = {p.paper_id: p for p in corpus.qa.papers()}
    for node, cite in zip(response.source_nodes, expected.citations, strict=True):
        meta = node.node.metadata
        assert (meta["citation"], meta["paper_id"], node.node.get_content()) == (cite.n, cite.paper_id, cite.quote)
        assert papers[cite.paper_id].abstract[meta["start"]:meta["end"]] == cite.quote
    refusal = engine.query("What is the boiling point of tungsten on Mars?")
    assert refusal.metadata["refused"] and refusal.source_nodes == []
    assert global_settings() == before and before[:2] == (None, None)


def test_readme_llama_index_example_runs_as_written(corpus: Corpus) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    [example] = [b for b in blocks if "paperqa.llama_index" in b]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERQA_")}
    env["PAPERQA_HOME"] = str(corpus.home)  # the corpus is already in: the example's ingest finds it unchanged
    with pytest.MonkeyPatch.context() as mp:
        clear_paperqa_env(mp)
        run = subprocess.run([sys.executable, "-c", example], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert RAR in lines[0] and "1.48" in lines[0]  # the best sentence, from the RAR abstract
    assert any("1.48" in line and "[1]" in line for line in lines)  # the verified answer
    assert any(line.startswith("1 ") and RAR in line for line in lines)  # its citation as a source node
