"""The systems the evaluation compares, all over the same store, the same chunks and the same model.

- `paperqa`: the engine as shipped (hybrid retrieval with RRF fusion, evidence sentences, attribution);
- `bm25` / `dense`: the same engine with retrieval fusion "bm25" or "dense" only;
- `llamaindex`: the LlamaIndex starter-tutorial pipeline (`VectorStoreIndex` + `as_query_engine(similarity_top_k=5)`)
  reading paperqa's own Chroma chunks collection, with its embedder and LLM passed explicitly (never LlamaIndex's
  global Settings);
- `paperqa-<backend>`: paperqa on another configured LLM backend (`--llm`).

Every system answers through `answer(question) -> SystemOutput`, which the runner turns into a row.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from paperqa.answer import Answer, AnswerEngine, Token
from paperqa.embed import packaged_model_path
from paperqa.llm import LLM, Message, as_llamaindex_llm, make_llm
from paperqa.retrieve import Retriever
from paperqa.settings import LLMSettings, Settings
from paperqa.store import PaperStore

SYSTEMS = ("paperqa", "bm25", "dense", "llamaindex")
LLAMAINDEX_TOP_K = 5


@dataclass
class SystemOutput:
    """What one system said for one question, in the shape of a row of rows.jsonl."""

    answer: str
    refused: bool
    citations: list[dict[str, Any]]  # n, paper_id, title, quote
    sources: list[dict[str, Any]]  # rank, paper_id, title, score
    timings_ms: dict[str, float]
    model: str
    mode: str = ""
    error: str | None = None


class System(Protocol):
    name: str
    description: str

    def warm_up(self) -> None:
        """Load models and indexes so the first timed question does not pay for it."""
        ...

    def answer(self, question: str) -> SystemOutput:
        ...


# --- a deterministic replay cache in front of the shared model -------------------------------------------------------


@dataclass
class _Recorded:
    pieces: list[str]
    first_ms: float
    total_ms: float


@dataclass
class ReplayCacheLLM:
    """Wraps the shared LLM so an identical prompt is generated once per run.

    paperqa, bm25 and dense often pick the same evidence and so send the same prompt; with greedy decoding and a
    fresh KV cache per request the model's reply is identical, so running it again only costs time. A replay is
    charged the time the original generation took (`owed_ms`), which the systems add back to their latencies, so
    caching changes how long the evaluation takes, not the latencies it reports.
    """

    inner: LLM
    hits: int = 0
    misses: int = 0
    owed_ms: float = 0.0
    _cache: dict[str, _Recorded] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
               stop: list[str] | None = None) -> Iterator[str]:
        key = json.dumps({"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "seed": seed,
                          "stop": stop}, sort_keys=True)
        with self._lock:
            rec = self._cache.get(key) if temperature == 0 else None
        if rec is not None:
            self.hits += 1
            self.owed_ms += rec.first_ms  # charged before the first piece, so first-token latency includes it
            yield from rec.pieces[:1]
            self.owed_ms += rec.total_ms - rec.first_ms
            yield from rec.pieces[1:]
            return
        self.misses += 1
        t0 = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        for piece in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                       stop=stop):
            if first is None:
                first = (time.perf_counter() - t0) * 1000
            pieces.append(piece)
            yield piece
        total = (time.perf_counter() - t0) * 1000
        with self._lock:
            self._cache[key] = _Recorded(pieces, first if first is not None else total, total)

    def complete(self, messages: list[Message], *, max_tokens: int, temperature: float, seed: int,
                 stop: list[str] | None = None) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, seed=seed, stop=stop))


def _owed(llm: LLM) -> float:
    return float(getattr(llm, "owed_ms", 0.0))


# --- paperqa and its retrieval ablations -----------------------------------------------------------------------------


class PaperQASystem:
    """paperqa's AnswerEngine, as `PaperQA.engine` builds it, over a shared store, embedder and model."""

    def __init__(self, name: str, engine: AnswerEngine, description: str) -> None:
        self.name = name
        self.engine = engine
        self.description = description

    def warm_up(self) -> None:
        self.engine.retriever.lexical()
        self.engine.embedder.encode(["warm up"])
        load = getattr(getattr(self.engine.llm, "inner", self.engine.llm), "load", None)
        if callable(load):
            load()

    def answer(self, question: str) -> SystemOutput:
        llm = self.engine.llm
        owed0 = _owed(llm)
        first_owed: float | None = None
        final: Answer | None = None
        for event in self.engine.stream(question):
            if isinstance(event, Token) and first_owed is None:
                first_owed = _owed(llm) - owed0
            elif isinstance(event, Answer):
                final = event
        assert final is not None
        d = final.to_dict()
        timings = {k: float(v) for k, v in final.timings_ms.items()}
        owed = _owed(llm) - owed0
        if owed:
            timings["replayed_llm"] = owed
            timings["total"] += owed
            timings["generate"] = timings.get("generate", 0.0) + owed
            timings["first_token"] += first_owed or 0.0
        return SystemOutput(
            answer=final.answer, refused=final.refused,
            citations=[{k: c[k] for k in ("n", "paper_id", "title", "quote")} for c in d["citations"]],  # type: ignore[union-attr]
            sources=list(d["sources"]),  # type: ignore[arg-type]
            timings_ms=timings, model=final.model, mode=final.mode)


