"""The answer engine: evidence in, a cited and verified answer out.

The default model is tiny: it never writes citations and invents answers when it doesn't know. So
the engine, not the model, decides what is supported:
1. retrieve papers, then pick the abstract sentences that bear on the question (the evidence);
2. refuse before generating when the evidence is weak or misses a term the question hinges on;
3. let the model write a short answer from the numbered evidence, streaming its tokens;
4. attribute: every answer sentence is matched to the abstract sentence that supports it (all of its
   numbers and names must appear there, and most of its content words); unsupported sentences are
   dropped, never silently cited; citations are numbered by first use;
5. when the model says nothing supported, quote the best evidence sentence; when even that is weak,
   refuse and list the closest papers.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np

from paperqa import prompts
from paperqa.embed import Embedder
from paperqa.errors import QuestionError
from paperqa.lexical import STOPWORDS, tokenize
from paperqa.llm import LLM
from paperqa.records import normalise_title
from paperqa.retrieve import PaperHit, Retrieval, Retriever
from paperqa.sentence_vectors import SentenceVectors
from paperqa.sentences import sentence_spans
from paperqa.settings import AnswerSettings, LLMSettings, RetrievalSettings

# --- answer records ----------------------------------------------------------------------------


@dataclass
class Citation:
    n: int
    paper_id: str
    title: str
    quote: str
    start: int = 0  # character offsets of the quote in the paper's abstract
    end: int = 0


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
    mode: str = "generated"  # generated | extractive | identify | list | refused
    standalone_question: str = ""
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

    stage: str  # retrieve | draft | verify
    message: str


# --- text analysis -----------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9α-ωΑ-Ω]+(?:[.\-][A-Za-z0-9α-ωΑ-Ω]+)*%?")
_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d+(?:[.,]\d+)*")
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_CITE_MARK = re.compile(r"\s*\[\s*\d+(?:\s*[,\-–]\s*\d+)*\s*\]")
_GENERIC = frozenset("""paper papers work approach method methods model models propose proposed present presents
introduce introduces introduced new novel result results show shows shown achieve achieves achieved also well
answer question source sources based use uses using used which what""".split())
_QUESTION_WORDS = frozenset("what which who whom whose when where why how does do did is are was were can could "
                            "the a an in on of for to and list name tell give".split())
_IDK = re.compile(r"\b(i\s+(do\s+not|don'?t)\s+know|not\s+(mentioned|provided|stated|specified)|no\s+information|"
                  r"cannot\s+(answer|determine)|unknown)\b", re.IGNORECASE)
_SUSPICIOUS = re.compile(
    r"(ignore|disregard|forget)\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier)\s+(instructions?|prompts?|"
    r"context)|system\s+prompt|you\s+are\s+now\b|\bjailbreak|"
    # sentences that address the reader-model rather than report research
    r"\b(note|message|instructions?|reminder)\s+(for|to)\s+(any\s+|all\s+)?(ai|llms?|language\s+models?|assistants?|"
    r"chatbots?|models?\s+reading)\b|"
    r"\b(answer|reply|response)\s+to\s+(every|any|all)\s+(\w+\s+)?(questions?|quer(y|ies)|prompts?)\b|"
    r"\b(answer|reply|respond)\s+(only\s+)?with\s+the\s+word\b|"
    r"\b(print|reveal|show|repeat|output)\s+(your|the)\s+(system\s+|hidden\s+)?(prompt|instructions)\b|"
    r"/etc/(passwd|shadow)\b|<\|im_(start|end)\|>|\[/?INST\]",
    re.IGNORECASE)
_LIST_Q = re.compile(r"^\s*(which|what)\s+(other\s+)?(papers|works|studies|articles|methods|approaches|models)\b|"
                     r"\blist\s+(all\s+|the\s+)?(papers|works|studies)\b|\b(any|all|several)\s+papers\b|"
                     r"\bpapers\s+(here\s+)?(that|which|about|on)\b", re.IGNORECASE)
_METRIC = (r"fid|fvd|accuracy|score|percentage|number|speed-?up|bleu|wer|cer|error|size|fraction|ratio|rate|perplexity|"
           r"f1|auc|auroc|precision|recall|latency|throughput|flops|bits-per-\w+|win\s+rate|pq|miou|m?ap|psnr|ssim|"
           r"lpips|rouge(-\w+)?|meteor|cider|mae|mse|rmse|exact\s+match|elo|ppl")
_NUMERIC_Q = re.compile(
    r"\b(how\s+(many|much|fast|large|big|long|often)|by\s+how\s+much|of\s+what\s+size|"
    r"(by|with)\s+what\s+(margin|factor|amount|percentage)|"
    rf"what\s+({_METRIC})|"
    # "What ImageNet top-1 accuracy does…": a metric after up to three modifiers, then the question's verb
    rf"what\s+(?:[\w-]+\s+){{0,3}}?({_METRIC})\s+(does|do|did|is|was|are|were|can|could|will)|"
    r"what\s+\w+\s+(score|rate|accuracy|size))\b", re.IGNORECASE)
# Asks for a named thing that is not a paper: the answer must name something the question doesn't.
_NAME_Q = re.compile(r"\b(which|what)\s+(?:[\w-]+\s+){0,2}?(datasets?|algorithms?|compan(y|ies)|(research\s+)?groups?|"
                     r"organi[sz]ations?|institutions?|optimi[sz]ers?|librar(y|ies)|baselines?|metrics?|languages?|"
                     r"tokenizers?|classifiers?|famil(y|ies))\b|\bwhat\s+is\s+the\s+name\s+of\b|"
                     r"\bwhat\s+(is|was|are|were)\s+[\w\s-]{1,40}\s+called\b", re.IGNORECASE)
_IDENTIFY_Q = re.compile(r"^\s*(which|what)\s+(paper|work|study|article|method|model|framework|system|approach|"
                         r"architecture|benchmark|dataset|technique)\b|\bwhat\s+is\s+the\s+name\s+of\b|"
                         r"\bwhich\s+paper\b|\bname\s+the\s+(paper|method|model)\b", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"\b(it|its|it's|they|them|their|this|that|these|those)\b(\s+(paper|papers|method|model|"
                        r"approach|work|system|study))?", re.IGNORECASE)


def word_root(word: str) -> str:
    """Crude suffix folding so 'achieves', 'achieving' and 'achieved' match."""
    w = word.lower().strip(".-%")
    for suf in ("ations", "ation", "ings", "ing", "edly", "ed", "es", "s", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            return w[: -len(suf)]
    return w


def content_roots(text: str) -> set[str]:
    return {word_root(w) for w in _WORD.findall(text)
            if w.lower() not in STOPWORDS and w.lower() not in _GENERIC and len(w) > 1}


def numbers(text: str) -> set[str]:
    """The numbers a text states; digits inside a name ('sh33') or a link are not numbers it states."""
    return {n.replace(",", "") for n in _NUMBER.findall(_URL.sub(" ", text))}


def key_terms(text: str, skip_first: bool = True) -> list[str]:
    """Names the text hinges on: acronyms, CamelCase, words with digits, capitalised words mid-sentence."""
    out: list[str] = []
    for i, m in enumerate(_WORD.finditer(text)):
        w = m.group(0).rstrip("%")
        if w.lower() in _QUESTION_WORDS:
            continue
        has_digit = any(c.isdigit() for c in w)
        upper_inside = any(c.isupper() for c in w[1:])
        capital = w[0].isupper() and not (skip_first and (i == 0 or text[: m.start()].rstrip().endswith((".", "?",
                                                                                                         "!"))))
        if (has_digit and any(c.isalpha() for c in w)) or upper_inside or capital:
            out.append(w)
    return list(dict.fromkeys(out))


_COMPARATIVE = re.compile(r"\b(faster|slower|more|less|fewer|higher|lower|better|worse|larger|smaller|greater|"
                          r"times|fold|improv\w*|reduc\w*|increas\w*|decreas\w*|outperform\w*|speed-?ups?)\b",
                          re.IGNORECASE)


_SUPERLATIVE = re.compile(r"\b(best|worst|the\s+most|the\s+least|highest|lowest|fastest|slowest|largest|smallest|"
                          r"strongest|top-performing|state-of-the-art|sota|first)\b", re.IGNORECASE)


def _comparatives(text: str) -> set[str]:
    """Words that set a relation between quantities; a claim may not add one its source lacks. Superlatives
    count as one relation ('performed best' needs a source that ranks something first, in any words)."""
    out = {word_root(m.group(1)) for m in _COMPARATIVE.finditer(text)}
    return out | {"<superlative>"} if _SUPERLATIVE.search(text) else out


def _common_acronym(term: str) -> bool:
    """Short all-capital terms (LLM, GAN, RL) are often spelled out differently in abstracts; they don't
    decide a refusal on their own. Names with digits or mixed case (CIFAR-10, ViTok, enwik8) do."""
    letters = term.rstrip("s")
    return letters.isalpha() and letters.isupper() and len(letters) <= 4


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9α-ω]+", "", text.lower())


def term_in(term: str, squashed_text: str, text: str = "") -> bool:
    """`term` occurs in the text, or (for an acronym like 'LLM') its spelled-out form does; a hyphenated
    term ('DeepNet-derived', 'BERT-style') is found when its name-like parts are; a bare number is not name-like
    ('top-5' is not found by any '5')."""
    if _squash(term) in squashed_text:
        return True
    if text and acronym_in(term, text):
        return True
    parts = [p for p in term.split("-") if any(c.isalpha() for c in p) and (any(c.isupper() for c in p) or
                                                                          any(c.isdigit() for c in p))]
    if "-" in term and parts and len(parts) < len(term.split("-")):
        return all(term_in(p, squashed_text, text) for p in parts)
    return False


def acronym_in(term: str, text: str) -> bool:
    """'LLM' matches 'large language model'; 'LLMs' too. Only for all-capital terms of 2-6 letters."""
    letters = term[:-1] if term.endswith("s") and term[:-1].isupper() else term
    if not (2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()):
        return False
    initials = "".join(w[0] for w in re.findall(r"[A-Za-z]+", text)).lower()
    return letters.lower() in initials and _spelled(letters.lower(), text)


def _spelled(letters: str, text: str) -> bool:
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", text)]
    n = len(letters)
    return any("".join(w[0] for w in words[i:i + n]) == letters for i in range(len(words) - n + 1))


# --- the engine --------------------------------------------------------------------------------


@dataclass
class Evidence:
    """One abstract sentence a citation can point at."""

    hit_rank: int
    paper_id: str
    title: str
    text: str
    start: int
    end: int
    score: float = 0.0
    suspicious: bool = False
    sim: float = 0.0  # cosine between the question and this sentence


class AnswerEngine:
    """Turns a question into an Answer using a retriever, an embedder and an LLM."""

    def __init__(self, retriever: Retriever, embedder: Embedder, llm: LLM, answer: AnswerSettings,
                 llm_settings: LLMSettings, retrieval: RetrievalSettings,
                 sentence_vectors: SentenceVectors | None = None) -> None:
        self.retriever = retriever
        self.embedder = embedder
        self.sentence_vectors = sentence_vectors or SentenceVectors(embedder, None)
        self.llm = llm
        self.settings = answer
        self.llm_settings = llm_settings
        self.retrieval_settings = retrieval

    # -- public ---------------------------------------------------------------------------------
    def ask(self, question: str, k: int | None = None, standalone: str | None = None) -> Answer:
        answer: Answer | None = None
        for event in self.stream(question, k=k, standalone=standalone):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(self, question: str, k: int | None = None, standalone: str | None = None,
               llm: LLM | None = None, temperature: float | None = None) -> Iterator[Progress | Token | Answer]:
        """Progress events while the engine works, Token events of verified answer text, then the final Answer."""
        llm = llm or self.llm
        question = self.check_question(question)
        query = standalone or question
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        is_list = bool(_LIST_Q.search(query))
        k = k or (self.retrieval_settings.list_k if is_list else self.retrieval_settings.top_k)
        retrieval = self.retriever.retrieve(query, k=k)
        timings.update({f"retrieve_{n}" if n != "retrieve" else n: v for n, v in retrieval.timings_ms.items()})
        sources = [Source(rank=i + 1, paper_id=h.paper_id, title=h.title, score=round(h.score, 6),
                          abstract=h.paper.abstract) for i, h in enumerate(retrieval.hits)]
        base = dict(question=question, sources=sources, model=llm.name, standalone_question=query)

        t1 = time.perf_counter()
        evidence = self.rank_evidence(retrieval)
        timings["evidence"] = (time.perf_counter() - t1) * 1000

        def finish(answer: Answer) -> Answer:
            if answer.refused and retrieval.hits:
                answer.closest = closest_sentences(evidence, retrieval.hits[:3])
            answer.timings_ms = {**timings, **answer.timings_ms}
            answer.timings_ms["total"] = (time.perf_counter() - t0) * 1000
            answer.timings_ms.setdefault("generate", 0.0)
            answer.timings_ms.setdefault("first_token", answer.timings_ms["total"])
            return answer

        if not retrieval.hits:
            yield Token(prompts.EMPTY_STORE)
            yield finish(Answer(answer=prompts.EMPTY_STORE, refused=True, citations=[], timings_ms={}, mode="refused",
                                **base))
            return

        named = set() if is_list else named_papers(query, retrieval.hits)
        if named:
            # "In <title>, what…": only that paper can answer; a number from a sibling paper would be a wrong citation.
            evidence = [e for e in evidence if e.paper_id in named]
        refusal, on_topic = self.pre_check(query, retrieval, evidence, is_list)
        if refusal is not None:
            text = self.refusal_text(refusal, retrieval.hits)
            first = (time.perf_counter() - t0) * 1000
            yield Token(text)
            yield finish(Answer(answer=text, refused=True, citations=[], timings_ms={"first_token": first},
                                mode="refused", **base))
            return

        if is_list:
            text, citations = self.list_answer(query, retrieval, evidence)
            if citations:
                first = (time.perf_counter() - t0) * 1000
                yield Token(text)
                yield finish(Answer(answer=text, refused=False, citations=citations, timings_ms={"first_token": first},
                                    mode="list", **base))
                return

        if _IDENTIFY_Q.search(query) and not is_list:
            text, citations = self.identify_answer(on_topic)
            refused = self.off_focus(query, retrieval, evidence, citations)
            if refused:
                text, citations = self.refusal_text(prompts.REFUSAL_OFF_FOCUS, retrieval.hits), []
            first = (time.perf_counter() - t0) * 1000
            yield Token(text)
            yield finish(Answer(answer=text, refused=refused, citations=citations, timings_ms={"first_token": first},
                                mode="refused" if refused else "identify", **base))
            return

        # -- generate
        shown = on_topic[: self.settings.evidence_sentences]
        yield Progress("draft", f"Reading {len({e.paper_id for e in shown})} paper(s)…")
        messages = self.build_messages(query, shown)
        t2 = time.perf_counter()
        pieces: list[str] = []
        first_token: float | None = None
        temp = self.llm_settings.temperature if temperature is None else temperature
        for piece in llm.stream(messages, max_tokens=self.llm_settings.max_tokens, temperature=temp,
                                seed=self.llm_settings.seed):
            if first_token is None:
                first_token = (time.perf_counter() - t0) * 1000
            pieces.append(piece)
        draft = "".join(pieces)
        timings["generate"] = (time.perf_counter() - t2) * 1000
        timings["first_token"] = first_token if first_token is not None else (time.perf_counter() - t0) * 1000
        prompt_tokens = sum(llm.count_tokens(m["content"]) for m in messages)
        completion_tokens = llm.count_tokens(draft) if draft else 0

        # -- attribute
        yield Progress("verify", "Checking the draft against the abstracts…")
        t3 = time.perf_counter()
        text, citations, unsupported, mode = self.attribute(draft, query, evidence, on_topic)
        timings["attribute"] = (time.perf_counter() - t3) * 1000
        reason = self.post_check(query, retrieval, evidence, text, citations, mode)
        refused = reason is not None
        if reason is not None:
            text, citations, mode = self.refusal_text(reason, retrieval.hits), [], "refused"
        yield Token(text)
        yield finish(Answer(answer=text, refused=refused, citations=citations, timings_ms={}, mode=mode,
                            unsupported=unsupported, draft=draft, prompt_tokens=prompt_tokens,
                            completion_tokens=completion_tokens, **base))

    def check_question(self, question: str) -> str:
        q = " ".join((question or "").split())
        if not q:
            raise QuestionError("The question is empty: type a question about the papers.")
        if len(q) > self.settings.max_question_chars:
            raise QuestionError(f"The question is {len(q)} characters long; the limit is "
                                f"{self.settings.max_question_chars} (PAPERQA_MAX_QUESTION_CHARS).")
        return q

    # -- evidence -------------------------------------------------------------------------------
    def paper_sentences(self, hit: PaperHit) -> tuple[list[tuple[int, int]], np.ndarray]:
        """Sentence spans of a paper's abstract and their vectors (cached in memory and on disk)."""
        return self.sentence_vectors.get(hit.paper_id, hit.paper.content_hash, hit.paper.abstract)

    def rank_evidence(self, retrieval: Retrieval) -> list[Evidence]:
        """Every sentence of every retrieved abstract, best first for this question."""
        q_terms = {word_root(t) for t in key_terms(retrieval.query)} | content_roots(retrieval.query)
        out: list[Evidence] = []
        for rank, hit in enumerate(retrieval.hits, start=1):
            spans, vecs = self.paper_sentences(hit)
            sims = vecs @ retrieval.query_vec if len(spans) else np.zeros(0)
            for (a, b), sim in zip(spans, sims, strict=True):
                text = hit.paper.abstract[a:b]
                roots = content_roots(text) | content_roots(hit.title)
                overlap = len(q_terms & roots) / max(len(q_terms), 1)
                score = float(sim) + 0.3 * overlap + 0.02 / rank
                out.append(Evidence(rank, hit.paper_id, hit.title, text, a, b, score,
                                    suspicious=bool(_SUSPICIOUS.search(text)), sim=float(sim)))
        out.sort(key=lambda e: -e.score)
        return out

    def pre_check(self, query: str, retrieval: Retrieval, evidence: list[Evidence], is_list: bool
                  ) -> tuple[str | None, list[Evidence]]:
        """A refusal reason when the evidence cannot answer (before spending time on generation), and the
        evidence from papers that carry every key term of the question, best first."""
        usable = [e for e in evidence if not e.suspicious]
        if not usable:
            return prompts.REFUSAL, []
        if (max(relevance(h, evidence) for h in retrieval.hits) < self.settings.min_relevance
                and max(e.sim for e in usable) < self.settings.sentence_relevance):
            return prompts.REFUSAL, []
        terms = [t for t in key_terms(query) if not _common_acronym(t)]
        covering = {h.paper_id for h in retrieval.hits}
        if terms:
            texts = {h.paper_id: h.title + " " + h.paper.abstract for h in retrieval.hits}
            squashed = {pid: _squash(t) for pid, t in texts.items()}
            missing = [t for t in terms if not any(term_in(t, squashed[p], texts[p]) for p in texts)]
            if missing:
                return prompts.REFUSAL_MISSING_TERMS.format(terms=", ".join(f"'{t}'" for t in missing)), []
            covering = {p for p in texts if all(term_in(t, squashed[p], texts[p]) for t in terms)}
            if not covering and not is_list:
                return prompts.REFUSAL_NO_SINGLE_PAPER.format(terms=", ".join(f"'{t}'" for t in terms)), []
        on_topic = [e for e in usable if e.paper_id in covering] if not is_list else usable
        if _NUMERIC_Q.search(query) and not any(numbers(e.text) for e in on_topic[: self.settings.evidence_sentences]):
            return prompts.REFUSAL, []
        return None, on_topic

    def post_check(self, query: str, retrieval: Retrieval, evidence: list[Evidence], text: str,
                   citations: list[Citation], mode: str) -> str | None:
        """A refusal reason when the attributed answer does not answer the question, though each sentence of it
        is supported."""
        if not citations:
            return prompts.REFUSAL
        if self.off_focus(query, retrieval, evidence, citations):
            return prompts.REFUSAL_OFF_FOCUS
        if _NUMERIC_Q.search(query) and not numbers(_CITE_MARK.sub("", text)) - numbers(query):
            # Asked for a number, got none beyond the question's own ("16x16" in "An Image is Worth 16x16 Words").
            return prompts.REFUSAL
        if _NAME_Q.search(query) and not new_names(citations[0].quote if mode == "extractive" else text, query):
            # Asked which algorithm / dataset / company, got a sentence that names none beyond the question's own.
            return prompts.REFUSAL
        return None

    def focus(self, question: str, hit: PaperHit, evidence: list[Evidence]) -> tuple[float, float]:
        """How much a paper is about the question: (IDF-weighted share of the question's terms found in its title
        and abstract, its relevance). Why: a quote can carry the asked kind of number and still come from a paper
        about something else ("What BLEU does the sign-language model reach?" answered from a text-translation
        paper). Paraphrased questions share few words with their paper but stay close in meaning, hence either."""
        sim = relevance(hit, evidence)
        terms = set(tokenize(question))
        if not terms:
            return 1.0, sim
        lex = self.retriever.lexical()
        weights = {t: lex.idf(t) for t in terms}
        have = set(tokenize(hit.title + " " + hit.paper.abstract))
        total = sum(weights.values())
        return (sum(w for t, w in weights.items() if t in have) / total if total else 1.0), sim

    def off_focus(self, question: str, retrieval: Retrieval, evidence: list[Evidence],
                  citations: list[Citation]) -> bool:
        """True when no cited paper is about the question (see `focus`): the answer becomes a refusal."""
        hits = {h.paper_id: h for h in retrieval.hits}
        cited = [hits[c.paper_id] for c in citations if c.paper_id in hits]
        if not cited:
            return False
        for hit in cited:
            cov, sim = self.focus(question, hit, evidence)
            if cov >= self.settings.min_focus_coverage or sim >= self.settings.min_focus_sim:
                return False
        return True

    def refusal_text(self, reason: str, hits: list[PaperHit]) -> str:
        titles = "; ".join(h.title for h in hits[:3])
        return f"{reason} {prompts.REFUSAL_CLOSEST.format(titles=titles)}" if titles else reason

    def build_messages(self, question: str, shown: list[Evidence]) -> list[dict[str, str]]:
        lines = [prompts.SOURCE_LINE.format(n=i, title=_short_title(e.title), sentence=_CITE_MARK.sub("", e.text))
                 for i, e in enumerate(shown, start=1)]
        return [{"role": "system", "content": prompts.ANSWER_SYSTEM},
                {"role": "user", "content": prompts.ANSWER_USER.format(sources="\n".join(lines), question=question)}]

    # -- lists ----------------------------------------------------------------------------------
    def list_answer(self, query: str, retrieval: Retrieval, evidence: list[Evidence]) -> tuple[str, list[Citation]]:
        """One cited item per relevant paper, each quoting the sentence that makes it relevant."""
        best: dict[str, Evidence] = {}
        for e in evidence:
            if not e.suspicious and e.paper_id not in best:
                best[e.paper_id] = e
        rel = {h.paper_id: relevance(h, evidence) for h in retrieval.hits}
        # An item must be relevant in itself and not far behind the best one: the tail of a list retrieval is
        # mostly papers that share a word with the question, not its topic.
        floor = max(self.settings.min_relevance, max(rel.values(), default=0.0) - self.settings.list_margin)
        items: list[str] = []
        citations: list[Citation] = []
        for hit in retrieval.hits:
            e = best.get(hit.paper_id)
            if e is None or rel[hit.paper_id] < floor:
                continue
            if self.focus(query, hit, evidence)[0] < self.settings.list_min_coverage:
                continue  # close in meaning, but about a neighbouring topic (a survey, a sibling task)
            n = len(citations) + 1
            citations.append(Citation(n, e.paper_id, e.title, e.text, e.start, e.end))
            items.append(prompts.LIST_ITEM.format(title=e.title, quote=_CITE_MARK.sub("", e.text), n=n))
        if not citations:
            return "", []
        return prompts.LIST_INTRO + "\n" + "\n".join(items), citations

    def identify_answer(self, on_topic: list[Evidence]) -> tuple[str, list[Citation]]:
        """'Which paper/method…' is answered by naming the paper whose sentence fits best, quoting it."""
        e = on_topic[0]
        cite = Citation(1, e.paper_id, e.title, e.text, e.start, e.end)
        return prompts.IDENTIFY.format(title=e.title, quote=e.text, n=1), [cite]

    # -- attribution ----------------------------------------------------------------------------
    def support(self, claim: str, e: Evidence) -> float:
        """How well evidence sentence `e` supports `claim`: 0 if a number or name is missing, else the
        share of the claim's content words found in the sentence (or the paper's title)."""
        src = e.text + " " + e.title
        if not numbers(claim) <= numbers(src):
            return 0.0
        squashed = _squash(src)
        if not all(term_in(t, squashed) for t in key_terms(claim, skip_first=False) if not t.isdigit()):
            return 0.0
        if not _comparatives(claim) <= _comparatives(src):
            return 0.0  # "10.8% faster" is not supported by "10.8% of the training time"
        roots = content_roots(claim)
        if len(roots) < 2:
            return 0.0
        return len(roots & content_roots(src)) / len(roots)

    def attribute(self, draft: str, question: str, evidence: list[Evidence], on_topic: list[Evidence]
                  ) -> tuple[str, list[Citation], list[str], str]:
        """Cite each supported sentence of the draft; drop the rest. Falls back to quoting evidence."""
        cleaned = _CITE_MARK.sub("", draft).strip()
        cleaned = re.sub(r"^(answer|a)\s*:\s*", "", cleaned, flags=re.IGNORECASE)
        cleaned = re.sub(r"(^|(?<=[.!?]\s))\([^()]{3,200}\)\s*", "", cleaned)  # copied "(Paper title)" prefixes
        sentences = [cleaned[a:b].strip() for a, b in sentence_spans(cleaned)]
        if sentences and not re.search(r"[.!?)\"']$", sentences[-1]) and len(sentences) > 1:
            sentences = sentences[:-1]  # cut off by max_tokens mid-sentence
        candidates = [e for e in evidence if not e.suspicious]
        cited: OrderedDict[tuple[str, int], Citation] = OrderedDict()
        parts: list[str] = []
        unsupported: list[str] = []
        for sent in sentences:
            if _IDK.search(sent) or _SUSPICIOUS.search(sent) or restates(sent, question):
                unsupported.append(sent)
                continue
            scored = [(self.support(sent, e), e) for e in candidates]
            score, best = max(scored, key=lambda x: x[0], default=(0.0, None))
            if best is None or score < self.settings.min_support:
                unsupported.append(sent)
                continue
            key = (best.paper_id, best.start)
            if key not in cited:
                cited[key] = Citation(len(cited) + 1, best.paper_id, best.title, best.text, best.start, best.end)
            body = sent if sent.endswith((".", "!", "?")) else sent + "."
            parts.append(f"{body[:-1]} [{cited[key].n}]{body[-1]}")
        if parts:
            return " ".join(parts), list(cited.values()), unsupported, "generated"
        if _IDK.search(cleaned) and not parts:
            return "", [], unsupported, "refused"  # the model found nothing: trust that, don't quote around it
        # Nothing the model wrote holds up: quote the best on-topic evidence if it clearly bears on the question
        # (and, for a question asking for a number, states one; for one asking what did best, ranks something).
        numeric = bool(_NUMERIC_Q.search(question))
        ranking = bool(_SUPERLATIVE.search(question))
        best = next((e for e in on_topic if (not numeric or numbers(e.text)) and
                     (not ranking or _SUPERLATIVE.search(e.text))), None)
        if best is not None and best.score >= self.settings.min_relevance + 0.15:
            cite = Citation(1, best.paper_id, best.title, best.text, best.start, best.end)
            # The abstract's own "[12]" markers stay in the citation's quote, never in the answer text.
            quote = _CITE_MARK.sub("", best.text)
            return f"{_short_title(best.title)}: \"{quote}\" [1]", [cite], unsupported, "extractive"
        return "", [], unsupported, "refused"


