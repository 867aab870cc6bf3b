"""SciFact: an external benchmark for paperqa's retrieval (BEIR test split) and for its cited sentences (dev claims).

SciFact (Wadden et al., EMNLP 2020; CC BY-NC 2.0, research and evaluation only) pairs expert-written biomedical claims
with 5,183 abstracts, relevance judgments (BEIR) and the exact rationale sentences. The data is not in this repo:
it lives in ../shared/benchmarks/scifact next to the repo (override with --data or PAPERQA_SCIFACT_DIR).

    python -m bench.scifact                       # everything: retrieval on BEIR test, answers on the dev claims
    python -m bench.scifact --claims 20           # a short answer run
    python -m bench.scifact --limit 500 --skip-answers   # a 500-abstract slice, retrieval only
    paperqa bench scifact ...                     # the same

It ingests the corpus once into its own store (PAPERQA_HOME/bench-scifact when PAPERQA_HOME is set, else
~/.cache/paperqa/scifact; --home to choose) and reuses it on later runs. It reports nDCG@10, recall@10/100 and
retrieval latency for every fusion in paperqa.retrieve.FUSIONS and for a plain BM25 (bm25s, default tokenizer) built
in the same run, next to the published BEIR figures; then asks each dev claim with rationales as "Is it true that
<claim>?" through the PaperQA API and scores the answer: cited-paper precision, rationale-sentence precision and
recall of the cited quotes, refusals, and SUPPORT vs CONTRADICT (a contradicted claim must not get "yes").
Results go to bench/results/scifact.json. Rules of the data: fit or tune only on the train files
(bench/fit_fusion.py does); report on test/dev once per change.

Reusable pieces (e.g. to build training data for the answer engine):

    data = load_scifact()                   # SciFact(corpus, queries, claims["train"|"dev"], qrels["train"|"test"])
    qa = scifact_qa()                       # a PaperQA on the cached SciFact store (ingested on first use)
    ids = paper_doc_ids(qa.papers(), data)  # paper_id -> SciFact doc id
    spans = rationale_spans(doc, stored_abstract)   # SciFact sentence i -> (start, end) in the stored abstract
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import ROOT, machine, machine_line, p50, pct, save, table  # noqa: I001 - sets the offline env first
from paperqa.errors import PaperQAError
from paperqa.records import normalise_title
from paperqa.settings import Settings, StoreSettings

if TYPE_CHECKING:
    from paperqa.answer import Answer
    from paperqa.api import PaperQA

DATA_ENV = "PAPERQA_SCIFACT_DIR"
HOME_ENV = "PAPERQA_SCIFACT_HOME"
DEFAULT_DATA = ROOT.parent / "shared" / "benchmarks" / "scifact"
FILES = ("corpus.jsonl", "queries.jsonl", "qrels_test.tsv", "qrels_train.tsv", "claims_dev.jsonl",
         "claims_train.jsonl")
# nDCG@10 on the BEIR test split, BEIR paper (Thakur et al. 2021) Table 2.
PUBLISHED = {"BM25 (Anserini)": 0.665, "BM25 + cross-encoder rerank": 0.688, "TAS-B": 0.643, "ColBERT": 0.671}
QUESTION = "Is it true that {claim}?"
_VERDICT = re.compile(r"\W*(yes|no)\b", re.IGNORECASE)


class SciFactDataError(PaperQAError):
    """The SciFact files are missing or unreadable."""


# --- data ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    """One abstract. `text` is BEIR's abstract string; `sentences` are SciFact's (rationale indices point here)."""

    doc_id: str
    title: str
    text: str
    sentences: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    """One claim; `evidence` maps doc id -> rationale sets [{"sentences": [i, ...], "label": SUPPORT|CONTRADICT}]."""

    id: str
    claim: str
    evidence: dict[str, list[dict[str, object]]]
    cited_doc_ids: tuple[str, ...]

    @property
    def label(self) -> str | None:
        """SUPPORT or CONTRADICT when every rationale agrees; 'MIXED' if they do not; None without rationales."""
        labels = {str(r["label"]) for sets in self.evidence.values() for r in sets}
        if not labels:
            return None
        return labels.pop() if len(labels) == 1 else "MIXED"

    def rationale(self, doc_id: str) -> set[int]:
        """Indices of the doc's sentences that are rationale for this claim."""
        return {int(i) for r in self.evidence.get(doc_id, []) for i in r["sentences"]}  # type: ignore[attr-defined]


