"""Evidence: the papers a plan is about and every sentence of their abstracts, described by named features.

Retrieval ranks papers for the whole question; a plan also names things ("RAR", "Emu and JetFormer"), and the
paper that names a thing in its title or abstract must be among the evidence even when the question's other words
pull retrieval elsewhere. Each sentence then gets the features the fitted decisions read (`paperqa/decide.py`):
closeness in meaning, share of the question's rare words, the names and the asked quantity it carries, where it
sits in its abstract. Nothing here decides; it only measures.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from paperqa.lexical import STOPWORDS, tokenize
from paperqa.plan import Asks, Intent, QuestionPlan
from paperqa.retrieve import PaperHit, Retrieval, Retriever
from paperqa.sentence_vectors import SentenceVectors
from paperqa.terms import QUESTION_WORDS, entity_phrases, key_terms, numbers, squash, term_in

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
_METHOD_CUE = re.compile(r"\b(we|this\s+paper|this\s+work|our\s+work)\s+(propose|present|introduce|develop|design|"
                         r"describe|build|construct|devise|formulate)|\b(is|are)\s+(a|an)\s+\w+|\bconsists?\s+of\b|"
                         r"\b(uses?|employs?|leverages?|relies\s+on|replaces?|combines?|by\s+\w+ing)\b", re.IGNORECASE)
_RESULT_CUE = re.compile(r"\b(achiev\w*|outperform\w*|improv\w*|surpass\w*|results?\s+show|experiments?\s+show|"
                         r"state-of-the-art|sota|reduc\w*|speed-?ups?|faster|better|accuracy|score)\b", re.IGNORECASE)
_PROBLEM_CUE = re.compile(r"\b(however|but|challeng\w*|problem\w*|limit\w*|struggl\w*|costly|expensive|"
                          r"bottleneck|drawback|suffer\w*|difficult|quadratic|remains?\s+(unclear|open))\b",
                          re.IGNORECASE)

FEATURES = ("sim", "sim_gap", "paper_sim", "paper_rank_inv", "cover", "cover_title", "ent_sent", "ent_paper",
            "has_num", "metric_sent", "num_ask", "metric_ask", "position", "first", "method_cue", "result_cue",
            "length")


@dataclass
class Sentence:
    """One abstract sentence a citation can point at, with its features."""

    paper_id: str
    title: str
    text: str
    start: int
    end: int
    index: int           # position in the abstract
    hit_rank: int        # the paper's rank in the evidence (1 = first)
    sim: float           # cosine between question and sentence
    features: dict[str, float]
    suspicious: bool = False
    link: bool = False   # mostly a code/project link: quoted only when the question asks for code
    aspect_sim: float = 0.0  # compare: cosine between the sentence and what the sides are compared on
    score: float = 0.0   # the fitted sentence model's probability that this sentence answers the question


@dataclass
class PaperEvidence:
    hit: PaperHit
    rank: int
    relevance: float            # the paper's closeness to the question (best chunk cosine, else best sentence)
    sentences: list[Sentence]   # in abstract order
    entity_cover: float         # share of the plan's names found in title + abstract
    named_in_title: bool        # the question's subject is named in the title's head ("RAR" in "RAR: …")
    title_run: float            # the question repeats a run of the title's words ("the data-efficient image
    #                             transformers work"): 1.0 for the whole title or its head, else the run's share
    topic_cover: float          # IDF-weighted share of the question's words found in title + abstract
    rare_cover: float = 1.0     # share of the question's three rarest words found in title + abstract
    title_sim: float = 0.0      # cosine between the question and the title

    @property
    def paper_id(self) -> str:
        return self.hit.paper_id

    @property
    def title(self) -> str:
        return self.hit.title

    def holds(self, name: str) -> bool:
        """The name occurs in this paper's title or abstract."""
        return _has(name, self.hit.title + " " + self.hit.paper.abstract)


@dataclass
class EvidenceSet:
    plan: QuestionPlan
    retrieval: Retrieval
    papers: list[PaperEvidence]
    names: list[str] = field(default_factory=list)  # the names that pick papers, the thing asked about first
    missing: list[str] = field(default_factory=list)  # names found in no retrieved paper and not by BM25 either
    side_papers: dict[str, str | None] = field(default_factory=dict)  # compare: the paper standing for each side
    unseen: float = 0.0  # share of the question's words that no chunk in the store holds
    field_names: frozenset[str] = frozenset()  # identify only: names in these papers that many papers use

    def sentences(self) -> list[Sentence]:
        return [s for p in self.papers for s in p.sentences]

    def paper(self, paper_id: str) -> PaperEvidence | None:
        return next((p for p in self.papers if p.paper_id == paper_id), None)


