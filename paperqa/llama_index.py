"""paperqa inside a LlamaIndex app: a retriever over paperqa's store, and a query engine that answers with paperqa's
verified, cited answer.

    retriever = PaperQARetriever(qa, k=5)          # -> [NodeWithScore]: abstract sentences (or chunks) + metadata
    engine = PaperQAQueryEngine(qa)                # .query(q) -> Response: the verified answer; its citations are
                                                   #    the source nodes (the exact abstract sentences)

Both use the PaperQA object's own store, embedder and LLM, handed over explicitly (`llm=` picks another paperqa
LLM per engine). Nothing here reads or sets LlamaIndex's global `Settings` (whose defaults reach for OpenAI); the
callback managers are our own.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import Response
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from paperqa.answer import Answer
from paperqa.api import PaperQA, check_k
from paperqa.llm import LLM
from paperqa.retrieve import PaperHit

Unit = Literal["sentence", "chunk"]


def _paper_metadata(hit: PaperHit, rank: int) -> dict[str, Any]:
    p = hit.paper
    return {"paper_id": p.paper_id, "title": p.title, "authors": list(p.authors), "year": p.year, "url": p.url,
            "doi": p.doi, "source": p.source, "rank": rank, "retrieval_score": hit.score, "dense_sim": hit.dense_sim,
            "bm25_score": hit.bm25_score}


class PaperQARetriever(BaseRetriever):
    """paperqa's hybrid retrieval (dense + BM25, fused per paper) as a LlamaIndex retriever.

    `unit="sentence"`: per retrieved paper, its `sentences` abstract sentences closest to the query (score: their
    cosine to the query); `unit="chunk"`: the paper's retrieved chunks (score: the paper's fused retrieval score).
    Node metadata names the paper (id, title, authors, year, url, doi, source file:line, rank, retrieval scores) and
    the text's character offsets in the abstract (`start`, `end`)."""

    def __init__(self, qa: PaperQA, k: int | None = None, unit: Unit = "sentence", sentences: int = 1,
                 callback_manager: CallbackManager | None = None) -> None:
        if unit not in ("sentence", "chunk"):
            raise ValueError(f"unit must be 'sentence' or 'chunk', not {unit!r}")
        self.qa, self.k, self.unit, self.sentences = qa, check_k(k), unit, max(1, sentences)
        super().__init__(callback_manager=callback_manager or CallbackManager([]))

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        retrieval = self.qa.retriever.retrieve(query_bundle.query_str, k=self.k)
        nodes: list[NodeWithScore] = []
        for rank, hit in enumerate(retrieval.hits, start=1):
            meta = _paper_metadata(hit, rank)
            if self.unit == "chunk":
                got = self.qa.store.chunks.get(ids=hit.chunk_ids, include=["documents", "metadatas"])
                for cid, doc, cmeta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                    node = TextNode(id_=cid, text=doc or "", metadata={**meta, "start": cmeta["start"],
                                                                       "end": cmeta["end"]})
                    nodes.append(NodeWithScore(node=node, score=hit.score))
                continue
            abstract = hit.paper.abstract
            spans, vecs = self.qa.sentence_vectors.get(hit.paper_id, hit.paper.content_hash, abstract)
            sims = vecs @ np.asarray(retrieval.query_vec, dtype=np.float32)
            for i in np.argsort(-sims, kind="stable")[:self.sentences]:
                start, end = spans[int(i)]
                node = TextNode(id_=f"{hit.paper_id}@{start}-{end}", text=abstract[start:end],
                                metadata={**meta, "start": start, "end": end})
                nodes.append(NodeWithScore(node=node, score=float(sims[int(i)])))
        return nodes


class PaperQAQueryEngine(BaseQueryEngine):
    """paperqa's answer engine as a LlamaIndex query engine. The response text is the verified answer (with [n]
    markers, or paperqa's refusal); each source node is one citation: the cited abstract sentence, with `citation`
    (its n), the paper's metadata and the offsets; `response.metadata` carries the refusal flag, the model and the
    closest sentences found for a refusal. `k` and `llm` (a paperqa LLM) default to the PaperQA object's."""

    def __init__(self, qa: PaperQA, k: int | None = None, llm: LLM | None = None,
                 callback_manager: CallbackManager | None = None) -> None:
        self.qa, self.k, self.llm = qa, check_k(k), llm
        super().__init__(callback_manager=callback_manager or CallbackManager([]))

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def answer(self, question: str) -> Answer:
        final: Answer | None = None
        for event in self.qa.engine.stream(question, k=self.k, llm=self.llm):
            if isinstance(event, Answer):
                final = event
        assert final is not None
        return final

    def _query(self, query_bundle: QueryBundle) -> Response:
        ans = self.answer(query_bundle.query_str)
        sources = {s.paper_id: s for s in ans.sources}
        nodes = []
        for c in ans.citations:
            src = sources.get(c.paper_id)
            meta = {"citation": c.n, "paper_id": c.paper_id, "title": c.title, "start": c.start, "end": c.end,
                    "rank": src.rank if src else None}
            node = TextNode(id_=f"{c.paper_id}@{c.start}-{c.end}", text=c.quote, metadata=meta)
            nodes.append(NodeWithScore(node=node, score=src.score if src else None))
        return Response(response=ans.answer, source_nodes=nodes, metadata={
            "refused": ans.refused, "model": ans.model, "mode": ans.mode,
            "closest": [{"paper_id": c.paper_id, "title": c.title, "quote": c.quote} for c in ans.closest]})

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)