def paperqa_system(name: str, settings: Settings, store: PaperStore, embedder: Any, llm: LLM,
                   fusion: str | None = None) -> PaperQASystem:
    """The shipped engine, optionally with another retrieval fusion (Settings(retrieval=...(fusion=...)))."""
    retrieval = settings.retrieval if fusion is None else settings.retrieval.model_copy(update={"fusion": fusion})
    run_settings = settings.model_copy(update={"retrieval": retrieval})
    retriever = Retriever(store, embedder, run_settings.retrieval)
    engine = AnswerEngine(retriever, embedder, llm, run_settings.answer, run_settings.llm, run_settings.retrieval)
    what = f"paperqa engine, retrieval fusion {retrieval.fusion!r}"
    return PaperQASystem(name, engine, what)


# --- the LlamaIndex tutorial baseline --------------------------------------------------------------------------------

_LI_IDK = re.compile(
    r"\b(i\s+(do\s+not|don'?t)\s+know|(is|are|was|were)\s+not\s+(mentioned|provided|specified|stated|given|available|"
    r"included)|not\s+(mentioned|provided|specified|stated)\s+in|no\s+(information|mention)|"
    r"(does\s+not|doesn'?t)\s+(mention|provide|contain|specify|say|include)|cannot\s+(answer|be\s+determined|"
    r"determine)|can'?t\s+(answer|determine)|unable\s+to\s+(answer|determine|find)|empty\s+response)\b",
    re.IGNORECASE)


def says_it_does_not_know(text: str) -> bool:
    """The tutorial pipeline never refuses by design; it counts as refusing when its reply says it doesn't know."""
    return not text.strip() or bool(_LI_IDK.search(text))


def _hide_store_metadata() -> Any:
    """A LlamaIndex node postprocessor that keeps paperqa's bookkeeping metadata ({paper_id, index, start, end})
    out of the LLM prompt.

    LlamaIndex prints a node's metadata above its text; Chroma returns these keys in a different order on every
    query, which made the baseline's prompt (and so its greedy answer) change from run to run, and the offsets mean
    nothing to the model. The chunk text itself (title + newline + text) is what the LLM sees, as in the tutorial.
    """
    from llama_index.core.postprocessor.types import BaseNodePostprocessor

    class HideStoreMetadata(BaseNodePostprocessor):
        @classmethod
        def class_name(cls) -> str:
            return "HideStoreMetadata"

        def _postprocess_nodes(self, nodes: list[Any], query_bundle: Any = None) -> list[Any]:
            for n in nodes:
                n.node.metadata = dict(sorted((n.node.metadata or {}).items()))
                n.node.excluded_llm_metadata_keys = list(n.node.metadata)
            return nodes

    return HideStoreMetadata()