def closest_sentences(evidence: list[Evidence], hits: list[PaperHit]) -> list[Citation]:
    """The best evidence sentence of each of these papers, in their retrieval order."""
    best: dict[str, Evidence] = {}
    for e in evidence:
        best.setdefault(e.paper_id, e)
    return [Citation(i, e.paper_id, e.title, e.text, e.start, e.end)
            for i, e in enumerate((best[h.paper_id] for h in hits if h.paper_id in best), start=1)]


def restates(sentence: str, question: str) -> bool:
    """A question, or a sentence that only repeats the question's words and numbers, claims nothing: the small
    model often echoes the question, and citing that echo would look like an answer."""
    s = sentence.strip()
    if s.endswith("?"):
        return True
    return not (content_roots(s) - content_roots(question)) and numbers(s) <= numbers(question)


def new_names(text: str, question: str) -> list[str]:
    """Names in `text` (acronyms, CamelCase, words with digits, capitalised words) that the question lacks."""
    q = _squash(question)
    return [t for t in key_terms(_CITE_MARK.sub("", text), skip_first=False)
            if not _common_acronym(t) and _squash(t) not in q]


def relevance(hit: PaperHit, evidence: list[Evidence]) -> float:
    """How close a paper is to the question: its best chunk's cosine when dense retrieval found it, else
    (BM25-only hits) its best sentence's cosine, so every retrieval mode is gated the same way."""
    if hit.dense_sim is not None:
        return hit.dense_sim
    return max((e.sim for e in evidence if e.paper_id == hit.paper_id), default=0.0)


