"""The answer engine: a question in, a cited and verified answer out, as a pipeline of named stages.

    plan      (paperqa/plan.py)     what the question asks, worked out once
    evidence  (paperqa/evidence.py) the papers it is about and every sentence of them, measured
    decide    (paperqa/decide.py)   fitted models score sentences and say whether the evidence answers
    compose   (paperqa/compose.py)  one composer per intent builds the answer from quoted sentences
    verify    (paperqa/verify.py)   what the model writes is kept only where a sentence supports it

The default model is tiny: it never writes citations and invents answers when it doesn't know, so the engine
quotes the papers and the model only adds a short summary line that must pass verification. Only verified text is
ever streamed to the reader; while the engine works it says what it is doing (Progress events).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from paperqa import prompts
from paperqa.citations import Citation
from paperqa.compose import Composer, Composition
from paperqa.decide import Decisions, load_decisions, score_sentences
from paperqa.embed import Embedder
from paperqa.errors import QuestionError
from paperqa.evidence import EvidenceSet, Sentence, gather
from paperqa.lexical import tokenize
from paperqa.llm import LLM
from paperqa.plan import Intent, QuestionPlan, make_plan
from paperqa.retrieve import Retriever
from paperqa.sentence_vectors import SentenceVectors
from paperqa.settings import AnswerSettings, LLMSettings, RetrievalSettings
from paperqa.terms import key_terms, short_title, squash, strip_citations, term_in
from paperqa.verify import verify_draft

__all__ = ["Answer", "AnswerEngine", "ChatSession", "Citation", "Progress", "Source", "Token"]

# --- answer records ----------------------------------------------------------------------------


@dataclass
class Source:
    rank: int
    paper_id: str
    title: str
    score: float
    abstract: str = ""


@dataclass
class Answer:
    """A question's answer with its citations and the papers it was drawn from."""

    question: str
    answer: str
    refused: bool
    citations: list[Citation]
    sources: list[Source]
    timings_ms: dict[str, float]
    model: str
    mode: str = "fact"  # what the composer built: fact | identify | explain | compare | yesno | list | refused
    standalone_question: str = ""
    intent: str = ""  # what the plan read the question as asking (paperqa/plan.py)
    subject: str = ""  # the name the answer is about, for a follow-up's "it"
    confidence: float = 0.0  # the answerable model's probability for the evidence used
    unsupported: list[str] = field(default_factory=list)  # model sentences dropped for lack of support
    draft: str = ""  # the model's raw text, before attribution
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The best sentence of each closest paper, so a refusal (or a partial answer) shows the reader what was
    # found and lets them judge; not citations: nothing in the answer text rests on them.
    closest: list[Citation] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["citations"] = [{k: c[k] for k in ("n", "paper_id", "title", "quote", "start", "end")}
                          for c in d["citations"]]
        d["sources"] = [{k: s[k] for k in ("rank", "paper_id", "title", "score")} for s in d["sources"]]
        d["closest"] = [{k: c[k] for k in ("n", "paper_id", "title", "quote", "start", "end")} for c in d["closest"]]
        return d

    def references_markdown(self) -> str:
        return "\n".join(f"[{c.n}] {c.title}: \"{c.quote}\"" for c in self.citations)

    def to_markdown(self) -> str:
        """The answer and its reference list, ready to paste."""
        refs = self.references_markdown()
        return f"{self.answer}\n\n{refs}" if refs else self.answer


@dataclass
class Token:
    """A piece of the answer's text that has passed verification (streaming): never a raw model draft."""

    text: str


@dataclass
class Progress:
    """What the engine is doing now ("reading 5 papers…", "checking 2 claims…"), for a UI to show while it
    waits: unchecked draft text is never shown as if it were the answer."""

    stage: str  # retrieve (searching) | draft (reading the papers, writing) | verify (checking the model's line)
    message: str


# --- the engine -------------------------------------------------------------------------------------------------


