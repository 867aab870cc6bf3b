"""Fit the answer engine's decisions (paperqa/decide.py) on training data only, and write paperqa/decisions.json.

    python -m eval.fit_decisions [--scifact DIR] [--no-scifact] [--out paperqa/decisions.json]

Training data (never the eval's test half, an unspent blind set or SciFact's dev/test claims):
- the dev half of eval/questions.jsonl and the spent blind sets (SPENT_BLIND: sets that were run once as blind
  sets and then read, so they are no longer blind and serve as more questions written outside the project),
  answered by the real engine on the bundled corpus: a sentence of a gold
  paper that holds a must_include string answers its question; answerable vs unanswerable questions; the gold
  papers of "which papers…" and single-paper questions are members, the other retrieved papers are not;
- SciFact's train claims (../shared/benchmarks/scifact, claims_train.jsonl) asked as "Is it true that …?" against
  the SciFact corpus: rationale sentences answer, the rest don't; SUPPORT vs CONTRADICT fits the verdict;
- generated negatives, made by rule from the dev questions and SciFact train claims so nobody writes them by hand:
  a dev question asking for a quantity, with its metric swapped for one its gold abstract never mentions (a detail
  the paper doesn't report), and SciFact train claims asked of the bundled corpus (a topic it doesn't cover).

Each decision is a logistic regression (scikit-learn) on standardised features. Its threshold is chosen on
out-of-fold probabilities (5-fold, folds grouped by question so no question is in its own training folds) for the
target stated next to it, and the cross-validated figures are written into decisions.json beside the model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paperqa.decide import (
    ANSWERABLE_FEATURES,
    DECISIONS_PATH,
    MEMBER_FEATURES,
    PAPER_FEATURES,
    VERDICT_FEATURES,
    Decisions,
    LinearModel,
    member_features,
    paper_features,
    prior_decisions,
    score_sentences,
    subject_holders,
    verdict_features,
)
from paperqa.evidence import FEATURES, EvidenceSet, gather
from paperqa.plan import Intent
from paperqa.records import normalise_title

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "eval" / "questions.jsonl"
# Blind sets already run once and then read for diagnosis: from then on they are training questions like dev.
SPENT_BLIND = tuple(REPO / "eval" / name / "questions.jsonl"
                    for name in ("blind", "blind2", "blind3", "blind4", "blind5"))
CORPUS = REPO / "data" / "trending-papers-274-abstracts.txt"
SCIFACT = Path(os.environ.get("PAPERQA_SCIFACT_DIR", REPO.parent / "shared" / "benchmarks" / "scifact"))
# "Is there a paper on X?" is answered "Yes." only above the cut-off that would refuse this share of answerable
# questions: the answer may still show the closest paper, but a flat "Yes" claims more than a closest match
SURE_FALSE_REFUSAL = 0.10
FALSE_REFUSAL_TARGET = 0.05  # answerable questions (and SciFact claims) the model may refuse, out of fold; 0.06
# refused 0.79 of the unanswerable training questions (0.73 at 0.05) but also short follow-ups ("What benchmark did
# RAR use?"), whose closeness in meaning to any abstract is low
MEMBER_RECALL_TARGET = 0.90  # share of a "which papers" question's papers its list must hold (out of fold); 0.85 until
# the spent blind sets made 4,000 training pairs: at 0.90 out-of-fold precision is 0.68 (0.72 at 0.85)
METRICS = ("FID", "BLEU score", "perplexity", "word error rate", "mIoU", "F1 score", "top-1 accuracy", "PSNR",
           "latency in milliseconds", "number of parameters", "training time in GPU hours", "AUROC")


# --- data ----------------------------------------------------------------------------------------------------------


@dataclass
class Example:
    group: str            # the question it came from (folds never split a group)
    source: str           # dev | scifact | generated
    x: dict[str, float]
    y: int
    weight: float = 1.0


@dataclass
class Asked:
    """One training question as the engine saw it."""

    qid: str
    source: str
    question: str
    evidence: EvidenceSet
    answerable: bool
    gold_ids: set[str] = field(default_factory=set)
    answer_spans: dict[str, set[int]] = field(default_factory=dict)  # paper id -> indexes of answering sentences
    verdict: int | None = None  # 1 yes / 0 no, for yes/no questions with a settling sentence


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def dev_questions(path: Path = QUESTIONS, spent: Sequence[Path] = SPENT_BLIND) -> list[dict[str, Any]]:
    """The dev half of the project's questions, then every question of the spent blind sets."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = [r for r in rows if r["split"] == "dev"]
    for extra in spent:
        out += [json.loads(line) for line in extra.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def _open(home: Path, corpus: Path | None) -> Any:
    from paperqa.api import PaperQA
    from paperqa.settings import Settings

    os.environ["PAPERQA_HOME"] = str(home)
    qa = PaperQA(Settings())
    if corpus is not None and qa.store.count_papers() == 0:
        print(f"ingesting {corpus} into {home}", file=sys.stderr)
        qa.ingest([corpus])
    return qa


def _k(engine: Any, intent: Intent) -> int:
    s = engine.retrieval_settings
    return s.list_k if intent is Intent.LIST else s.top_k


def ask_dev(qa: Any, questions: Sequence[dict[str, Any]]) -> list[Asked]:
    engine = qa.engine
    titles = {normalise_title(p.title): p.paper_id for p in qa.papers()}
    out: list[Asked] = []
    for q in questions:
        plan = engine.plan(q["question"])
        ev = gather(plan, engine.retriever, engine.sentence_vectors, _k(engine, plan.intent))
        gold = {titles[normalise_title(t)] for t in q["gold_titles"] if normalise_title(t) in titles}
        must = [m for m in q["must_include"] if not (q["type"] == "yesno" and m in ("Yes", "No"))]
        spans: dict[str, set[int]] = {}
        for paper in ev.papers:
            if paper.paper_id in gold and must:
                hit = {s.index for s in paper.sentences if any(_fold(m) in _fold(s.text) for m in must)}
                if hit:
                    spans[paper.paper_id] = hit
        verdict = None
        if q["type"] == "yesno" and q["must_include"][0] in ("Yes", "No"):
            verdict = int(q["must_include"][0] == "Yes")
        out.append(Asked(q["id"], "dev", q["question"], ev, q["type"] != "unanswerable", gold, spans, verdict))
    return out


def generated_near_misses(qa: Any, questions: Sequence[dict[str, Any]], seed: int = 0) -> list[Asked]:
    """Dev questions that ask for a quantity, asked instead for a metric their gold abstract never mentions."""
    engine = qa.engine
    rng = random.Random(seed)
    abstracts = {normalise_title(p.title): p.title + " " + p.abstract for p in qa.papers()}
    out: list[Asked] = []
    for q in questions:
        if q["type"] not in ("fact", "paraphrase") or len(q["gold_titles"]) != 1:
            continue
        plan = engine.plan(q["question"])
        metric = next((p.metric for p in plan.parts if p.metric), "")
        if not plan.asks_number or not metric or metric.lower() not in q["question"].lower():
            continue
        text = _fold(abstracts.get(normalise_title(q["gold_titles"][0]), ""))
        options = [m for m in METRICS if not any(w.lower() in text for w in m.split() if len(w) > 2)]
        if not options:
            continue
        swapped = re.sub(re.escape(metric), rng.choice(options), q["question"], count=1, flags=re.IGNORECASE)
        plan2 = engine.plan(swapped)
        ev = gather(plan2, engine.retriever, engine.sentence_vectors, _k(engine, plan2.intent))
        out.append(Asked(q["id"] + "-swap", "generated", swapped, ev, False))
    return out


def off_topic(qa: Any, claims: Sequence[dict[str, Any]], n: int = 60, seed: int = 0) -> list[Asked]:
    """SciFact train claims (biomedicine) asked of the bundled corpus (machine learning): nothing here answers."""
    engine = qa.engine
    rng = random.Random(seed)
    out: list[Asked] = []
    for c in rng.sample(list(claims), min(n, len(claims))):
        question = f"Is it true that {c['claim'].rstrip('.')}?"
        plan = engine.plan(question)
        ev = gather(plan, engine.retriever, engine.sentence_vectors, _k(engine, plan.intent))
        out.append(Asked(f"sf{c['id']}-offtopic", "generated", question, ev, False))
    return out


def load_scifact_train(root: Path) -> tuple[list[dict[str, Any]], dict[int, list[str]]]:
    claims = [json.loads(line) for line in (root / "claims_train.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    sentences: dict[int, list[str]] = {}
    for line in (root / "corpus_original.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            sentences[int(d["doc_id"])] = list(d["abstract"])
    return claims, sentences


def scifact_store(root: Path, home: Path) -> tuple[Any, dict[int, str]]:
    """A PaperQA over SciFact's corpus (ingested once into `home`) and SciFact doc id -> paper id."""
    corpus = home.parent / "scifact_corpus.jsonl"
    rows = [json.loads(line) for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if not corpus.exists():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        with corpus.open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"title": r["title"].strip() or "(untitled)", "abstract": r["text"]}) + "\n")
    qa = _open(home, corpus)
    by_key: dict[tuple[str, str], str] = {}
    for p in qa.papers():
        by_key[(normalise_title(p.title), normalise_title(p.abstract)[:60])] = p.paper_id
    ids: dict[int, str] = {}
    for r in rows:
        key = (normalise_title(r["title"].strip() or "(untitled)"), normalise_title(r["text"])[:60])
        if key in by_key:
            ids[int(r["_id"])] = by_key[key]
    return qa, ids


def _overlap(a: str, b: str) -> float:
    wa, wb = set(re.findall(r"\w+", a.lower())), set(re.findall(r"\w+", b.lower()))
    return len(wa & wb) / max(len(wa), 1)


def ask_scifact(qa: Any, claims: Sequence[dict[str, Any]], sentences: dict[int, list[str]], ids: dict[int, str],
                limit: int | None = None) -> list[Asked]:
    engine = qa.engine
    out: list[Asked] = []
    with_evidence = [c for c in claims if c["evidence"]]
    for c in with_evidence[:limit]:
        question = f"Is it true that {c['claim'].rstrip('.')}?"
        plan = engine.plan(question)
        ev = gather(plan, engine.retriever, engine.sentence_vectors, engine.retrieval_settings.top_k)
        gold: set[str] = set()
        spans: dict[str, set[int]] = {}
        labels: list[int] = []
        for doc, sets in c["evidence"].items():
            pid = ids.get(int(doc))
            if pid is None:
                continue
            gold.add(pid)
            paper = ev.paper(pid)
            for rs in sets:
                labels.append(int(rs["label"] == "SUPPORT"))
                if paper is None:
                    continue
                for i in rs["sentences"]:
                    text = sentences[int(doc)][i]
                    best = max(paper.sentences, key=lambda s, t=text: _overlap(t, s.text), default=None)
                    if best is not None and _overlap(text, best.text) >= 0.6:
                        spans.setdefault(pid, set()).add(best.index)
        verdict = labels[0] if labels and len(set(labels)) == 1 else None
        out.append(Asked(f"sf{c['id']}", "scifact", question, ev, True, gold, spans, verdict))
    return out


# --- examples ------------------------------------------------------------------------------------------------------


def sentence_examples(asked: Iterable[Asked]) -> list[Example]:
    """Every sentence of every retrieved paper, for questions where some retrieved sentence is known to answer."""
    out: list[Example] = []
    for a in asked:
        if not a.answer_spans:
            continue
        for paper in a.evidence.papers:
            good = a.answer_spans.get(paper.paper_id, set())
            for s in paper.sentences:
                if not s.suspicious:
                    out.append(Example(a.qid, a.source, dict(s.features), int(s.index in good)))
    return out


class _Recorder:
    """Stands in for the answerable model while fitting: records what the composer gates on, lets it through."""

    threshold = 0.0

    def __init__(self) -> None:
        self.seen: list[dict[str, float]] = []

    def prob(self, x: dict[str, float]) -> float:
        self.seen.append(dict(x))
        return 1.0


def answerable_examples(asked: Iterable[Asked], decisions: Decisions,
                        sentence_model: Callable[[str], LinearModel]) -> list[Example]:
    """The features the composer's gate reads for each question (list questions have their own model)."""
    from paperqa.compose import Composer

    out: list[Example] = []
    for a in asked:
        if a.evidence.plan.intent is Intent.LIST:
            continue
        score_sentences(a.evidence, sentence_model(a.qid))
        recorder = _Recorder()
        composer = Composer(Decisions(decisions.sentence, recorder, decisions.member,  # type: ignore[arg-type]
                                      decisions.verdict, decisions.paper))
        composer.compose(a.evidence)
        if not recorder.seen:
            continue  # refused before the gate: every name it asks about is missing from the papers
        x = max(recorder.seen, key=lambda d: d["best_score"])
        out.append(Example(a.qid.split("-")[0], a.source, x, int(a.answerable)))
    return out


def member_examples(asked: Iterable[Asked], sentence_model: Callable[[str], LinearModel]) -> list[Example]:
    out: list[Example] = []
    for a in asked:
        if not a.gold_ids or a.source != "dev":
            continue
        score_sentences(a.evidence, sentence_model(a.qid))
        top = max((p.relevance for p in a.evidence.papers), default=0.0)
        for p in a.evidence.papers:
            out.append(Example(a.qid, a.source, member_features(p, top), int(p.paper_id in a.gold_ids)))
    return out


def paper_examples(asked: Iterable[Asked], sentence_model: Callable[[str], LinearModel]) -> list[Example]:
    """Every retrieved paper of every question that is about one paper (not lists or comparisons), labelled by
    whether it is a gold paper."""
    out: list[Example] = []
    for a in asked:
        if not a.gold_ids or a.evidence.plan.intent in (Intent.LIST, Intent.COMPARE):
            continue
        if not any(p.paper_id in a.gold_ids for p in a.evidence.papers):
            continue  # nothing to choose right
        score_sentences(a.evidence, sentence_model(a.qid))
        top = max((s.score for s in a.evidence.sentences() if not s.suspicious), default=0.0)
        holders = subject_holders(a.evidence)
        for p in a.evidence.papers:
            out.append(Example(a.qid, a.source, paper_features(a.evidence, p, top, holders),
                               int(p.paper_id in a.gold_ids)))
    return out


def top1(examples: Sequence[Example], p: np.ndarray) -> dict[str, float]:
    """Per source, the share of questions whose highest-scored paper is a gold one (ties: the first, i.e. retrieval
    order), beside the share where retrieval's first paper is."""
    best: dict[str, tuple[float, int]] = {}
    first: dict[str, int] = {}
    src: dict[str, str] = {}
    for e, pr in zip(examples, p, strict=True):
        src[e.group] = e.source
        if e.group not in first:
            first[e.group] = e.y
        if e.group not in best or pr > best[e.group][0]:
            best[e.group] = (float(pr), e.y)
    out: dict[str, float] = {}
    for s in sorted(set(src.values())):
        groups = [g for g in src if src[g] == s]
        out[f"top1_{s}"] = round(sum(best[g][1] for g in groups) / len(groups), 3)
        out[f"retrieval_first_{s}"] = round(sum(first[g] for g in groups) / len(groups), 3)
    return out


def verdict_examples(asked: Iterable[Asked]) -> list[Example]:
    out: list[Example] = []
    for a in asked:
        if a.verdict is None or not a.answer_spans:
            continue
        claim = a.evidence.plan.claim or a.evidence.plan.query
        for pid, idx in a.answer_spans.items():
            paper = a.evidence.paper(pid)
            for s in paper.sentences if paper else []:
                if s.index in idx:
                    out.append(Example(a.qid, a.source, verdict_features(claim, s), a.verdict))
    return out


# --- fitting -------------------------------------------------------------------------------------------------------


def _matrix(examples: Sequence[Example], features: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.array([[e.x.get(f, 0.0) for f in features] for e in examples], dtype=float)
    y = np.array([e.y for e in examples], dtype=int)
    w = np.array([e.weight for e in examples], dtype=float)
    return x, y, w


def balance_sources(examples: list[Example]) -> None:
    """Each source (dev, scifact, generated) carries the same total weight, so 500 SciFact claims don't drown
    100 dev questions."""
    totals: dict[str, int] = {}
    for e in examples:
        totals[e.source] = totals.get(e.source, 0) + 1
    for e in examples:
        e.weight = len(examples) / (len(totals) * totals[e.source])


def fit_lr(name: str, examples: list[Example], features: Sequence[str], c: float = 1.0
           ) -> tuple[LinearModel, np.ndarray]:
    """A standardised logistic regression and its out-of-fold probabilities (GroupKFold by question)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    x, y, w = _matrix(examples, features)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    groups = np.array([e.group for e in examples])
    oof = np.zeros(len(examples))
    folds = min(5, len(set(groups)))
    for train, test in GroupKFold(n_splits=folds).split(z, y, groups):
        if len(set(y[train])) < 2:
            oof[test] = y[train].mean()
            continue
        m = LogisticRegression(C=c, max_iter=2000).fit(z[train], y[train], sample_weight=w[train])
        oof[test] = m.predict_proba(z[test])[:, 1]
    m = LogisticRegression(C=c, max_iter=2000).fit(z, y, sample_weight=w)
    model = LinearModel(name, tuple(features), tuple(float(v) for v in m.coef_[0]), float(m.intercept_[0]),
                        tuple(float(v) for v in mean), tuple(float(v) for v in scale))
    return model, oof


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, dict[str, float]]:
    best = (0.5, -1.0, 0.0, 0.0)
    for t in np.unique(np.round(p, 3)):
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        prec = tp / max(pred.sum(), 1)
        rec = tp / max((y == 1).sum(), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        if f1 > best[1]:
            best = (float(t), f1, prec, rec)
    return best[0], {"f1": round(best[1], 3), "precision": round(best[2], 3), "recall": round(best[3], 3)}


def recall_threshold(y: np.ndarray, p: np.ndarray, target: float) -> tuple[float, dict[str, float]]:
    """The highest threshold whose out-of-fold recall reaches `target`, and the precision that leaves."""
    chosen = 0.0
    for t in np.sort(np.unique(np.round(p, 3))):
        if ((p >= t) & (y == 1)).sum() / max((y == 1).sum(), 1) >= target:
            chosen = float(t)
    pred = p >= chosen
    return chosen, {"recall": round(float((pred & (y == 1)).sum() / max((y == 1).sum(), 1)), 3),
                    "precision": round(float((pred & (y == 1)).sum() / max(pred.sum(), 1)), 3)}


def refusal_threshold(y: np.ndarray, p: np.ndarray, src: np.ndarray, target: float) -> tuple[float, dict[str, float]]:
    """The highest threshold whose out-of-fold false refusals stay within `target` for the answerable dev questions
    and, separately, for the SciFact claims that have evidence."""
    pos = p[(y == 1) & (src == "dev")]
    sf = p[(y == 1) & (src == "scifact")]
    ts = np.sort(np.unique(np.concatenate([pos, sf, [0.0]])))
    chosen = 0.0
    for t in ts:
        if (pos < t).mean() <= target and (not len(sf) or (sf < t).mean() <= target):
            chosen = float(t)
    neg = y == 0
    dev_neg = neg & (src == "dev")
    return chosen, {
        "false_refusal_dev": round(float((pos < chosen).mean()), 3),
        "false_refusal_scifact": round(float((sf < chosen).mean()), 3) if len(sf) else None,
        "refused_unanswerable_dev": round(float((p[dev_neg] < chosen).mean()), 3) if dev_neg.any() else None,
        "refused_generated": round(float((p[neg & (src == "generated")] < chosen).mean()), 3)
        if (neg & (src == "generated")).any() else None,
    }


def youden_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, dict[str, float]]:
    """The threshold that best separates the two labels (most 'yes' on supported claims minus 'yes' on contradicted
    ones, out of fold): with lexical features no threshold keeps contradicted claims from 'yes' without also
    refusing nearly every supported one a 'yes' (see decisions.json's figures)."""
    best = (0.5, -2.0)
    for t in np.unique(np.round(p, 4)):
        j = (p[y == 1] >= t).mean() - (p[y == 0] >= t).mean()
        if j > best[1]:
            best = (float(t), float(j))
    t = best[0]
    return t, {"yes_on_support": round(float((p[y == 1] >= t).mean()), 3),
               "yes_on_contradict": round(float((p[y == 0] >= t).mean()), 3)}

def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scifact", type=Path, default=SCIFACT, help="SciFact folder (train files are read)")
    ap.add_argument("--no-scifact", action="store_true", help="fit on the dev questions and generated data only")
    ap.add_argument("--scifact-limit", type=int, default=None, help="only the first N SciFact train claims")
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("PAPERQA_FIT_HOME", REPO / ".paperqa-fit")),
                    help="where the fitting stores (bundled corpus, SciFact) live")
    ap.add_argument("--out", type=Path, default=DECISIONS_PATH)
    ap.add_argument("--no-spent", action="store_true", help="leave the spent blind sets out (dev half only)")
    args = ap.parse_args(argv)
    t0 = time.time()
    priors = prior_decisions()
    qa = _open(args.home / "bundled", CORPUS)
    qa.warm_sentence_vectors()
    dev = dev_questions(spent=() if args.no_spent else SPENT_BLIND)
    asked = ask_dev(qa, dev)
    generated = generated_near_misses(qa, dev)
    sf_asked: list[Asked] = []
    sf_claims: list[dict[str, Any]] = []
    if not args.no_scifact:
        if not (args.scifact / "claims_train.jsonl").is_file():
            print(f"fit_decisions: no SciFact train files in {args.scifact}; use --no-scifact", file=sys.stderr)
            return 2
        sf_claims, sf_sentences = load_scifact_train(args.scifact)
        generated += off_topic(qa, sf_claims)
        sfqa, ids = scifact_store(args.scifact, args.home / "scifact")
        sfqa.warm_sentence_vectors()
        sf_asked = ask_scifact(sfqa, sf_claims, sf_sentences, ids, args.scifact_limit)
    print(f"asked: dev {len(asked)}, generated {len(generated)}, scifact {len(sf_asked)} ({time.time() - t0:.0f} s)",
          file=sys.stderr)

    report: dict[str, Any] = {}
    # 1. sentence model: out-of-fold models score each question's sentences for the later decisions
    sent_ex = sentence_examples(asked + sf_asked)
    balance_sources(sent_ex)
    sentence, oof = fit_lr("sentence", sent_ex, FEATURES)
    y = np.array([e.y for e in sent_ex])
    t, stats = best_f1_threshold(y, oof)
    sentence = LinearModel(**{**sentence.__dict__, "threshold": t})
    report["sentence"] = {"examples": len(sent_ex), "positives": int(y.sum()), **stats,
                          "sources": sorted({e.source for e in sent_ex})}
    fold_models = _fold_models("sentence", sent_ex, FEATURES, t)

    def model_for(qid: str) -> LinearModel:
        return fold_models.get(qid, sentence)

    # 2. member model (its threshold favours recall on "which papers" questions: a list that misses papers misleads)
    list_qids = {a.qid for a in asked if a.evidence.plan.intent is Intent.LIST}
    mem_ex = member_examples(asked, model_for)
    member, oof = fit_lr("member", mem_ex, MEMBER_FEATURES)
    y = np.array([e.y for e in mem_ex])
    lists = np.array([e.group in list_qids for e in mem_ex])
    t, stats = recall_threshold(y[lists], oof[lists], MEMBER_RECALL_TARGET)
    member = LinearModel(**{**member.__dict__, "threshold": t})
    report["member"] = {"examples": len(mem_ex), "members": int(y.sum()), "target_recall_on_lists":
                        MEMBER_RECALL_TARGET, **stats}

    # 3. paper model: which retrieved paper a one-paper answer (fact, explanation, yes/no, which paper) comes from
    pap_ex = paper_examples(asked + sf_asked, model_for)
    balance_sources(pap_ex)
    paper, oof = fit_lr("paper", pap_ex, PAPER_FEATURES)
    report["paper"] = {"examples": len(pap_ex), "questions": len({e.group for e in pap_ex}), **top1(pap_ex, oof)}

    # 4. answerable model (the composer picks papers with the fitted member and paper models); SciFact's claims with
    #    evidence are answerable examples too, so a claim the abstracts do bear on is not refused
    fitting = Decisions(sentence, priors.answerable, member, priors.verdict, paper)
    ans_ex = answerable_examples(asked + generated + sf_asked, fitting, model_for)
    balance_sources(ans_ex)
    answerable, oof = fit_lr("answerable", ans_ex, ANSWERABLE_FEATURES)
    y = np.array([e.y for e in ans_ex])
    src = np.array([e.source for e in ans_ex])
    t, stats = refusal_threshold(y, oof, src, FALSE_REFUSAL_TARGET)
    sure, _ = refusal_threshold(y, oof, src, SURE_FALSE_REFUSAL)
    answerable = LinearModel(**{**answerable.__dict__, "threshold": t, "sure": max(t, sure)})
    report["answerable"] = {"examples": len(ans_ex), "answerable": int(y.sum()), "target_false_refusal":
                            FALSE_REFUSAL_TARGET, **stats,
                            "other_targets": {str(tg): refusal_threshold(y, oof, src, tg)[1]
                                              for tg in (0.02, 0.03, 0.08, 0.10)}}

    # 5. verdict model
    for a in asked + sf_asked:
        score_sentences(a.evidence, model_for(a.qid))
    ver_ex = verdict_examples(asked + sf_asked)
    balance_sources(ver_ex)
    verdict, oof = fit_lr("verdict", ver_ex, VERDICT_FEATURES)
    y = np.array([e.y for e in ver_ex])
    t, stats = youden_threshold(y, oof)
    verdict = LinearModel(**{**verdict.__dict__, "threshold": t})
    report["verdict"] = {"examples": len(ver_ex), "support": int(y.sum()), **stats}

    out = {
        "fitted": dt.datetime.now().isoformat(timespec="seconds"),
        "by": "python -m eval.fit_decisions" + (" --no-scifact" if args.no_scifact else ""),
        "training_data": {"dev_questions": sum(r["split"] == "dev" for r in dev),
                          "spent_blind_questions": sum(r["split"] == "blind" for r in dev),
                          "generated": len(generated), "scifact_train_claims": len(sf_asked)},
        "cross_validation": report,
        "models": {m.name: m.to_dict() for m in (sentence, answerable, member, verdict, paper)},
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)", file=sys.stderr)
    return 0


def _fold_models(name: str, examples: list[Example], features: Sequence[str], threshold: float
                 ) -> dict[str, LinearModel]:
    """question id -> a model fitted without that question's fold, for out-of-fold scores downstream."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    x, y, w = _matrix(examples, features)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    groups = np.array([e.group for e in examples])
    out: dict[str, LinearModel] = {}
    for train, test in GroupKFold(n_splits=5).split(z, y, groups):
        m = LogisticRegression(max_iter=2000).fit(z[train], y[train], sample_weight=w[train])
        model = LinearModel(name, tuple(features), tuple(float(v) for v in m.coef_[0]), float(m.intercept_[0]),
                            tuple(float(v) for v in mean), tuple(float(v) for v in scale), threshold)
        for g in set(groups[test]):
            out[str(g)] = model
    return out


if __name__ == "__main__":
    sys.exit(main())