def named_papers(question: str, hits: list[PaperHit]) -> set[str]:
    """Retrieved papers the question names by title (the whole title, or the part before a colon), when that
    title is at least three words long: shorter ones ("BERTopic") are method names, which other papers discuss too."""
    q = f" {normalise_title(question)} "
    out: set[str] = set()
    for h in hits:
        for phrase in {normalise_title(h.title), normalise_title(h.title.split(":")[0])}:
            if len(phrase.split()) >= 3 and f" {phrase} " in q:
                out.add(h.paper_id)
    return out


def _short_title(title: str) -> str:
    head = title.split(":")[0].strip()
    return head if 0 < len(head) <= 40 else (title if len(title) <= 80 else title[:77] + "...")


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
        prev = self.history[-1]
        subject = self._subject(prev)
        if not subject:
            return question
        if _FOLLOW_UP.search(question):
            return _FOLLOW_UP.sub(lambda m: subject + ("'s" if m.group(1).lower() in ("its", "their") else ""),
                                  question, count=1)
        if len(question.split()) <= 6 and not key_terms(question):
            return f"{question.rstrip('?')} in {subject}?"
        return question

    def _subject(self, prev: Answer) -> str:
        """The thing the previous turn was about: the name from its question that is most specific to the
        paper it cited (found there, and in the fewest of the other retrieved papers; on a tie, the rarest in the
        store, so 'What FID does RAR reach' is about RAR even when no other retrieved paper mentions FID)."""
        top = prev.citations[0] if prev.citations else None
        top_text = (top.title + " " + top.quote) if top else (prev.sources[0].title if prev.sources else "")
        terms = key_terms(prev.standalone_question or prev.question)
        others = [_squash(s.title + " " + s.abstract) for s in prev.sources if not top or s.paper_id != top.paper_id]
        found = [t for t in terms if term_in(t, _squash(top_text))]
        if found:
            lexical = self.engine.retriever.lexical()
            return min(found, key=lambda t: (sum(term_in(t, o) for o in others),
                                             -max((lexical.idf(w) for w in tokenize(t)), default=0.0)))
        if terms:
            return terms[0]
        return _short_title(top_text)

    def stream(self, question: str, **kwargs: object) -> Iterator[Token | Answer]:
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