class LlamaIndexSystem:
    """`VectorStoreIndex` over paperqa's Chroma chunks collection, queried with the tutorial's query engine.

    The index reads the chunk vectors paperqa already stored (same chunks, same MiniLM vectors); the query is
    embedded by LlamaIndex's `HuggingFaceEmbedding` on the packaged MiniLM folder. Chroma records carry paperqa's
    metadata ({paper_id, index, start, end}) rather than LlamaIndex node JSON, so ChromaVectorStore rebuilds them as
    plain TextNodes (text = title + newline + chunk); that metadata is kept out of the prompt (see
    `_hide_store_metadata`). The tutorial has no in-text citations: every source node counts as a citation of its
    paper, its text as the quote.
    """

    name = "llamaindex"

    def __init__(self, store: PaperStore, llm: LLM, llm_settings: LLMSettings, embed_path: Path | None = None,
                 top_k: int = LLAMAINDEX_TOP_K) -> None:
        from llama_index.core import VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.description = (f"LlamaIndex tutorial: VectorStoreIndex over paperqa's Chroma chunks, "
                            f"as_query_engine(similarity_top_k={top_k})")
        self.llm = llm
        self.embed_model = HuggingFaceEmbedding(model_name=str(embed_path or packaged_model_path()), device="cpu")
        self.vector_store = ChromaVectorStore(chroma_collection=store.chunks)
        self.index = VectorStoreIndex.from_vector_store(self.vector_store, embed_model=self.embed_model)
        self.li_llm = as_llamaindex_llm(llm, max_tokens=llm_settings.max_tokens, seed=llm_settings.seed)
        self.query_engine = self.index.as_query_engine(llm=self.li_llm, similarity_top_k=top_k, streaming=True,
                                                       node_postprocessors=[_hide_store_metadata()])
        self.titles = {p.paper_id: p.title for p in store.list_papers()}

    def warm_up(self) -> None:
        self.embed_model.get_query_embedding("warm up")
        load = getattr(getattr(self.llm, "inner", self.llm), "load", None)
        if callable(load):
            load()

    def _title(self, node: Any) -> tuple[str, str]:
        pid = str((node.metadata or {}).get("paper_id", ""))
        title = self.titles.get(pid) or node.get_content().split("\n", 1)[0]
        return pid, title

    def answer(self, question: str) -> SystemOutput:
        owed0 = _owed(self.llm)
        t0 = time.perf_counter()
        response = self.query_engine.query(question)
        t_retrieved = time.perf_counter()
        pieces: list[str] = []
        first: float | None = None
        first_owed = 0.0
        gen = getattr(response, "response_gen", None)
        if gen is not None:
            for piece in gen:
                if piece and first is None:
                    first = (time.perf_counter() - t0) * 1000
                    first_owed = _owed(self.llm) - owed0
                pieces.append(piece)
            text = "".join(pieces)
        else:  # no nodes: LlamaIndex answers "Empty Response" without calling the model
            text = str(getattr(response, "response", "") or "")
        total = (time.perf_counter() - t0) * 1000
        owed = _owed(self.llm) - owed0
        nodes = list(getattr(response, "source_nodes", []) or [])
        citations: list[dict[str, Any]] = []
        sources: list[dict[str, Any]] = []
        seen: set[str] = set()
        for i, sn in enumerate(nodes, start=1):
            pid, title = self._title(sn.node)
            citations.append({"n": i, "paper_id": pid, "title": title, "quote": sn.node.get_content()})
            if pid not in seen:
                seen.add(pid)
                sources.append({"rank": len(sources) + 1, "paper_id": pid, "title": title,
                                "score": round(float(sn.score or 0.0), 6)})
        timings = {"retrieve": (t_retrieved - t0) * 1000, "total": total + owed,
                   "first_token": (first if first is not None else total) + (first_owed if first is not None
                                                                               else owed)}
        if owed:
            timings["replayed_llm"] = owed
        refused = says_it_does_not_know(text)
        return SystemOutput(answer=text.strip(), refused=refused, citations=citations, sources=sources,
                            timings_ms=timings, model=self.llm.name, mode="refused" if refused else "generated")


# --- building a set of systems ---------------------------------------------------------------------------------------


def build_systems(names: Sequence[str], settings: Settings, store: PaperStore, embedder: Any, llm: LLM,
                  extra_backend: str | None = None) -> list[System]:
    """The named systems (plus `paperqa-<backend>` when `extra_backend` is given), sharing store, embedder and llm."""
    systems: list[System] = []
    for name in names:
        if name == "paperqa":
            systems.append(paperqa_system("paperqa", settings, store, embedder, llm))
        elif name in ("bm25", "dense"):
            systems.append(paperqa_system(name, settings, store, embedder, llm, fusion=name))
        elif name == "llamaindex":
            systems.append(LlamaIndexSystem(store, llm, settings.llm))
        else:
            raise ValueError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")
    if extra_backend:
        llm_settings = settings.llm.model_copy(update={"backend": extra_backend})
        other = make_llm(llm_settings)
        sys_settings = settings.model_copy(update={"llm": llm_settings})
        s = paperqa_system(f"paperqa-{extra_backend}", sys_settings, store, embedder, other)
        s.description = f"paperqa engine on PAPERQA_LLM={extra_backend} ({other.name})"
        systems.append(s)
    return systems