@dataclass
class SciFact:
    root: Path
    corpus: dict[str, Doc]
    queries: dict[str, str]
    claims: dict[str, list[Claim]]  # "train", "dev"
    qrels: dict[str, dict[str, dict[str, int]]]  # split ("train", "test") -> query id -> {doc id: relevance}

    def fingerprint(self) -> str:
        """Identity of the corpus (ids, titles, texts), so a cached store is never reused for other data."""
        h = hashlib.sha1()
        for d in self.corpus.values():
            h.update(f"{d.doc_id}\x1f{d.title}\x1f{d.text}\x1e".encode())
        return h.hexdigest()[:16]


def data_dir(explicit: str | Path | None = None) -> Path:
    """The SciFact folder: `explicit`, else $PAPERQA_SCIFACT_DIR, else ../shared/benchmarks/scifact next to the repo.
    Fails with a message that says where it looked and how to point elsewhere."""
    where = Path(explicit) if explicit else Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else DEFAULT_DATA
    missing = [f for f in FILES if not (where / f).is_file()]
    if missing:
        how = ("--data" if explicit else DATA_ENV if os.environ.get(DATA_ENV) else
               f"the default (../shared/benchmarks/scifact next to the repo); pass --data DIR or set {DATA_ENV}")
        raise SciFactDataError(f"SciFact data not found at {where} (from {how}): missing {', '.join(missing)}. "
                               "The folder needs the BEIR files (corpus.jsonl, queries.jsonl, qrels_*.tsv) and the "
                               "SciFact claims (claims_dev.jsonl, claims_train.jsonl).")
    return where


def _jsonl(path: Path) -> Iterable[tuple[int, dict[str, object]]]:
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except ValueError as exc:
                raise SciFactDataError(f"{path}:{n}: not valid JSON ({exc})") from None