class AnswerEngine:
    """Turns a question into an Answer using a retriever, an embedder and an LLM."""

    def __init__(self, retriever: Retriever, embedder: Embedder, llm: LLM, answer: AnswerSettings,
                 llm_settings: LLMSettings, retrieval: RetrievalSettings,
                 sentence_vectors: SentenceVectors | None = None, decisions: Decisions | None = None) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.sentence_vectors = sentence_vectors or SentenceVectors(embedder, None)
        self.llm = llm
        self.settings = answer
        self.llm_settings = llm_settings
        self.retrieval_settings = retrieval
        self.decisions = decisions or (load_decisions(answer.decisions) if answer.decisions else load_decisions())
        self.composer = Composer(self.decisions, answer.evidence_sentences)

    # -- public -----------------------------------------------------------------------------------------------------
    def ask(self, question: str, k: int | None = None, standalone: str | None = None) -> Answer:
        answer: Answer | None = None
        for event in self.stream(question, k=k, standalone=standalone):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def plan(self, question: str, standalone: str | None = None) -> QuestionPlan:
        plan = make_plan(standalone or question)
        return plan if plan.question == question else QuestionPlan(**{**plan.__dict__, "question": question})

    def stream(self, question: str, k: int | None = None, standalone: str | None = None,
               llm: LLM | None = None, temperature: float | None = None) -> Iterator[Progress | Token | Answer]:
        """Progress events while the engine works, Token events of verified answer text, then the final Answer."""
        llm = llm or self.llm
        question = self.check_question(question)
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        plan = self.plan(question, standalone)
        yield Progress("retrieve", "Searching the papers…")
        k = k or (self.retrieval_settings.list_k if plan.intent is Intent.LIST else self.retrieval_settings.top_k)
        t1 = time.perf_counter()
        evidence = gather(plan, self.retriever, self.sentence_vectors, k)
        timings.update({f"retrieve_{n}" if n != "retrieve" else n: v
                        for n, v in evidence.retrieval.timings_ms.items()})
        score_sentences(evidence, self.decisions.sentence)
        timings["evidence"] = (time.perf_counter() - t1) * 1000 - timings.get("retrieve", 0.0)
        hits = evidence.retrieval.hits
        sources = [Source(rank=i + 1, paper_id=h.paper_id, title=h.title, score=round(h.score, 6),
                          abstract=h.paper.abstract) for i, h in enumerate(hits)]
        base = dict(question=question, sources=sources, model=llm.name, standalone_question=plan.query,
                    intent=plan.intent.value, subject=evidence.names[0] if evidence.names else "")
        if not hits:
            yield Token(prompts.EMPTY_STORE)
            yield self._finish(Answer(answer=prompts.EMPTY_STORE, refused=True, citations=[], timings_ms={},
                                      mode="refused", **base), timings, t0)
            return

        yield Progress("draft", f"Reading {len(evidence.papers)} papers…")
        t2 = time.perf_counter()
        comp = self.composer.compose(evidence)
        timings["compose"] = (time.perf_counter() - t2) * 1000
        draft, unsupported, prompt_tokens, completion_tokens = "", [], 0, 0
        if not comp.refused and self.writes_summary(plan, comp):
            yield Progress("draft", "Writing a short answer…")
            t3 = time.perf_counter()
            messages = self.build_messages(plan.query, comp.focus)
            temp = self.llm_settings.temperature if temperature is None else temperature
            pieces: list[str] = []
            for piece in llm.stream(messages, max_tokens=self.llm_settings.max_tokens, temperature=temp,
                                    seed=self.llm_settings.seed):
                if not pieces:
                    timings["model_first_token"] = (time.perf_counter() - t3) * 1000  # the prompt's reading time
                pieces.append(piece)
            draft = "".join(pieces)
            timings["generate"] = (time.perf_counter() - t3) * 1000
            prompt_tokens = sum(llm.count_tokens(m["content"]) for m in messages)
            completion_tokens = llm.count_tokens(draft) if draft else 0
            yield Progress("verify", "Checking the short answer against the abstracts…")
            t4 = time.perf_counter()
            comp, unsupported = self.add_summary(comp, draft, plan.query)
            timings["verify"] = (time.perf_counter() - t4) * 1000
        text = self.refusal_text(comp.reason, evidence) if comp.refused else comp.text
        # "Is there a paper on X?" is answered "Yes." before the paper when the evidence is surely on it
        if plan.exists and not comp.refused and comp.answerable >= self.decisions.answerable.sure_cut:
            text = f"{prompts.EXISTS_YES} {text}"
        answer = Answer(answer=text, refused=comp.refused, citations=comp.citations, timings_ms={},
                        mode=comp.mode, unsupported=unsupported, draft=draft, prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens, confidence=round(comp.answerable, 4), **base)
        if comp.refused:
            answer.closest = closest_sentences(evidence)
        timings["first_token"] = (time.perf_counter() - t0) * 1000
        yield Token(text)
        yield self._finish(answer, timings, t0)

    @staticmethod
    def _finish(answer: Answer, timings: dict[str, float], t0: float) -> Answer:
        answer.timings_ms = {**timings, **answer.timings_ms}
        answer.timings_ms["total"] = (time.perf_counter() - t0) * 1000
        answer.timings_ms.setdefault("generate", 0.0)
        answer.timings_ms.setdefault("first_token", answer.timings_ms["total"])
        return answer

    def check_question(self, question: str) -> str:
        q = " ".join((question or "").split())
        if not q:
            raise QuestionError("The question is empty: type a question about the papers.")
        if len(q) > self.settings.max_question_chars:
            raise QuestionError(f"The question is {len(q)} characters long; the limit is "
                                f"{self.settings.max_question_chars} (PAPERQA_MAX_QUESTION_CHARS).")
        return q

    # -- the model's short answer ------------------------------------------------------------------------------------
    def writes_summary(self, plan: QuestionPlan, comp: Composition) -> bool:
        """The model writes a one-line answer above the quotes for questions that ask for a fact."""
        return self.settings.model_summary and comp.mode in ("fact", "identify") and bool(comp.focus)

    def build_messages(self, question: str, shown: list[Sentence]) -> list[dict[str, str]]:
        lines = [prompts.SOURCE_LINE.format(n=i, title=short_title(s.title), sentence=strip_citations(s.text))
                 for i, s in enumerate(shown, start=1)]
        return [{"role": "system", "content": prompts.ANSWER_SYSTEM},
                {"role": "user", "content": prompts.ANSWER_USER.format(sources="\n".join(lines), question=question)}]

    def add_summary(self, comp: Composition, draft: str, question: str) -> tuple[Composition, list[str]]:
        """Put the draft's verified sentences above the quotes, each citing the quote that supports it."""
        kept, dropped = verify_draft(draft, question, comp.focus, self.settings.min_support)
        if not kept:
            return comp, dropped
        numbers = {(c.paper_id, c.start): c.n for c in comp.citations}
        lines = []
        for v in kept:
            n = numbers.get((v.evidence.paper_id, v.evidence.start))
            if n is None:
                dropped.append(v.text)
                continue
            body = v.text if v.text.endswith((".", "!", "?")) else v.text + "."
            lines.append(f"{body[:-1]} [{n}]{body[-1]}")
        if not lines:
            return comp, dropped
        comp.text = " ".join(lines) + "\n\n" + comp.text
        return comp, dropped

    def refusal_text(self, reason: str, evidence: EvidenceSet) -> str:
        titles = "; ".join(h.title for h in evidence.retrieval.hits[:3])
        reason = reason or prompts.REFUSAL
        return f"{reason} {prompts.REFUSAL_CLOSEST.format(titles=titles)}" if titles else reason


