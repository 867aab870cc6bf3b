"""The Python API: one object that owns the components and wires them explicitly."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from paperqa.answer import Answer, AnswerEngine, ChatSession, Token
from paperqa.embed import Embedder
from paperqa.llm import LLM, make_llm
from paperqa.retrieve import Retriever
from paperqa.sentence_vectors import SentenceVectors
from paperqa.settings import Settings
from paperqa.store import PaperStore, StoredPaper, drop_store


class PaperQA:
    """`PaperQA().ask("question")`. Components are built on first use and shared by all calls.

    The store opens on construction (so a wrong PAPERQA_CHROMA_URL or an embedder mismatch is said at
    once); the embedder and the LLM load lazily, so listing papers or re-ingesting an unchanged corpus
    never loads a model.
    """

    def __init__(self, settings: Settings | None = None, llm: LLM | None = None, rebuild: bool = False,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or Embedder(self.settings.embed)
        previous = drop_store(self.settings.store) if rebuild else 0
        self.store = PaperStore(self.settings.store, self.embedder.name, self.embedder.dim)
        if rebuild:
            self.store.continue_generation(previous)
        self.retriever = Retriever(self.store, self.embedder, self.settings.retrieval)
        self.sentence_vectors = SentenceVectors(self.embedder, Path(self.settings.store.home) / "sentence_vectors")
        self._llm = llm
        self._engine: AnswerEngine | None = None
        self._lock = threading.Lock()

    @property
    def llm(self) -> LLM:
        with self._lock:
            if self._llm is None:
                self._llm = make_llm(self.settings.llm)
            return self._llm

    @property
    def engine(self) -> AnswerEngine:
        if self._engine is None:
            self._engine = AnswerEngine(self.retriever, self.embedder, self.llm, self.settings.answer,
                                        self.settings.llm, self.settings.retrieval, self.sentence_vectors)
        return self._engine

    # -- papers ---------------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], progress: bool = False):  # type: ignore[no-untyped-def]
        """Parse, chunk, embed and store files or folders. Returns an IngestReport."""
        from ingest.pipeline import run_ingest, tqdm_progress

        return run_ingest(paths, self.store, self.embedder, tqdm_progress() if progress else None)

    def warm_sentence_vectors(self) -> int:
        """Embed every stored abstract's sentences once (cached on disk), so evidence selection never waits."""
        return self.sentence_vectors.warm(self.store.list_papers())

    def papers(self) -> list[StoredPaper]:
        return self.store.list_papers()

    def remove(self, paper_ids: Sequence[str]) -> None:
        from paperqa.retrieve import build_lexical_index

        self.store.remove_papers(paper_ids)
        build_lexical_index(self.store, self.store.bump_generation())

    def stats(self) -> dict[str, object]:
        return {"papers": self.store.count_papers(), "chunks": self.store.count_chunks(),
                "embedder": self.embedder.name, "dim": self.embedder.dim, "store": self.store.location,
                "generation": self.store.generation()}

    # -- questions ------------------------------------------------------------------------------
    def ask(self, question: str, k: int | None = None) -> Answer:
        return self.engine.ask(question, k=k)

    def stream(self, question: str, k: int | None = None) -> Iterator[Token | Answer]:
        """Token events as the model writes, then the final Answer."""
        return self.engine.stream(question, k=k)

    def chat(self) -> ChatSession:
        return ChatSession(self.engine)