COMMON_SHARE = 0.02  # a name found in more than this share of the store's chunks is a field's word, not a paper's


def plan_names(plan: QuestionPlan, rarity: Callable[[str], float], common: float) -> list[str]:
    """The names evidence must account for: the compared sides, the subject an explain or yes/no question is about,
    then the rest rarest first. A name most papers use ("Transformer", "FID", "LLM") says nothing about which paper
    is meant and is left out unless it is all the question names."""
    sides = [s for s in plan.sides if entity_phrases(s)]  # "the persistent-memory approach" describes, not names
    others = sorted((e for e in plan.entities if e not in plan.sides and e != plan.subject), key=lambda n: -rarity(n))
    first = [plan.subject] if plan.subject else []
    names = list(dict.fromkeys(sides + first + others))
    specific = [n for n in names if n in sides or rarity(n) >= common]
    return specific or names[:1]


_EXAMPLES = re.compile(r"\b(?:such\s+as|e\.g\.,?|like|including|for\s+example,?|for\s+instance,?)\s+([^?.;:()]+)",
                       re.IGNORECASE)


def _example(name: str, query: str) -> bool:
    """The question gives the name as an example of what it asks about ("a diffusion model such as Stable
    Diffusion", "(e.g. REINFORCE or PPO)"), not as what every paper must be about."""
    return any(_has(name, m.group(1)) for m in _EXAMPLES.finditer(query))


def _has(term: str, text: str) -> bool:
    return term_in(term, squash(text), text)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def names_in_head(names: list[str], title: str) -> bool:
    """A title names its method in a short head before a colon ("RAR: Randomized Autoregressive…"), or is hardly
    more than the name ("An Attention Free Transformer"); a name elsewhere in a longer title is a topic many papers
    share."""
    head = title.split(":")[0] if ":" in title else ""
    if 0 < len(head.split()) <= 4 and any(_has(n, head) for n in names):
        return True
    words = _words(title)
    return any(_has(n, title) and len(_words(n)) * 2 >= len(words) for n in names)


_ACRONYM = re.compile(r"^(?=.*[A-Z])[A-Za-z]{3,8}$")
_GLUE = frozenset(("a", "an", "and", "the", "of", "for", "with", "to", "in", "on", "via", "&"))


def acronym_in_title(name: str, title: str) -> bool:
    """The name is spelt by the initials of a run of title words, short linking words skipped: "DeiT" for "Data-
    efficient image Transformers", "EET" for "Easy and Efficient Transformer". Papers often call themselves by
    such a name that their title and abstract never write out."""
    if not _ACRONYM.match(name):
        return False
    words = [w for w in re.findall(r"[A-Za-z0-9]+", title) if w.lower() not in _GLUE]
    return name.lower() in "".join(w[0].lower() for w in words)  # one initial per word: a run of words


def defines(name: str, text: str) -> bool:
    """The text introduces the name as its own: "(RAR)", "termed RAR", "called RAR", "dubbed RAR"."""
    n = re.escape(name)
    return bool(re.search(rf"\(\s*{n}\s*[),;]|\b(termed|called|dubbed|named|coined)\s+(as\s+)?{n}\b", text))


def title_run(question: str, title: str) -> float:
    """How much of the title the question repeats word for word: 1.0 when it holds the whole title or the part
    before the colon, else the longest run of title words it holds (counting content words) over the title's
    content words; runs of fewer than three content words count 0."""
    q, t = _words(question), _words(title)
    if not t:
        return 0.0
    qs = " " + " ".join(q) + " "
    head = _words(title.split(":")[0])
    if (len(t) >= 2 and f" {' '.join(t)} " in qs) or (len(head) >= 2 and f" {' '.join(head)} " in qs):
        return 1.0
    content = sum(w not in STOPWORDS for w in t)
    best = 0
    for i in range(len(t)):
        for j in range(i + 1, len(t) + 1):
            if f" {' '.join(t[i:j])} " not in qs:
                break
            best = max(best, sum(w not in STOPWORDS for w in t[i:j]))
    return best / content if best >= 3 and content else 0.0


def is_link(text: str) -> bool:
    """A sentence that is mostly a code or project link says nothing about the research."""
    return bool(re.search(r"https?://|www\.|github\.com", text, re.IGNORECASE)) and len(text.split()) < 25


def _weights(words: list[str], idf: dict[str, float]) -> float:
    return sum(idf.get(w, 0.0) for w in words)