def _qrels(path: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split("\t")
        if n == 1 and parts[0] == "query-id" or not line.strip():
            continue
        if len(parts) != 3:
            raise SciFactDataError(f"{path}:{n}: expected 'query-id<TAB>corpus-id<TAB>score'")
        out.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return out


def load_scifact(root: str | Path | None = None) -> SciFact:
    """Corpus, BEIR queries and qrels, and the SciFact claims with rationales. `root` as in `data_dir`.

    Sentences come from corpus_original.jsonl when it is there (SciFact's own split, which rationale indices use);
    without it a doc has no sentences and rationale figures are skipped."""
    root = data_dir(root)
    originals: dict[str, list[str]] = {}
    if (root / "corpus_original.jsonl").is_file():
        for _, rec in _jsonl(root / "corpus_original.jsonl"):
            originals[str(rec["doc_id"])] = [str(s) for s in rec["abstract"]]  # type: ignore[union-attr]
    corpus: dict[str, Doc] = {}
    for _, rec in _jsonl(root / "corpus.jsonl"):
        did = str(rec["_id"])
        corpus[did] = Doc(did, str(rec.get("title") or ""), str(rec.get("text") or ""),
                          tuple(s.strip() for s in originals.get(did, [])))
    queries = {str(rec["_id"]): str(rec["text"]) for _, rec in _jsonl(root / "queries.jsonl")}
    claims: dict[str, list[Claim]] = {}
    for split in ("train", "dev"):
        claims[split] = [
            Claim(str(rec["id"]), str(rec["claim"]),
                  {str(k): list(v) for k, v in (rec.get("evidence") or {}).items()},  # type: ignore[union-attr]
                  tuple(str(d) for d in rec.get("cited_doc_ids") or []))  # type: ignore[union-attr]
            for _, rec in _jsonl(root / f"claims_{split}.jsonl")]
    qrels = {split: _qrels(root / f"qrels_{split}.tsv") for split in ("train", "test")}
    return SciFact(root, corpus, queries, claims, qrels)


def slice_scifact(data: SciFact, n_docs: int) -> SciFact:
    """A small, self-consistent SciFact: the relevant docs of as many test queries and rationale dev claims as fit in
    half of `n_docs`, then other docs (distractors) in corpus order. Queries and claims are kept only when all of
    their relevant docs are in the slice, so the figures stay meaningful."""
    chosen: dict[str, None] = {}
    half = max(1, n_docs // 2)
    dev = {c.id: c for c in data.claims["dev"]}
    for qid in sorted(data.qrels["test"], key=_num):
        need = [d for d in data.qrels["test"][qid] if d in data.corpus]
        need += [d for d in (dev[qid].evidence if qid in dev else {}) if d in data.corpus]
        if len(chosen) + len(set(need) - set(chosen)) > half:
            continue
        chosen.update(dict.fromkeys(need))
    for did in data.corpus:
        if len(chosen) >= n_docs:
            break
        chosen.setdefault(did, None)
    corpus = {d: data.corpus[d] for d in data.corpus if d in chosen}

    def keep(rels: Iterable[str]) -> bool:
        rels = list(rels)
        return bool(rels) and all(r in corpus for r in rels)

    qrels = {s: {q: r for q, r in data.qrels[s].items() if keep(r)} for s in data.qrels}
    claims = {s: [c for c in cs if keep(c.evidence) or (not c.evidence and keep(c.cited_doc_ids))]
              for s, cs in data.claims.items()}
    qids = {q for s in qrels.values() for q in s} | {c.id for cs in claims.values() for c in cs}
    return SciFact(data.root, corpus, {q: t for q, t in data.queries.items() if q in qids}, claims, qrels)


def write_scifact(data: SciFact, out: Path) -> Path:
    """Write `data` in the SciFact/BEIR file layout (as load_scifact reads it), e.g. the test fixture slice."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in data.corpus.values():
            f.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text, "metadata": {}}) + "\n")
    with open(out / "corpus_original.jsonl", "w", encoding="utf-8") as f:
        for d in data.corpus.values():
            f.write(json.dumps({"doc_id": int(d.doc_id) if d.doc_id.isdigit() else d.doc_id, "title": d.title,
                                "abstract": list(d.sentences)}) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q, t in data.queries.items():
            f.write(json.dumps({"_id": q, "text": t, "metadata": {}}) + "\n")
    for split, rels in data.qrels.items():
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, r in rels.items() for d, s in r.items()]
        (out / f"qrels_{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for split, cs in data.claims.items():
        with open(out / f"claims_{split}.jsonl", "w", encoding="utf-8") as f:
            for c in cs:
                f.write(json.dumps({"id": _num(c.id), "claim": c.claim, "evidence": c.evidence,
                                    "cited_doc_ids": [_num(d) for d in c.cited_doc_ids]}) + "\n")
    return out


def _num(s: str) -> int | str:
    return int(s) if s.isdigit() else s


# --- the store -------------------------------------------------------------------------------------------------------


def default_home() -> Path:
    """Where the SciFact store is cached: $PAPERQA_SCIFACT_HOME, else $PAPERQA_HOME/bench-scifact, else
    ~/.cache/paperqa/scifact (never the user's own store)."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    if os.environ.get("PAPERQA_HOME"):
        return Path(os.environ["PAPERQA_HOME"]) / "bench-scifact"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "paperqa" / "scifact"


def corpus_jsonl(data: SciFact, path: Path) -> Path:
    """The corpus as a JSONL file today's parser (ingest/parse.py) accepts: one {"title", "abstract"} per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        for d in data.corpus.values():
            f.write(json.dumps({"title": d.title, "abstract": d.text}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def paper_doc_ids(papers: Iterable[object], data: SciFact) -> dict[str, str]:
    """paper_id -> SciFact doc id for stored papers (StoredPaper or Paper: anything with paper_id/title/abstract).

    Why by text: today's parser makes paper ids from title hashes, so the BEIR `_id` is lost at ingest; a paper is
    matched to the doc with the same normalised title and abstract (title alone when that is unique). Once ingest
    keeps BEIR ids as paper ids, this becomes an id lookup. Three SciFact titles repeat ('Summary' twice more,
    'Corresponding author' once more): today's ids keep the first of each, so 5,180 of 5,183 docs are stored."""
    by_text: dict[tuple[str, str], str] = {}
    by_title: dict[str, list[str]] = {}
    for d in data.corpus.values():
        t = normalise_title(d.title)
        by_text.setdefault((t, normalise_title(d.text)), d.doc_id)
        by_title.setdefault(t, []).append(d.doc_id)
    out: dict[str, str] = {}
    for p in papers:
        pid, title, abstract = p.paper_id, p.title, p.abstract  # type: ignore[attr-defined]
        t = normalise_title(title)
        did = by_text.get((t, normalise_title(abstract)))
        if did is None and len(by_title.get(t, [])) == 1:
            did = by_title[t][0]
        if did is not None:
            out[pid] = did
    return out


def _settings_for(home: Path, settings: Settings | None = None) -> Settings:
    base = settings or Settings()
    return base.model_copy(update={"store": StoreSettings(home=home, collection="scifact")})


def ensure_store(qa: PaperQA, data: SciFact, progress: bool = True) -> dict[str, object]:
    """Ingest the corpus into `qa`'s store unless it already holds exactly this corpus; returns what was done.

    Papers of another corpus in the same store (say, a different slice) are removed, so the store is this corpus."""
    home = Path(qa.settings.store.home)
    marker = home / "scifact.json"
    want = {"fingerprint": data.fingerprint(), "docs": len(data.corpus), "embedder": qa.embedder.name,
            "collection": qa.settings.store.collection, "chroma_url": qa.settings.store.chroma_url}
    if marker.is_file():
        try:
            have = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            have = {}
        if {k: have.get(k) for k in want} == want and qa.store.count_papers() == have.get("papers"):
            return {"ingested": False, "papers": have.get("papers"), "seconds": 0.0}
    marker.unlink(missing_ok=True)
    src = corpus_jsonl(data, home / "scifact-corpus.jsonl")
    report = qa.ingest([src], progress=progress)
    if not report.ok:
        raise SciFactDataError("SciFact ingest rejected the corpus: " + "; ".join(map(str, report.rejected)))
    stored = qa.papers()
    known = paper_doc_ids(stored, data)  # once: inside the comprehension it was quadratic (25+ min at 5,183 papers)
    foreign = [p.paper_id for p in stored if p.paper_id not in known]
    if foreign:
        qa.remove(foreign)
    papers = qa.store.count_papers()
    marker.write_text(json.dumps({**want, "papers": papers}), encoding="utf-8")
    return {"ingested": True, "papers": papers, "added": report.added, "removed": len(foreign),
            "chunks": report.chunks_written, "seconds": report.seconds,
            "papers_per_s": report.added / report.seconds if report.seconds else None}


def scifact_qa(settings_or_home: Settings | str | Path | None = None, root: str | Path | None = None,
               data: SciFact | None = None, llm: object = None, embedder: object = None,
               progress: bool = True) -> PaperQA:
    """A PaperQA on the cached SciFact store, ingesting the corpus on first use.

    `settings_or_home`: a Settings (its store section says where the store is), a folder for the store, or None
    (`default_home()`). `root`/`data`: which SciFact (default `load_scifact()`)."""
    from paperqa.api import PaperQA

    data = data or load_scifact(root)
    if isinstance(settings_or_home, Settings):
        settings = settings_or_home
    else:
        settings = _settings_for(Path(settings_or_home) if settings_or_home else default_home())
    qa = PaperQA(settings=settings, llm=llm, embedder=embedder)  # type: ignore[arg-type]
    ensure_store(qa, data, progress=progress)
    return qa


# --- rationale sentences in the stored abstract ----------------------------------------------------------------------


def _squeeze(text: str) -> tuple[str, list[int]]:
    """`text` without white space or control characters, and each kept character's offset in `text`."""
    keep = [(i, ch) for i, ch in enumerate(text) if not ch.isspace() and ch.isprintable()]
    return "".join(ch for _, ch in keep), [i for i, _ in keep]


def rationale_spans(doc: Doc, abstract: str) -> list[tuple[int, int] | None]:
    """Character span in the stored `abstract` of each SciFact sentence of `doc` (None where it is not found).

    The stored abstract is BEIR's text after the parser's clean-up (white space and control characters only), so
    sentences are located ignoring those, in order."""
    flat, pos = _squeeze(abstract)
    out: list[tuple[int, int] | None] = []
    cursor = 0
    for sentence in doc.sentences:
        s, _ = _squeeze(sentence)
        at = flat.find(s, cursor) if s else -1
        if at < 0:
            out.append(None)
            continue
        out.append((pos[at], pos[at + len(s) - 1] + 1))
        cursor = at + len(s)
    return out


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


# --- retrieval -------------------------------------------------------------------------------------------------------


def ndcg_at_k(ranked: Sequence[str], rel: dict[str, int], k: int = 10) -> float:
    """nDCG@k as BEIR computes it (pytrec_eval ndcg_cut): gains are the qrels scores, log2 discount."""
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], rel: dict[str, int], k: int) -> float:
    relevant = {d for d, g in rel.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def _summary(per_query: list[dict[str, float]], latencies: list[float]) -> dict[str, float]:
    n = max(len(per_query), 1)
    out = {m: round(sum(q[m] for q in per_query) / n, 4) for m in ("ndcg@10", "recall@10", "recall@100")}
    out.update({"p50_ms": round(p50(latencies), 2), "p95_ms": round(pct(latencies, 95), 2), "queries": len(per_query)})
    return out


def run_retrieval(qa: PaperQA, data: SciFact, split: str = "test", fusions: Sequence[str] | None = None,
                  limit: int | None = None) -> dict[str, dict[str, float]]:
    """nDCG@10, recall@10/100 and latency of every fusion on a qrels split, plus a plain bm25s baseline.

    Each query is retrieved as the product does (k=10 from the default number of candidates, query embedded
    inside the timed call); recall@100 comes from a second, untimed k=100 call with the same query vector."""
    from paperqa.retrieve import FUSIONS

    fusions = list(fusions or FUSIONS)
    ids = paper_doc_ids(qa.papers(), data)
    qids = sorted(data.qrels[split], key=_num)[:limit]
    qa.retriever.lexical()  # load the BM25 index outside the timed calls
    qa.embedder.encode(["warm up"])
    results: dict[str, dict[str, float]] = {}
    for fusion in fusions:
        per_query: list[dict[str, float]] = []
        latencies: list[float] = []
        for qid in qids:
            rel = data.qrels[split][qid]
            t = time.perf_counter()
            r10 = qa.retriever.retrieve(data.queries[qid], k=10, fusion=fusion)
            latencies.append((time.perf_counter() - t) * 1000)
            r100 = qa.retriever.retrieve(data.queries[qid], k=100, fusion=fusion, query_vec=r10.query_vec)
            top10 = [ids.get(h.paper_id, "?") for h in r10.hits]
            top100 = [ids.get(h.paper_id, "?") for h in r100.hits]
            per_query.append({"ndcg@10": ndcg_at_k(top10, rel), "recall@10": recall_at_k(top10, rel, 10),
                              "recall@100": recall_at_k(top100, rel, 100)})
        results[fusion] = _summary(per_query, latencies)
    results["bm25s (plain baseline)"] = bm25s_baseline(data, qids, split)
    return results


def bm25s_baseline(data: SciFact, qids: Sequence[str], split: str = "test") -> dict[str, float]:
    """Plain BM25 (bm25s, its default tokenizer: lower case, English stop words, no stemming; Lucene BM25,
    k1=1.5, b=0.75) over title + abstract of every doc, measured in the same run as the fusions."""
    import bm25s

    doc_ids = list(data.corpus)
    texts = [f"{data.corpus[d].title} {data.corpus[d].text}" for d in doc_ids]
    index = bm25s.BM25()
    index.index(bm25s.tokenize(texts, show_progress=False), show_progress=False)
    per_query: list[dict[str, float]] = []
    latencies: list[float] = []
    k = min(100, len(doc_ids))
    for qid in qids:
        t = time.perf_counter()
        docs, _scores = index.retrieve(bm25s.tokenize([data.queries[qid]], show_progress=False), k=k,
                                       show_progress=False, n_threads=1)
        latencies.append((time.perf_counter() - t) * 1000)
        ranked = [doc_ids[int(i)] for i in docs[0]]
        rel = data.qrels[split][qid]
        per_query.append({"ndcg@10": ndcg_at_k(ranked, rel), "recall@10": recall_at_k(ranked, rel, 10),
                          "recall@100": recall_at_k(ranked, rel, 100)})
    return _summary(per_query, latencies)


# --- answers ---------------------------------------------------------------------------------------------------------


@dataclass
class ClaimResult:
    claim_id: str
    label: str | None
    question: str
    refused: bool
    verdict: str | None  # "yes" / "no" when the answer starts with one, else None
    answer: str
    citations: list[dict[str, object]] = field(default_factory=list)
    rationale_total: int = 0  # rationale sentences of this claim (in papers the store holds)
    rationale_found: int = 0  # of those, how many the cited quotes cover (at least half of the sentence)
    seconds: float = 0.0


def question_for(claim: Claim) -> str:
    return QUESTION.format(claim=claim.claim.strip().rstrip("."))


def score_answer(claim: Claim, answer: Answer, data: SciFact, ids: dict[str, str],
                 abstracts: dict[str, str]) -> ClaimResult:
    """Score one Answer against the claim's evidence: which cited papers are evidence docs, which quotes are
    rationale sentences (most of the quote lies inside one), which rationale sentences got quoted."""
    m = _VERDICT.match(answer.answer or "")
    res = ClaimResult(claim.id, claim.label, answer.question, bool(answer.refused),
                      m.group(1).lower() if m and not answer.refused else None, answer.answer)
    covered: dict[str, dict[int, int]] = {}  # doc -> sentence -> characters quoted
    spans_of: dict[str, list[tuple[int, int] | None]] = {}
    for doc_id in claim.evidence:
        pid = next((p for p, d in ids.items() if d == doc_id), None)
        if pid is not None and doc_id in data.corpus:
            spans_of[doc_id] = rationale_spans(data.corpus[doc_id], abstracts[pid])
            res.rationale_total += len(claim.rationale(doc_id))
    for c in answer.citations:
        doc_id = ids.get(c.paper_id)
        gold = doc_id in claim.evidence
        in_rationale = 0
        if gold and c.end > c.start:
            for i, span in enumerate(spans_of.get(doc_id, [])):  # type: ignore[arg-type]
                if span is None:
                    continue
                ov = _overlap((c.start, c.end), span)
                if ov and i in claim.rationale(doc_id):  # type: ignore[arg-type]
                    in_rationale += ov
                if ov:
                    covered.setdefault(doc_id, {})[i] = covered.get(doc_id, {}).get(i, 0) + ov  # type: ignore[arg-type]
        share = in_rationale / (c.end - c.start) if c.end > c.start else 0.0
        res.citations.append({"n": c.n, "doc_id": doc_id, "gold_paper": gold, "rationale": share >= 0.5,
                              "quote": c.quote})
    for doc_id, sents in covered.items():
        spans = spans_of[doc_id]
        for i in claim.rationale(doc_id):
            span = spans[i] if i < len(spans) else None
            if span and sents.get(i, 0) >= 0.5 * (span[1] - span[0]):
                res.rationale_found += 1
    return res


def answer_metrics(rows: list[ClaimResult]) -> dict[str, object]:
    cites = [c for r in rows for c in r.citations]
    answered = [r for r in rows if not r.refused]
    by_label: dict[str, dict[str, int]] = {}
    for r in rows:
        key = "refused" if r.refused else r.verdict or "other"
        by_label.setdefault(r.label or "none", {"claims": 0, "yes": 0, "no": 0, "other": 0, "refused": 0})
        by_label[r.label or "none"]["claims"] += 1
        by_label[r.label or "none"][key] += 1
    total_rat = sum(r.rationale_total for r in rows)
    total_rat_answered = sum(r.rationale_total for r in answered)

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    return {
        "claims": len(rows), "refused": sum(r.refused for r in rows), "refusal_rate": ratio(len(rows) - len(answered),
                                                                                            len(rows)),
        "citations": len(cites),
        "cited_paper_precision": ratio(sum(bool(c["gold_paper"]) for c in cites), len(cites)),
        "rationale_precision": ratio(sum(bool(c["rationale"]) for c in cites), len(cites)),
        "rationale_precision_gold_papers": ratio(sum(bool(c["rationale"]) for c in cites),
                                                 sum(bool(c["gold_paper"]) for c in cites)),
        "rationale_recall": ratio(sum(r.rationale_found for r in rows), total_rat),
        "rationale_recall_answered": ratio(sum(r.rationale_found for r in answered), total_rat_answered),
        "by_label": by_label,
        "contradict_answered_yes": by_label.get("CONTRADICT", {}).get("yes", 0),
        "support_answered_yes": by_label.get("SUPPORT", {}).get("yes", 0),
        "p50_s": round(p50([r.seconds for r in rows]), 2),
    }


def run_answers(qa: PaperQA, data: SciFact, n: int | None = None,
                progress: bool = True) -> tuple[dict[str, object], list[ClaimResult]]:
    """Ask the first `n` dev claims that have rationales (all 188 by default) and score the answers."""
    claims = [c for c in data.claims["dev"] if c.evidence][:n]
    papers = qa.papers()
    ids = paper_doc_ids(papers, data)
    abstracts = {p.paper_id: p.abstract for p in papers}
    rows: list[ClaimResult] = []
    for i, claim in enumerate(claims, start=1):
        t = time.perf_counter()
        ans = qa.ask(question_for(claim))
        row = score_answer(claim, ans, data, ids, abstracts)
        row.seconds = time.perf_counter() - t
        rows.append(row)
        if progress:
            print(f"  [{i}/{len(claims)}] {row.label:10} {'refused' if row.refused else row.verdict or '-':8} "
                  f"{sum(bool(c['gold_paper']) for c in row.citations)}/{len(row.citations)} gold cites  "
                  f"{claim.claim[:70]}", flush=True)
    return answer_metrics(rows), rows


# --- ingest throughput -----------------------------------------------------------------------------------------------


def run_ingest_bench(data: SciFact, settings: Settings | None = None, repeats: int = 1) -> dict[str, object]:
    """Ingest the corpus into a fresh temp store (the default path: JSONL file -> parse -> chunk -> embed -> Chroma
    -> BM25) and embed the same chunk texts with the bare embedder (one call, the same backend); best of `repeats`.
    Also reports the share of ingest time spent inside the embedder, which is what the rest must not eat."""
    import shutil
    import tempfile

    from paperqa.api import PaperQA
    from paperqa.embed import Embedder

    base = settings or Settings()
    embedder = Embedder(base.embed)
    embedder.load()
    embedder.encode(["warm up"])
    runs: list[dict[str, float]] = []
    inner = embedder.encode
    spent = [0.0]

    def timed(texts: list[str], batch_size: int | None = None) -> object:
        t = time.perf_counter()
        try:
            return inner(texts, batch_size=batch_size)
        finally:
            spent[0] += time.perf_counter() - t

    for _ in range(repeats):
        home = Path(tempfile.mkdtemp(prefix="pqbench-scifact-"))
        try:
            qa = PaperQA(settings=_settings_for(home, base), embedder=embedder)
            src = corpus_jsonl(data, home / "scifact-corpus.jsonl")
            spent[0] = 0.0
            embedder.encode = timed  # type: ignore[method-assign]
            try:
                report = qa.ingest([src])
            finally:
                del embedder.encode
            _ids, _pids, texts = qa.store.all_chunks()
            t = time.perf_counter()
            embedder.encode(texts)
            bare = time.perf_counter() - t
            runs.append({"ingest_s": report.seconds, "embed_inside_s": spent[0], "bare_s": bare,
                         "papers": report.added, "chunks": report.chunks_written})
        finally:
            shutil.rmtree(home, ignore_errors=True)
    best = min(runs, key=lambda r: r["ingest_s"])
    bare = min(r["bare_s"] for r in runs)
    return {"papers": int(best["papers"]), "chunks": int(best["chunks"]), "ingest_s": round(best["ingest_s"], 2),
            "papers_per_s": round(best["papers"] / best["ingest_s"], 1),
            "bare_embed_s": round(bare, 2), "bare_papers_per_s": round(best["papers"] / bare, 1),
            "ingest_over_bare": round(bare / best["ingest_s"], 3),
            "embedding_share": round(best["embed_inside_s"] / best["ingest_s"], 3),
            "backend": embedder.backend, "runs": runs}


# --- the command -----------------------------------------------------------------------------------------------------


def _retrieval_table(results: dict[str, dict[str, float]], default: str) -> str:
    rows = []
    for name, r in results.items():
        label = f"paperqa {name}" + (" (default)" if name == default else "") if "bm25s" not in name else name
        rows.append([label, f"{r['ndcg@10']:.3f}", f"{r['recall@10']:.3f}", f"{r['recall@100']:.3f}",
                     f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}"])
    for name, v in PUBLISHED.items():
        rows.append([f"published: {name}", f"{v:.3f}", "", "", "", ""])
    return table(["retrieval", "nDCG@10", "recall@10", "recall@100", "p50 ms", "p95 ms"], rows)


def markdown_tables(out: dict[str, object]) -> str:
    """The README tables for a results dict (as saved in bench/results/scifact.json)."""
    lines: list[str] = []
    retrieval = out.get("retrieval")
    if isinstance(retrieval, dict):
        default = str(out.get("default_fusion"))
        lines += ["| retrieval, BEIR test split | nDCG@10 | recall@10 | recall@100 | p50 ms | p95 ms |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, r in retrieval.items():
            label = name if "bm25s" in name else f"paperqa `{name}`" + (" (default)" if name == default else "")
            lines.append(f"| {label} | {r['ndcg@10']:.3f} | {r['recall@10']:.3f} | {r['recall@100']:.3f} | "
                         f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} |")
        lines.append("| published: BM25 (Anserini) / BM25 + cross-encoder rerank | 0.665 / 0.688 | | | | |")
    answers = out.get("answers")
    if isinstance(answers, dict):
        bl = answers["by_label"]
        sup, con = bl.get("SUPPORT", {}), bl.get("CONTRADICT", {})

        def f(v: object) -> str:
            return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

        lines += ["", "| answers, dev claims with rationales | value |", "|---|---:|",
                  f"| claims asked | {answers['claims']} |",
                  f"| refusal rate | {f(answers['refusal_rate'])} |",
                  f"| cited-paper precision | {f(answers['cited_paper_precision'])} |",
                  f"| rationale-sentence precision of cited quotes (all / quotes from evidence papers) | "
                  f"{f(answers['rationale_precision'])} / {f(answers.get('rationale_precision_gold_papers'))} |",
                  f"| rationale-sentence recall (all / answered claims) | {f(answers['rationale_recall'])} / "
                  f"{f(answers['rationale_recall_answered'])} |",
                  f"| SUPPORT claims: yes / no / other / refused | {sup.get('yes', 0)} / {sup.get('no', 0)} / "
                  f"{sup.get('other', 0)} / {sup.get('refused', 0)} of {sup.get('claims', 0)} |",
                  f"| CONTRADICT claims: yes (must be 0) / no / other / refused | {con.get('yes', 0)} / "
                  f"{con.get('no', 0)} / {con.get('other', 0)} / {con.get('refused', 0)} of {con.get('claims', 0)} |"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scifact", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help=f"SciFact folder (default ${DATA_ENV} or "
                    "../shared/benchmarks/scifact next to the repo)")
    ap.add_argument("--home", default=None, help="store folder (default: $PAPERQA_SCIFACT_HOME, "
                    "$PAPERQA_HOME/bench-scifact or ~/.cache/paperqa/scifact; a slice gets its own subfolder)")
    ap.add_argument("--limit", type=int, default=None, help="use a slice of this many abstracts (see slice_scifact)")
    ap.add_argument("--queries", type=int, default=None, help="retrieval: first N test queries (default all)")
    ap.add_argument("--claims", type=int, default=None, help="answers: first N dev claims with rationales "
                    "(default all; 0 skips answers)")
    ap.add_argument("--fusions", default="", help="comma-separated fusions (default: all)")
    ap.add_argument("--skip-retrieval", action="store_true")
    ap.add_argument("--skip-answers", action="store_true")
    ap.add_argument("--ingest-bench", action="store_true", help="also time a fresh ingest into a temp store "
                    "against the bare embedder on the same chunks")
    ap.add_argument("--write-slice", default="", help="write the (sliced) data set to this folder and stop")
    ap.add_argument("--out", default="", help="results name in bench/results (default scifact, or "
                    "scifact-slice<N> with --limit)")
    ap.add_argument("--results-dir", default="", help="where the JSON goes (default bench/results)")
    ap.add_argument("--quiet", action="store_true", help="no per-claim lines or progress bar")
    args = ap.parse_args(argv)
    try:
        data = load_scifact(args.data)
    except SciFactDataError as exc:
        print(f"bench.scifact: {exc}", file=sys.stderr)
        return 2
    if args.limit:
        data = slice_scifact(data, args.limit)
    if args.write_slice:
        print(write_scifact(data, Path(args.write_slice)))
        return 0
    from paperqa.api import PaperQA

    m0 = machine()
    print(machine_line(m0))
    home = Path(args.home) if args.home else default_home()
    if args.limit:
        home = home / f"slice-{args.limit}"
    settings = _settings_for(home)
    out: dict[str, object] = {"data": str(data.root), "docs": len(data.corpus), "store": str(home),
                              "default_fusion": settings.retrieval.fusion, "retrieval_settings":
                              settings.retrieval.model_dump(), "embed_backend": settings.embed.embed_backend}
    qa = PaperQA(settings=settings)
    t = time.perf_counter()
    ingest = ensure_store(qa, data, progress=not args.quiet)
    ingest["open_and_check_s"] = round(time.perf_counter() - t, 2)
    out["ingest"] = ingest
    ids = paper_doc_ids(qa.papers(), data)
    print(f"store {home}: {qa.store.count_papers()} papers ({len(ids)} mapped to SciFact doc ids) of "
          f"{len(data.corpus)} docs; " + (f"ingested now in {ingest['seconds']:.0f} s "
                                          f"({ingest['papers_per_s']:.1f} papers/s)" if ingest["ingested"]
                                          else "cached"))
    if args.ingest_bench:
        bench = run_ingest_bench(data, settings)
        out["ingest_bench"] = bench
        print(f"\nIngest of {bench['papers']} papers ({bench['chunks']} chunks, backend {bench['backend']}): "
              f"{bench['ingest_s']} s = {bench['papers_per_s']} papers/s (target >= 35); bare embedder on the same "
              f"chunks {bench['bare_embed_s']} s = {bench['bare_papers_per_s']} papers/s; ingest/bare "
              f"{bench['ingest_over_bare']} (target >= 0.9); embedder share of ingest time {bench['embedding_share']}")
    if not args.skip_retrieval:
        fusions = [f.strip() for f in args.fusions.split(",") if f.strip()] or None
        retrieval = run_retrieval(qa, data, "test", fusions, args.queries)
        out["retrieval"] = retrieval
        print(f"\nRetrieval on the BEIR test split ({next(iter(retrieval.values()))['queries']} queries, "
              f"{len(data.corpus)} docs; latency: one k=10 retrieve including the query embedding)")
        print(_retrieval_table(retrieval, settings.retrieval.fusion))
    if not args.skip_answers and args.claims != 0:
        print(f"\nAnswers to dev claims with rationales, asked as {QUESTION!r} (model: {settings.llm.backend})")
        metrics, rows = run_answers(qa, data, args.claims, progress=not args.quiet)
        out["answers"] = metrics
        out["answer_rows"] = [r.__dict__ for r in rows]
        print(markdown_tables({"answers": metrics}))
    m1 = machine()
    out["loadavg_start"], out["loadavg_end"] = m0["loadavg"], m1["loadavg"]
    print("\n" + machine_line(m1))
    name = args.out or ("scifact" if not args.limit else f"scifact-slice{args.limit}")
    if args.results_dir:
        path = Path(args.results_dir) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machine": m1, **out}, indent=2, default=str), encoding="utf-8")
    else:
        path = save(name, out)
    print(f"wrote {path}\n\nREADME tables:\n{markdown_tables(out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
