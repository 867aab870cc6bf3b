"""The engine's decisions, each a small fitted model over named features, not a chain of rules.

Five decisions, each a logistic regression whose features, coefficients, threshold and cross-validated error live
together in `paperqa/decisions.json`, written by `python -m eval.fit_decisions` from training data only (the dev
questions of eval/questions.jsonl, SciFact's train claims and rationales, and generated negatives):

- sentence: does this abstract sentence answer (or settle) the question? Picks the evidence to quote.
- answerable: does the best evidence answer the question at all? Below its threshold the answer is a refusal.
- member: is this paper on the topic of a "which papers…" question? Picks the list's items.
- verdict: does the settling sentence support the claim (yes) or contradict it (no)?
- paper: which retrieved paper is the one a fact, explanation or yes/no answer is about?

Thresholds are chosen by cross-validation for a stated target (see the fitting script) and stored with the model.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from paperqa.evidence import EvidenceSet, PaperEvidence, Sentence
from paperqa.lexical import STOPWORDS, tokenize
from paperqa.plan import Asks, Intent, Part
from paperqa.terms import WORD, numbers, word_root

DECISIONS_PATH = Path(__file__).with_name("decisions.json")

ANSWERABLE_FEATURES = ("best_score", "num_ok", "topic_cover", "unseen", "relevance", "head_held", "setting_cover")
MEMBER_FEATURES = ("relevance", "relevance_gap", "topic_cover", "rare_cover", "best_score", "rank_inv", "ent_cover",
                   "title_run", "named", "title_sim")
VERDICT_FEATURES = ("neg_mismatch", "neg_share", "direction_mismatch")
PAPER_FEATURES = ("named", "title_run", "holds_subject", "sole_holder", "ent_cover", "best_score", "score_gap",
                  "rank_inv", "relevance", "topic_cover", "rare_cover")


@dataclass(frozen=True)
class LinearModel:
    """p = sigmoid(intercept + sum(coef * (x - mean) / scale)); `threshold` is the fitted cut-off."""

    name: str
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float = 0.5
    # a stricter cut-off for saying more than the decision itself (only the answerable model has one: "Yes, there is
    # a paper on that"); None: the threshold
    sure: float | None = None

    @property
    def sure_cut(self) -> float:
        return self.threshold if self.sure is None else self.sure

    def prob(self, x: dict[str, float]) -> float:
        z = self.intercept
        for f, c, m, s in zip(self.features, self.coef, self.mean, self.scale, strict=True):
            z += c * (x.get(f, 0.0) - m) / (s or 1.0)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"features": list(self.features), "coef": list(self.coef),
                                  "intercept": self.intercept, "mean": list(self.mean), "scale": list(self.scale),
                                  "threshold": self.threshold}
        return out if self.sure is None else {**out, "sure": self.sure}

    @classmethod
    def from_dict(cls, name: str, d: dict) -> LinearModel:  # type: ignore[type-arg]
        return cls(name, tuple(d["features"]), tuple(d["coef"]), float(d["intercept"]), tuple(d["mean"]),
                   tuple(d["scale"]), float(d.get("threshold", 0.5)),
                   float(d["sure"]) if d.get("sure") is not None else None)


@dataclass(frozen=True)
class Decisions:
    sentence: LinearModel
    answerable: LinearModel
    member: LinearModel
    verdict: LinearModel
    paper: LinearModel  # which retrieved paper a fact, explanation or yes/no answer is taken from


def _prior(name: str, features: tuple[str, ...], weights: dict[str, float], intercept: float,
           threshold: float = 0.5) -> LinearModel:
    """A hand-set starting point, used only until `eval.fit_decisions` has written decisions.json."""
    return LinearModel(name, features, tuple(weights.get(f, 0.0) for f in features), intercept,
                       tuple(0.0 for _ in features), tuple(1.0 for _ in features), threshold)


def prior_decisions() -> Decisions:
    from paperqa.evidence import FEATURES

    return Decisions(
        sentence=_prior("sentence", FEATURES, {"sim": 6.0, "cover": 3.0, "ent_sent": 1.0, "metric_ask": 2.0,
                                               "paper_rank_inv": 0.5}, -4.5),
        answerable=_prior("answerable", ANSWERABLE_FEATURES, {"best_score": 4.0, "topic_cover": 3.0, "num_ok": 1.5,
                                                              "unseen": -3.0, "relevance": 2.0}, -4.5),
        member=_prior("member", MEMBER_FEATURES, {"relevance": 8.0, "relevance_gap": 6.0, "topic_cover": 3.0}, -5.0),
        verdict=_prior("verdict", VERDICT_FEATURES, {"neg_mismatch": -4.0, "direction_mismatch": -3.0}, 2.0),
        paper=_prior("paper", PAPER_FEATURES, {"named": 6.0, "title_run": 3.0, "holds_subject": 2.0, "ent_cover": 1.0,
                                               "best_score": 4.0, "rank_inv": 1.0}, -4.0),
    )


@cache
def load_decisions(path: Path = DECISIONS_PATH) -> Decisions:
    """The fitted models (or the priors when no fit has been written yet)."""
    if not path.is_file():
        return prior_decisions()
    data = json.loads(path.read_text(encoding="utf-8"))
    priors = prior_decisions()
    models = {name: LinearModel.from_dict(name, data["models"][name]) if name in data.get("models", {})
              else getattr(priors, name) for name in ("sentence", "answerable", "member", "verdict", "paper")}
    return Decisions(**models)


# --- features the question-level decisions read --------------------------------------------------------------------


def score_sentences(evidence: EvidenceSet, model: LinearModel) -> None:
    """Fill every sentence's `score` with the sentence model's probability."""
    for s in evidence.sentences():
        s.score = 0.0 if s.suspicious else model.prob(s.features)


def answerable_features(evidence: EvidenceSet, candidates: list[Sentence], part: Part | None = None
                        ) -> dict[str, float]:
    """How well the candidate sentences (the ones an answer would quote) and their paper answer the plan (or one
    part of it): the best sentence's score, whether a sentence states a number beside the asked quantity's words
    (1 when no number is asked), how much of the question's vocabulary the paper holds, the share of the question's
    words the store has never seen (a question about a topic the library lacks) and the paper's closeness in meaning.
    Out of fold at the same false-refusal target, adding `unseen` and `relevance` refused 0.65 of the unanswerable
    dev questions and 0.97 of generated ones (0.54 / 0.83 without); more features (names, rarity, the margin over
    the next paper, the best sentence's similarity) did no better. With the spent blind sets as training questions,
    whether the paper holds what the question is about and the settings it names (`_name_features`) raised the
    out-of-fold refusals of unanswerable questions from 0.66 to 0.73 at the same 5% false-refusal target; entity
    and rare-word coverage, a stronger or weaker regularisation and gradient-boosted trees did no better."""
    ranked = sorted(candidates, key=lambda s: -s.score)
    best = ranked[0] if ranked else None
    paper = evidence.paper(best.paper_id) if best else None
    num_ok = 1.0
    parts = [part] if part is not None else list(evidence.plan.parts)
    if any(p.asks is Asks.QUANTITY for p in parts):
        metric = [w for p in parts if p.asks is Asks.QUANTITY for w in tokenize(p.metric)]

        def carries(s: Sentence) -> float:
            """Share of the asked quantity's words that stand within a few words of a stated number."""
            return metric_carried(metric, s.text)

        num_ok = max((s.features["has_num"] * carries(s) for s in candidates), default=0.0)
    return {
        "best_score": best.score if best else 0.0,
        "num_ok": num_ok,
        "topic_cover": paper.topic_cover if paper else 0.0,
        "unseen": evidence.unseen,
        "relevance": paper.relevance if paper else 0.0,
        **_name_features(evidence, paper, parts),
    }


def _name_features(evidence: EvidenceSet, paper: PaperEvidence | None, parts: list[Part]) -> dict[str, float]:
    """Whether the answering paper holds the thing the question is about (its first name) and the settings it
    names besides (a dataset, a resolution, a model size: "on WMT14 English-French"), leaving out the asked
    quantity's own words ("BLEU"): a paper that reports BLEU on another benchmark does not answer."""
    names = evidence.names
    if paper is None:
        return {"head_held": 0.0, "setting_cover": 0.0}
    if evidence.plan.intent is Intent.COMPARE:  # the sides are names of different papers, by design
        return {"head_held": 1.0, "setting_cover": 1.0}
    metric = {w for p in parts if p.asks is Asks.QUANTITY for w in tokenize(p.metric)}
    settings = [n for n in names[1:] if not set(tokenize(n)) <= metric]
    return {
        "head_held": float(paper.holds(names[0])) if names else 1.0,
        "setting_cover": sum(paper.holds(n) for n in settings) / len(settings) if settings else 1.0,
    }


_NEAR = 6  # words between a number and the quantity it states ("an FID score of 1.48", "32 languages")


def metric_carried(metric: list[str], text: str) -> float:
    """Share of a quantity's words (tokenized) that stand beside a number the text states; a sentence that writes
    the quantity as its initials beside the number ("WER of 2.1%" for "word error rate") carries all of them."""
    if not metric:
        return 1.0
    share = sum(beside_number(w, text) for w in metric) / len(metric)
    if share < 1.0 and len(metric) >= 2:
        initials = "".join(w[0] for w in metric).upper()
        if any(beside_number(t.lower(), text) for t in re.findall(r"\b[A-Z]{2,6}\b", text) if t.startswith(initials)):
            return 1.0
    return share


def beside_number(word: str, text: str) -> bool:
    """`word` (a tokenized quantity word) occurs within a few words of a number the text states: a sentence that
    says "improves the perplexity" and elsewhere "100B parameters" does not state a perplexity."""
    tokens = re.findall(r"[A-Za-z0-9α-ω.%-]+", text)
    spots = [i for i, t in enumerate(tokens) if word in tokenize(t)]
    nums = [i for i, t in enumerate(tokens) if numbers(t) and not t[:1].isalpha()]
    return any(abs(i - j) <= _NEAR for i in spots for j in nums)


def subject_holders(evidence: EvidenceSet) -> frozenset[str]:
    """Ids of the retrieved papers whose title or abstract mentions the plan's subject (computed once per question)."""
    subject = evidence.plan.subject
    return frozenset(p.paper_id for p in evidence.papers if subject and p.holds(subject))


def paper_features(evidence: EvidenceSet, paper: PaperEvidence, top_score: float, holders: frozenset[str]
                   ) -> dict[str, float]:
    """What says a retrieved paper is the one the question is about: its title naming the subject, the subject in
    its text (`holders`: see subject_holders), its best sentence's score against the other papers', its retrieval
    rank and coverage."""
    best = max((s.score for s in paper.sentences if not s.suspicious), default=0.0)
    holds = paper.paper_id in holders
    return {
        "named": float(paper.named_in_title),
        "title_run": min(paper.title_run, 1.0),
        "holds_subject": float(holds),
        # the one retrieved paper that mentions the subject ("Does W.A.L.T use …?") is almost surely about it
        "sole_holder": float(holds and len(holders) == 1),
        "ent_cover": paper.entity_cover,
        "best_score": best,
        "score_gap": best - top_score,
        "rank_inv": 1.0 / paper.rank,
        "relevance": paper.relevance,
        "topic_cover": paper.topic_cover,
        "rare_cover": paper.rare_cover,
    }


def member_features(paper: PaperEvidence, top_relevance: float) -> dict[str, float]:
    return {
        "relevance": paper.relevance,
        "relevance_gap": paper.relevance - top_relevance,
        "topic_cover": paper.topic_cover,
        "rare_cover": paper.rare_cover,
        "best_score": max((s.score for s in paper.sentences), default=0.0),
        "rank_inv": 1.0 / paper.rank,
        "ent_cover": paper.entity_cover,
        "title_run": paper.title_run,
        "named": float(paper.named_in_title),
        "title_sim": paper.title_sim,
    }


# --- what a settling sentence says about a claim --------------------------------------------------------------------

_NEGATION = re.compile(r"^(no|not|never|neither|nor|without|lacks?|lacking|fails?|failed|absence|absent|instead|"
                       r"rather|eliminat\w*|avoid\w*|unnecessary|unlike|cannot|none|\w+n't|prevent\w*|"
                       r"abolish\w*)$", re.IGNORECASE)
# "we replace X with Y": X is not used; the scope ends at "with"/"by" ("replaced" is often an adjective: left out)
_REPLACE = re.compile(r"^(replace|replaces|replacing|substitute|substitutes|substituting)$", re.IGNORECASE)
_NON = re.compile(r"\bnon-([A-Za-z]+)\b", re.IGNORECASE)  # "non-autoregressive": not autoregressive
_FREE = re.compile(r"\b([A-Za-z]+)-free\b", re.IGNORECASE)  # "training-free": no training
_UP = frozenset("increas higher more greater improv enhanc promot rais elevat boost faster better larger outperform "
                "gain positiv induc activ upregulat exceed surpass stronger".split())
_DOWN = frozenset("decreas lower less fewer reduc reduct declin impair inhibit suppress worse smaller slower loss "
                  "diminish attenuat negativ downregulat weaker drop".split())


_CLAUSE_END = re.compile(r"^[,;:.()]$|^(but|while|whereas|although|though|yet|instead|which|that)$", re.IGNORECASE)


def _negated_roots(text: str, window: int = 15) -> set[str]:
    """Roots of the words a negation governs: the words after 'not'/'without'/… up to the end of its clause
    ("does not rely on either 2D priors or the explicit estimation of camera poses"), and X of 'X-free'."""
    out = {word_root(m.group(1)) for m in _FREE.finditer(text)} | {word_root(m.group(1)) for m in _NON.finditer(text)}
    tokens = re.findall(r"[A-Za-z0-9'-]+|[,;:.()]", text)
    scoped: set[int] = set()
    for i, w in enumerate(tokens):
        replaces = bool(_REPLACE.match(w))
        falls_short = w.lower() == "short" and i > 0 and tokens[i - 1].lower() in ("fall", "falls", "fell", "falling")
        if _NEGATION.match(w) or replaces or falls_short:
            scoped.add(i)
            for j in range(i + 1, min(len(tokens), i + 1 + window)):
                x = tokens[j]
                if _CLAUSE_END.match(x) or (replaces and x.lower() in ("with", "by")):
                    break
                scoped.add(j)
    negated = {r for j in scoped for r in _token_roots(tokens[j])}
    # "we use reversible residual layers instead of the standard residuals": a word the sentence also affirms
    # outside any negation is not what it denies
    affirmed = {r for j, x in enumerate(tokens) if j not in scoped for r in _token_roots(x)}
    return out | (negated - affirmed)


def _token_roots(token: str) -> set[str]:
    """The roots of a token and of each part of a hyphenated one ("front-view": front, view, front-view)."""
    return {word_root(p) for p in token.split("-") if p} | {word_root(token)}


def _roots(text: str) -> set[str]:
    return {word_root(w) for w in re.findall(r"[A-Za-z0-9]+", text) if len(w) > 2 and w.lower() not in STOPWORDS
            and w.lower() not in ("does", "did", "use", "uses", "used", "using")}


def _direction(text: str) -> int:
    roots = [word_root(w) for w in WORD.findall(text)]
    up = sum(any(r.startswith(u) for u in _UP) for r in roots)
    down = sum(any(r.startswith(d) for d in _DOWN) for r in roots)
    return (up > down) - (down > up)


def verdict_features(claim: str, s: Sentence) -> dict[str, float]:
    """Whether sentence `s` says the opposite of `claim`: the share of the words they share that one of them
    negates and the other doesn't, and whether they move a quantity in opposite directions."""
    shared = _roots(claim) & _roots(s.text)
    neg_c, neg_s = _negated_roots(claim), _negated_roots(s.text)
    differ = sum((r in neg_c) != (r in neg_s) for r in shared)
    dc, ds = _direction(claim), _direction(s.text)
    return {
        "neg_mismatch": float(differ > 0),
        "neg_share": differ / len(shared) if shared else 0.0,
        "direction_mismatch": float(dc * ds < 0),
        "sim": s.sim,
        "cover": s.features.get("cover", 0.0),
        "score": s.score,
    }