def gather(plan: QuestionPlan, retriever: Retriever, vectors: SentenceVectors, k: int,
           query_vec: np.ndarray | None = None) -> EvidenceSet:
    """Retrieve for the plan, add the papers its names point at, and measure every sentence."""
    retrieval = retriever.retrieve(plan.query, k=k, query_vec=query_vec)
    hits = list(retrieval.hits)
    lex = retriever.lexical()
    common = math.log(1 / COMMON_SHARE)  # the BM25 IDF of a word in that share of the chunks
    names = plan_names(plan, lambda name: max((lex.idf(t) for t in tokenize(name)), default=0.0), common)
    missing: list[str] = []
    leading = set(names[:1]) | set(plan.sides)
    for name in names[:4]:
        if any(_has(name, h.title) for h in hits):
            continue
        extra = retriever.retrieve(name, k=3, fusion="bm25", query_vec=retrieval.query_vec).hits
        titled = [h for h in extra if _has(name, h.title)] if name in leading else []
        if titled:  # the paper that names the thing asked about in its title
            hits.insert(min(len(hits), 2), titled[0])
            continue
        if any(_has(name, h.title + " " + h.paper.abstract) for h in hits):
            continue
        found = [h for h in extra if _has(name, h.title + " " + h.paper.abstract)]
        if found:
            hits.insert(min(len(hits), 2), found[0])
        else:
            missing.append(name)
    side_papers: dict[str, str | None] = {}
    for side in plan.sides if plan.intent is Intent.COMPARE else ():
        hit = _side_paper(side, plan.aspect, hits, retriever)
        side_papers[side] = hit.paper_id if hit else None
        if hit is not None and all(h.paper_id != hit.paper_id for h in hits):
            hits.append(hit)
    seen: set[str] = set()
    hits = [h for h in hits if not (h.paper_id in seen or seen.add(h.paper_id))]  # type: ignore[func-returns-value]
    # A paper that names the plan's subject in its title answers for it: it goes first.
    if plan.intent in (Intent.FACT, Intent.EXPLAIN, Intent.YESNO):
        titled = [h for h in hits if names_in_head(names, h.title)]
        titled = titled or [h for h in hits if title_run(plan.query, h.title) >= 1.0]
        hits = titled[:1] + [h for h in hits if not titled or h.paper_id != titled[0].paper_id]
    retrieval = Retrieval(query=retrieval.query, query_vec=retrieval.query_vec, hits=hits,
                          timings_ms=retrieval.timings_ms)

    # A comparison is about an aspect ("how they represent images"): each side's sentences are weighed by it.
    aspect = plan.aspect or " ".join(w for w in plan.query.split() if not any(_has(n, w) for n in plan.sides))
    aspect_vec = retriever.embedder.encode([aspect])[0] if plan.intent is Intent.COMPARE and aspect.strip() else None
    required = [n for n in names if not _example(n, plan.query)] if plan.intent in (Intent.LIST, Intent.IDENTIFY) \
        else names
    q_words = [w for w in dict.fromkeys(tokenize(plan.query)) if w not in QUESTION_WORDS]
    idf = {w: lex.idf(w) for w in q_words}
    unseen = lex.idf("\x00")  # the IDF of a word no chunk holds
    known = [w for w in q_words if idf[w] < unseen - 1e-9]
    rare = sorted(known, key=lambda w: -idf[w])[:3]
    total = _weights(q_words, idf) or 1.0
    metric_words = [w for p in plan.parts if p.asks is Asks.QUANTITY for w in tokenize(p.metric)]
    num_ask = float(plan.asks_number)
    papers: list[PaperEvidence] = []
    title_sims = retriever.title_similarity(hits, retrieval.query_vec)
    for rank, hit in enumerate(hits, start=1):
        spans, vecs = vectors.get(hit.paper_id, hit.paper.content_hash, hit.paper.abstract)
        sims = vecs @ retrieval.query_vec if len(spans) else np.zeros(0)
        aspect_sims = vecs @ aspect_vec if aspect_vec is not None and len(spans) else np.zeros(len(spans))
        full = hit.title + " " + hit.paper.abstract
        paper_words = set(tokenize(full))
        ent_paper = (sum(_has(n, full) for n in names) / len(names)) if names else 1.0
        if required != names:  # holding an example counts; lacking one does not count against the paper
            ent_paper = max(ent_paper, (sum(_has(n, full) for n in required) / len(required)) if required else 1.0)
        relevance = hit.dense_sim if hit.dense_sim is not None else float(sims.max()) if len(sims) else 0.0
        title_words = set(tokenize(hit.title))
        best = float(sims.max()) if len(sims) else 0.0
        sentences: list[Sentence] = []
        for i, ((a, b), sim) in enumerate(zip(spans, sims, strict=True)):
            text = hit.paper.abstract[a:b]
            words = set(tokenize(text))
            metric_sent = (sum(w in words for w in metric_words) / len(metric_words)) if metric_words else 0.0
            has_num = float(bool(numbers(text)))
            feats = {
                "sim": float(sim),
                "sim_gap": float(sim) - best,
                "paper_sim": float(relevance),
                "paper_rank_inv": 1.0 / rank,
                "cover": _weights([w for w in q_words if w in words], idf) / total,
                "cover_title": _weights([w for w in q_words if w in words | title_words], idf) / total,
                "ent_sent": (sum(_has(n, text) for n in names) / len(names)) if names else 0.0,
                "ent_paper": ent_paper,
                "has_num": has_num,
                "metric_sent": metric_sent,
                "num_ask": num_ask * has_num,
                "metric_ask": num_ask * metric_sent * has_num,
                "position": i / max(len(spans) - 1, 1),
                "first": float(i == 0),
                "method_cue": float(bool(_METHOD_CUE.search(text))),
                "result_cue": float(bool(_RESULT_CUE.search(text))),
                "length": math.log1p(len(text.split())),
            }
            sentences.append(Sentence(hit.paper_id, hit.title, text, a, b, i, rank, float(sim), feats,
                                      suspicious=bool(_SUSPICIOUS.search(text)),
                                      link=is_link(text) and not plan.asks_link, aspect_sim=float(aspect_sims[i])))
        papers.append(PaperEvidence(
            hit=hit, rank=rank, relevance=float(relevance), sentences=sentences, entity_cover=ent_paper,
            named_in_title=any(names_in_head([n], hit.title) and sum(names_in_head([n], h.title) for h in hits) == 1
                               for n in names),
            title_run=title_run(plan.query, hit.title),
            topic_cover=_weights([w for w in q_words if w in paper_words], idf) / total,
            rare_cover=sum(w in paper_words for w in rare) / len(rare) if rare else 1.0,
            title_sim=title_sims[rank - 1]))
    rarity: dict[str, float] = {}
    for paper in papers if plan.intent is Intent.IDENTIFY else ():  # only "which paper" answers read field_names
        for term in key_terms(paper.title + " " + paper.hit.paper.abstract, skip_first=False):
            if term not in rarity:
                rarity[term] = max((lex.idf(t) for t in tokenize(term)), default=0.0)
    return EvidenceSet(plan=plan, retrieval=retrieval, papers=papers, names=names, missing=missing,
                       side_papers=side_papers, unseen=1 - len(known) / len(q_words) if q_words else 0.0,
                       field_names=frozenset(squash(t) for t, r in rarity.items() if r < common))


def _side_paper(side: str, aspect: str, hits: list[PaperHit], retriever: Retriever) -> PaperHit | None:
    """The paper that stands for one side of a comparison: the one naming it (title first), else the one
    retrieval puts first for the side's own words."""
    names = entity_phrases(side)
    if names:
        for h in hits:
            if all(_has(n, h.title) for n in names):
                return h
        if len(names) == 1 and _ACRONYM.match(names[0]):  # the side is a short name: a title may spell it
            defined = next((h for h in hits if defines(names[0], h.paper.abstract)), None)
            if defined is not None:  # "Randomized AutoRegressive modeling (RAR)": the abstract says it is this paper
                return defined
            spelt = [pid for pid, title in retriever.titles().items() if acronym_in_title(names[0], title)]
            if len(spelt) == 1:
                stored = retriever.store.get_papers(spelt)
                if spelt[0] in stored:
                    return PaperHit(paper=stored[spelt[0]], score=0.0)
        for h in hits:
            if all(_has(n, h.title + " " + h.paper.abstract) for n in names):
                return h
        extra = retriever.retrieve(side, k=3, fusion="bm25").hits
        return next((h for h in extra if all(_has(n, h.title + " " + h.paper.abstract) for n in names)), None)
    found = retriever.retrieve(f"{side} {aspect}".strip(), k=1).hits
    return found[0] if found else None


def role(sentence: Sentence) -> str:
    """What part of an abstract's story a sentence tells: problem, method or result."""
    if sentence.features["method_cue"]:
        return "method"
    if sentence.features["result_cue"] and sentence.features["has_num"]:
        return "result"
    if _PROBLEM_CUE.search(sentence.text):
        return "problem"
    return "result" if sentence.features["result_cue"] else "other"
