"""The Python API: one object that owns the components and wires them explicitly."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from paperqa.answer import Answer, AnswerEngine, ChatSession, Token
from paperqa.embed import Embedder
from paperqa.errors import EmbedderMismatchError, OptionError
from paperqa.llm import LLM, make_llm
from paperqa.retrieve import Retriever
from paperqa.sentence_vectors import SentenceVectors
from paperqa.settings import Settings
from paperqa.store import PaperStore, StoredPaper


class PaperQA:
    """`PaperQA().ask("question")`. Components are built on first use and shared by all calls.

    The store opens on construction (so a wrong PAPERQA_CHROMA_URL or an embedder mismatch is said at
    once); the embedder and the LLM load lazily, so listing papers or re-ingesting an unchanged corpus
    never loads a model. `rebuild=True` starts an empty store beside the live one (with this embedder, whatever
    the live one was built with); the next `ingest` fills it and switches to it, and the old store stays until then.
    """

    def __init__(self, settings: Settings | None = None, llm: LLM | None = None, rebuild: bool = False,
                 embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or Embedder(self.settings.embed)
        self.store = PaperStore(self.settings.store, self.embedder.name, self.embedder.dim, staging=rebuild)
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
    def ingest(self, paths: Sequence[str | Path], progress: bool = False,  # type: ignore[no-untyped-def]
               rebuild: bool = False):
        """Parse, chunk, embed and store files or folders. Returns an IngestReport. `rebuild`: the store becomes
        exactly these files, built beside the old one and switched to only if every file was accepted."""
        from ingest.pipeline import run_ingest, tqdm_progress

        report = run_ingest(paths, self.store, self.embedder, tqdm_progress() if progress else None, rebuild=rebuild)
        if self.store.staging and not report.rebuilt:  # not applied: the staging set is gone; back to the live one
            try:
                self._use(PaperStore(self.settings.store, self.embedder.name, self.embedder.dim))
            except EmbedderMismatchError:  # the live store needs this rebuild: start another empty one
                self._use(PaperStore(self.settings.store, self.embedder.name, self.embedder.dim, staging=True))
        return report

    def _use(self, store: PaperStore) -> None:
        self.store = store
        self.retriever.store = store

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
        return self.engine.ask(question, k=check_k(k))

    def stream(self, question: str, k: int | None = None) -> Iterator[Token | Answer]:
        """Token events as the model writes, then the final Answer."""
        return self.engine.stream(question, k=check_k(k))

    def chat(self) -> ChatSession:
        return ChatSession(self.engine)


K_MAX = 50  # the most papers a question may retrieve (RetrievalSettings.top_k's bound)


def check_k(k: int | None, what: str = "k") -> int | None:
    """None (the default, PAPERQA_TOP_K) or a whole number 1..K_MAX; anything else is said as such, never taken to
    mean the default (0) or an empty store (-1)."""
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= K_MAX:
        raise OptionError(f"{what} must be a whole number from 1 to {K_MAX} (papers to retrieve), not {k!r}")
    return k