def closest_sentences(evidence: EvidenceSet, n: int = 3) -> list[Citation]:
    """The best sentence of each of the closest papers, so a refusal shows what was found."""
    out: list[Citation] = []
    for paper in evidence.papers[:n]:
        best = max((s for s in paper.sentences if not s.suspicious), key=lambda s: s.score, default=None)
        if best is not None:
            out.append(Citation(len(out) + 1, best.paper_id, best.title, best.text, best.start, best.end))
    return out


# --- chat --------------------------------------------------------------------------------------


class ChatSession:
    """A conversation: keeps history and turns follow-ups into standalone questions before retrieval."""

    def __init__(self, engine: AnswerEngine) -> None:
        self.engine = engine
        self.history: list[Answer] = []

    def standalone(self, question: str) -> str:
        """'What dataset did it use?' -> 'What dataset did RAR use?' using the previous turn's subject."""
        if not self.history:
            return question
        return make_plan(question, self._subject(self.history[-1])).query

    def _subject(self, prev: Answer) -> str:
        """The thing the previous turn was about: the name from its question that is most specific to the
        paper it cited (found there, and in the fewest of the other retrieved papers; on a tie, the rarest in the
        store, so 'What FID does RAR reach' is about RAR even when no other retrieved paper mentions FID)."""
        if prev.subject:
            return prev.subject
        top = prev.citations[0] if prev.citations else None
        top_text = (top.title + " " + top.quote) if top else (prev.sources[0].title if prev.sources else "")
        terms = key_terms(prev.standalone_question or prev.question)
        others = [squash(s.title + " " + s.abstract) for s in prev.sources if not top or s.paper_id != top.paper_id]
        found = [t for t in terms if term_in(t, squash(top_text))]
        if found:
            lexical = self.engine.retriever.lexical()
            return min(found, key=lambda t: (sum(term_in(t, o) for o in others),
                                             -max((lexical.idf(w) for w in tokenize(t)), default=0.0)))
        if terms:
            return terms[0]
        return short_title(top_text)

    def stream(self, question: str, **kwargs: object) -> Iterator[Progress | Token | Answer]:
        standalone = self.standalone(" ".join(question.split()))
        for event in self.engine.stream(question, standalone=standalone, **kwargs):  # type: ignore[arg-type]
            if isinstance(event, Answer):
                self.history.append(event)
            yield event

    def ask(self, question: str, **kwargs: object) -> Answer:
        answer: Answer | None = None
        for event in self.stream(question, **kwargs):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer
