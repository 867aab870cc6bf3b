"""Fit the 'convex' fusion's constants on SciFact TRAIN queries and the eval DEV questions; never on a test split.

    python -m bench.fit_fusion [--data DIR] [--home DIR] [--bundled-home DIR] [--fresh]

What it does:
1. Opens (ingesting on first use) the SciFact store (bench.scifact.scifact_qa) and a store of the bundled corpus.
2. For every SciFact train query (qrels_train.tsv; 809) and every eval question of split "dev" with gold titles, caches
   `Retriever.candidates(...)` with the number of candidates retrieve() uses (RetrievalSettings.candidates).
3. Grid-searches convex_dense_weight x convex_standout_ratio x convex_standout_bonus, scoring each setting with
   `paperqa.retrieve.fuse` (the function retrieve() calls), so a fitted figure is exactly what the product does.
4. Objective: nDCG@10 on SciFact train. Constraints on the eval dev questions: hit@1 and hit@5 no lower than rrf's
   (the default before this fit). Among settings within 0.001 nDCG of the best, it takes the one whose grid
   neighbours score best on average (a flat region, not a lucky point).
5. Prints every fusion side by side (train nDCG@10 / recall@10, dev hit@1 / hit@5 / MRR) and the chosen constants,
   and writes bench/results/fit_fusion.json. Copy the constants into RetrievalSettings' defaults.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
from collections.abc import Sequence
from pathlib import Path

from bench.common import CORPUS, load_questions, machine_line, save, table  # noqa: I001 - sets the offline env first
from bench.scifact import _num, default_home, load_scifact, ndcg_at_k, paper_doc_ids, recall_at_k, scifact_qa
from paperqa.records import normalise_title
from paperqa.retrieve import FUSIONS, Candidates, fuse
from paperqa.settings import RetrievalSettings, Settings, StoreSettings

WEIGHTS = [round(0.4 + 0.05 * i, 2) for i in range(11)]  # 0.40 .. 0.90
RATIOS = [1.05, 1.1, 1.2, 1.3, 1.5]
BONUSES = [0.0, 0.25, 0.5, 1.0]


def _ranked(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda pid: (-scores[pid], pid))  # the order retrieve() uses


def train_metrics(cands: dict[str, Candidates], qrels: dict[str, dict[str, int]], ids: dict[str, str],
                  fusion: str, settings: RetrievalSettings) -> dict[str, float]:
    nd = r10 = 0.0
    for qid, c in cands.items():
        top = [ids.get(p, "?") for p in _ranked(fuse(c, fusion, settings))[:10]]
        nd += ndcg_at_k(top, qrels[qid])
        r10 += recall_at_k(top, qrels[qid], 10)
    n = max(len(cands), 1)
    return {"ndcg@10": nd / n, "recall@10": r10 / n}


def dev_metrics(cands: dict[str, tuple[Candidates, set[str]]], fusion: str,
                settings: RetrievalSettings) -> dict[str, float]:
    h1 = h5 = mrr = 0.0
    for c, gold in cands.values():
        ranked = _ranked(fuse(c, fusion, settings))
        h1 += bool(ranked[:1] and ranked[0] in gold)
        h5 += bool(set(ranked[:5]) & gold)
        first = next((i for i, p in enumerate(ranked) if p in gold), None)
        mrr += 1.0 / (first + 1) if first is not None else 0.0
    n = max(len(cands), 1)
    return {"hit@1": h1 / n, "hit@5": h5 / n, "mrr": mrr / n, "n": len(cands)}


def collect(args: argparse.Namespace) -> dict[str, object]:
    """Candidates for SciFact train and eval dev, cached next to the SciFact store (by store generation)."""
    from paperqa.api import PaperQA

    data = load_scifact(args.data)
    qa = scifact_qa(Path(args.home) if args.home else None, data=data)
    bundled_home = Path(args.bundled_home) if args.bundled_home else default_home().with_name(
        default_home().name + "-bundled")
    bundled = PaperQA(settings=Settings(store=StoreSettings(home=bundled_home)))
    report = bundled.ingest([CORPUS])
    if not report.ok:
        raise SystemExit(report.summary())
    n = RetrievalSettings().candidates
    cache = Path(qa.settings.store.home) / "fit_fusion_candidates.pkl"
    key = (qa.store.generation(), bundled.store.generation(), n, str(bundled_home))
    if cache.is_file() and not args.fresh:
        cached = pickle.loads(cache.read_bytes())
        if cached.get("key") == key:
            return cached
    ids = paper_doc_ids(qa.papers(), data)
    qids = sorted(data.qrels["train"], key=_num)
    vecs = qa.embedder.encode([data.queries[q] for q in qids])
    train = {q: qa.retriever.candidates(data.queries[q], n, "convex", v) for q, v in zip(qids, vecs, strict=True)}
    by_title = {normalise_title(p.title): p.paper_id for p in bundled.papers()}
    dev: dict[str, tuple[Candidates, set[str]]] = {}
    for q in load_questions("dev"):
        gold = {by_title[normalise_title(t)] for t in q.get("gold_titles") or [] if normalise_title(t) in by_title}
        if gold:
            dev[str(q["id"])] = (bundled.retriever.candidates(str(q["question"]), n, "convex"), gold)
    out = {"key": key, "ids": ids, "qrels": {q: data.qrels["train"][q] for q in qids}, "train": train, "dev": dev}
    cache.write_bytes(pickle.dumps(out))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fit_fusion", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="SciFact folder (as bench.scifact)")
    ap.add_argument("--home", default=None, help="SciFact store folder (as bench.scifact)")
    ap.add_argument("--bundled-home", default=None, help="store of the bundled corpus (default: next to the "
                    "SciFact store, '<name>-bundled')")
    ap.add_argument("--fresh", action="store_true", help="recompute the cached candidates")
    args = ap.parse_args(argv)
    print(machine_line())
    got = collect(args)
    train: dict[str, Candidates] = got["train"]  # type: ignore[assignment]
    dev: dict[str, tuple[Candidates, set[str]]] = got["dev"]  # type: ignore[assignment]
    qrels: dict[str, dict[str, int]] = got["qrels"]  # type: ignore[assignment]
    ids: dict[str, str] = got["ids"]  # type: ignore[assignment]
    base = RetrievalSettings()
    rrf_dev = dev_metrics(dev, "rrf", base)

    grid: dict[tuple[float, float, float], dict[str, float]] = {}
    for w, ratio, bonus in itertools.product(WEIGHTS, RATIOS, BONUSES):
        if bonus == 0 and ratio != RATIOS[0]:
            continue  # the ratio does nothing without a bonus
        s = base.model_copy(update={"convex_dense_weight": w, "convex_standout_ratio": ratio,
                                    "convex_standout_bonus": bonus})
        grid[(w, ratio, bonus)] = {**train_metrics(train, qrels, ids, "convex", s), **dev_metrics(dev, "convex", s)}

    def ok(m: dict[str, float]) -> bool:
        return m["hit@1"] >= rrf_dev["hit@1"] and m["hit@5"] >= rrf_dev["hit@5"]

    feasible = {p: m for p, m in grid.items() if ok(m)}
    if not feasible:
        raise SystemExit("no convex setting keeps dev hit@1 and hit@5 at rrf's level; keep rrf the default")
    best = max(m["ndcg@10"] for m in feasible.values())

    def neighbourhood(p: tuple[float, float, float]) -> float:
        w, ratio, bonus = p
        near = [m["ndcg@10"] for (w2, r2, b2), m in grid.items()
                if abs(w2 - w) <= 0.051 and (b2 == bonus or abs(b2 - bonus) <= 0.26) and (r2 == ratio or bonus == 0)]
        return sum(near) / len(near)

    top = [p for p, m in feasible.items() if m["ndcg@10"] >= best - 0.001]
    chosen = max(top, key=lambda p: (neighbourhood(p), feasible[p]["ndcg@10"]))
    fitted = base.model_copy(update={"convex_dense_weight": chosen[0], "convex_standout_ratio": chosen[1],
                                     "convex_standout_bonus": chosen[2]})

    rows = []
    results: dict[str, dict[str, float]] = {}
    for fusion in FUSIONS:
        s = fitted if fusion == "convex" else base
        m = {**train_metrics(train, qrels, ids, fusion, s), **dev_metrics(dev, fusion, s)}
        results[fusion] = m
        rows.append([fusion, f"{m['ndcg@10']:.4f}", f"{m['recall@10']:.4f}", f"{m['hit@1']:.3f}",
                     f"{m['hit@5']:.3f}", f"{m['mrr']:.3f}"])
    print(f"\nSciFact train ({len(train)} queries) and eval dev ({len(dev)} questions with gold papers); "
          f"convex at the fitted constants")
    print(table(["fusion", "train nDCG@10", "train recall@10", "dev hit@1", "dev hit@5", "dev MRR"], rows))
    print(f"\nfitted: convex_dense_weight={chosen[0]}, convex_standout_ratio={chosen[1]}, "
          f"convex_standout_bonus={chosen[2]} (train nDCG@10 {feasible[chosen]['ndcg@10']:.4f}; best feasible "
          f"{best:.4f}; {len(feasible)}/{len(grid)} settings keep dev hit@1 >= {rrf_dev['hit@1']:.3f} and hit@5 >= "
          f"{rrf_dev['hit@5']:.3f})")
    shown = sorted(grid.items(), key=lambda kv: -kv[1]["ndcg@10"])[:12]
    print(table(["w", "ratio", "bonus", "train nDCG@10", "dev hit@1", "dev hit@5", "feasible"],
                [[*p, f"{m['ndcg@10']:.4f}", f"{m['hit@1']:.3f}", f"{m['hit@5']:.3f}", ok(m)] for p, m in shown]))
    path = save("fit_fusion", {
        "train_queries": len(train), "dev_questions": len(dev), "candidates": base.candidates,
        "fitted": {"convex_dense_weight": chosen[0], "convex_standout_ratio": chosen[1],
                   "convex_standout_bonus": chosen[2]},
        "fusions": results, "grid": [{"w": p[0], "ratio": p[1], "bonus": p[2], **m} for p, m in grid.items()],
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
