"""Run the evaluation: every system answers every question; rows, metrics, a report and a chart are written.

    python -m eval.run [--questions FILE] [--limit N] [--systems paperqa,bm25,dense,llamaindex]
                       [--split dev|test|all] [--llm llamacpp|ollama|openai] [--label NAME] [--out DIR]
    paperqa eval ...   (same arguments)

Uses the store under PAPERQA_HOME (or PAPERQA_CHROMA_URL), ingesting the bundled corpus first if it is empty.
Writes <out>/<date>-<label>/: report.md, metrics.json (exactly `metrics_from_rows(rows.jsonl)`), rows.jsonl,
run.json (settings, timings, cache use) and headline.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.check_citations import SENTENCE_CITING, abstract_sentences, check_rows
from eval.metrics import metrics_from_rows, question_scores
from eval.systems import SYSTEMS, ReplayCacheLLM, System, SystemOutput, build_systems
from paperqa.errors import PaperQAError, QuestionError
from paperqa.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUESTIONS = REPO / "eval" / "questions.jsonl"
DEFAULT_OUT = REPO / "eval" / "results"
DEFAULT_CORPUS = REPO / "data" / "trending-papers-274-abstracts.txt"
BASELINE = "paperqa"

__all__ = ["main", "metrics_from_rows", "run_eval", "load_questions"]

# (metric key, column header, higher is better, shown as seconds)
HEADLINE: list[tuple[str, str, bool, bool]] = [
    ("hit@1", "hit@1", True, False),
    ("hit@5", "hit@5", True, False),
    ("mrr", "MRR", True, False),
    ("ndcg@10", "nDCG@10", True, False),
    ("recall@10_multi", "R@10 multi", True, False),
    ("correct", "correct", True, False),
    ("citation_precision", "cite P", True, False),
    ("citation_recall", "cite R", True, False),
    ("citation_support", "support", True, False),
    ("claim_grounding", "grounded", True, False),
    ("refusal_rate", "refuse unans.", True, False),
    ("false_refusal_rate", "false refusal", False, False),
    ("latency_total_p50_ms", "p50 s", False, True),
    ("latency_total_p95_ms", "p95 s", False, True),
    ("latency_first_token_p50_ms", "TTFT p50 s", False, True),
    ("latency_first_token_p95_ms", "TTFT p95 s", False, True),
]
CHART_METRICS = ["hit@1", "hit@5", "mrr", "ndcg@10", "recall@10_multi", "correct", "citation_precision",
                 "citation_recall", "citation_support", "refusal_rate", "false_refusal_rate"]
# Metrics where a baseline beating paperqa gets a per-question diagnosis in the report.
DIAGNOSE = ("citation_precision", "refusal_rate", "hit@5")


# --- questions and store ---------------------------------------------------------------------------------------------


def load_questions(path: Path, split: str = "all", limit: int | None = None) -> list[dict[str, Any]]:
    """Questions of `split` (dev, test, blind or all) in file order, the first `limit` of them."""
    questions: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except ValueError as exc:
                raise QuestionError(f"{path}:{lineno}: not a JSON object ({exc})") from exc
            if split == "all" or q.get("split") == split:
                questions.append(q)
    return questions[:limit] if limit is not None else questions


def ensure_corpus(qa: Any, corpus: Path = DEFAULT_CORPUS) -> Any:
    """Ingest the bundled corpus if the store has no papers (returns the IngestReport, or None)."""
    if qa.store.count_papers() > 0:
        return None
    print(f"The store at {qa.store.location} is empty: ingesting {corpus.name} first.", file=sys.stderr)
    return qa.ingest([corpus], progress=True)


# --- running ---------------------------------------------------------------------------------------------------------


def make_row(system: System, q: Mapping[str, Any], out: SystemOutput) -> dict[str, Any]:
    row: dict[str, Any] = {
        "system": system.name, "id": q["id"], "split": q["split"], "type": q["type"], "question": q["question"],
        "answer": out.answer, "refused": out.refused, "mode": out.mode, "citations": out.citations,
        "sources": out.sources, "gold_titles": list(q.get("gold_titles") or []),
        "must_include": list(q.get("must_include") or []), "timings_ms": out.timings_ms, "model": out.model,
    }
    if out.error:
        row["error"] = out.error
    row["scores"] = question_scores(row)
    return row


def _answer(system: System, question: str) -> SystemOutput:
    """One answer; an unexpected failure becomes an error row rather than ending a long run."""
    t0 = time.perf_counter()
    try:
        return system.answer(question)
    except Exception as exc:  # noqa: BLE001 - recorded in the row and counted in the metrics
        ms = (time.perf_counter() - t0) * 1000
        return SystemOutput(answer="", refused=False, citations=[], sources=[],
                            timings_ms={"total": ms, "first_token": ms}, model="", mode="error",
                            error=f"{type(exc).__name__}: {exc}")


def run_eval(questions: Sequence[Mapping[str, Any]], system_names: Sequence[str], settings: Settings, *,
             llm: Any = None, extra_backend: str | None = None, cache: bool = True, progress: bool = True,
             corpus: Path = DEFAULT_CORPUS, partial: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Answer every question with every system. Returns (rows, meta). `llm` overrides the configured model;
    `partial` is a JSONL file that gets each row as soon as it exists, so an interrupted run keeps its answers."""
    from paperqa.api import PaperQA

    started = time.perf_counter()
    load_before = os.getloadavg()
    qa = PaperQA(settings=settings, llm=llm)
    ingest_report = ensure_corpus(qa, corpus)
    base_llm = qa.llm
    shared = ReplayCacheLLM(base_llm) if cache else base_llm
    systems = build_systems(system_names, settings, qa.store, qa.embedder, shared, extra_backend)
    t_warm = time.perf_counter()
    for s in systems:
        s.warm_up()
    warm_s = time.perf_counter() - t_warm

    rows: list[dict[str, Any]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(questions) * len(systems), unit="answer", file=sys.stderr, dynamic_ncols=True)
    sink = None
    if partial is not None:
        partial.parent.mkdir(parents=True, exist_ok=True)
        sink = open(partial, "w", encoding="utf-8")  # closed in the finally below
    system_s: dict[str, float] = {}
    try:
        for s in systems:
            if bar is not None:
                bar.set_description(s.name)
            t_system = time.perf_counter()
            for q in questions:
                rows.append(make_row(s, q, _answer(s, str(q["question"]))))
                if sink is not None:
                    sink.write(json.dumps(rows[-1], ensure_ascii=False) + "\n")
                    sink.flush()
                if bar is not None:
                    bar.update(1)
            system_s[s.name] = round(time.perf_counter() - t_system, 1)
    finally:
        if bar is not None:
            bar.close()
        if sink is not None:
            sink.close()
    stats = qa.stats()
    meta: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - started, 1),
        "warm_up_s": round(warm_s, 1),
        "system_elapsed_s": system_s,
        "cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime
                       + resource.getrusage(resource.RUSAGE_SELF).ru_stime, 1),
        "load_avg_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2),
                        "cores": os.cpu_count()},
        "questions": len(questions),
        "systems": {s.name: s.description for s in systems},
        "model": base_llm.name,
        "store": {k: stats[k] for k in ("papers", "chunks", "embedder", "store")},
        "ingested_first": ingest_report.to_dict() if ingest_report is not None else None,
        "settings": {"retrieval": settings.retrieval.model_dump(mode="json"),
                     "answer": settings.answer.model_dump(mode="json"),
                     "llm": settings.llm.model_dump(mode="json", exclude={"api_key"})},
        "llm_cache": ({"hits": shared.hits, "misses": shared.misses, "replayed_ms": round(shared.owed_ms, 1)}
                      if isinstance(shared, ReplayCacheLLM) else None),
        "env": {k: v for k, v in sorted(os.environ.items())
                if (k.startswith("PAPERQA_") and k != "PAPERQA_API_KEY")
                or k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")},
        "python": platform.python_version(),
        "commit": _git_commit(),
    }
    return rows, meta


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=5, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


# --- writing ---------------------------------------------------------------------------------------------------------


def write_outputs(out_dir: Path, rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> dict[str, Any]:
    """rows.jsonl, metrics.json, run.json, headline.png and report.md in `out_dir`. Returns the metrics."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "rows.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    metrics = metrics_from_rows(rows)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "run.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_headline(metrics, out_dir / "headline.png", str(meta.get("label", "")))
    (out_dir / "report.md").write_text(render_report(metrics, rows, meta), encoding="utf-8")
    return metrics


def plot_headline(metrics: Mapping[str, Any], path: Path, title: str = "") -> None:
    """Grouped bars: one group per headline metric, one bar per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(metrics)
    keys = [k for k in CHART_METRICS if any(metrics[s]["all"].get(k) is not None for s in systems)]
    labels = {k: h for k, h, _, _ in HEADLINE}
    fig, ax = plt.subplots(figsize=(max(8.0, 1.1 * len(keys) + 2), 4.8), dpi=110)
    width = 0.8 / max(len(systems), 1)
    for i, s in enumerate(systems):
        vals = [metrics[s]["all"].get(k) or 0.0 for k in keys]
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(keys))]
        ax.bar(xs, vals, width, label=s)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([labels.get(k, k) + (" ↓" if k == "false_refusal_rate" else "") for k in keys],
                       rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (higher is better; ↓ marks lower is better)")
    ax.set_title(f"Headline metrics per system {('— ' + title) if title else ''}".strip())
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _fmt(value: Any, seconds: bool) -> str:
    if value is None:
        return "–"
    if seconds:
        return f"{value / 1000:.2f}"
    return f"{value:.3f}"


def _table(groups: Mapping[str, Mapping[str, Any]], columns: Sequence[tuple[str, str, bool, bool]]) -> str:
    """A markdown table, one row per system, bold where a system is best in a column."""
    cols = [c for c in columns if any(g.get(c[0]) is not None for g in groups.values())]
    head = "| system | n | " + " | ".join(h for _, h, _, _ in cols) + " |"
    sep = "|---|---:|" + "---:|" * len(cols)
    best: dict[str, float] = {}
    for key, _, higher, _ in cols:
        vals = [g[key] for g in groups.values() if g.get(key) is not None]
        if len(vals) > 1 and len(set(vals)) > 1:
            best[key] = max(vals) if higher else min(vals)
    lines = [head, sep]
    for name, g in groups.items():
        cells = []
        for key, _, _, secs in cols:
            text = _fmt(g.get(key), secs)
            cells.append(f"**{text}**" if key in best and g.get(key) == best[key] else text)
        lines.append(f"| {name} | {g.get('n', 0)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _losses(metrics: Mapping[str, Any], ties: bool = False) -> list[tuple[str, str, str, float, float]]:
    """(group, metric, baseline, baseline value, paperqa value) wherever a baseline beats paperqa, or, with
    `ties`, wherever it equals paperqa on a DIAGNOSE metric (the issue asks paperqa to beat every baseline there)."""
    if BASELINE not in metrics:
        return []
    mine = metrics[BASELINE]
    groups: list[tuple[str, Mapping[str, Any], str]] = [("all", mine["all"], "all")]
    groups += [(f"{sp} split", mine["by_split"][sp], sp) for sp in mine["by_split"]]
    groups += [(f"type {t}", mine["by_type"][t], t) for t in mine["by_type"]]
    out: list[tuple[str, str, str, float, float]] = []
    for label, ours, key in groups:
        for name, m in metrics.items():
            if name == BASELINE:
                continue
            theirs = m["all"] if key == "all" else (m["by_split"].get(key) or m["by_type"].get(key))
            if theirs is None:
                continue
            for metric, _, higher, _ in HEADLINE:
                a, b = theirs.get(metric), ours.get(metric)
                if a is None or b is None:
                    continue
                if ties:
                    if metric in DIAGNOSE and abs(a - b) <= 1e-9:
                        out.append((label, metric, name, a, b))
                elif (a > b + 1e-9) if higher else (a < b - 1e-9):
                    out.append((label, metric, name, a, b))
    return out


def _in_group(row: Mapping[str, Any], group: str) -> bool:
    """Whether a row belongs to a report group: 'all', '<split> split' or 'type <type>'."""
    if group.endswith(" split"):
        return row["split"] == group.removesuffix(" split")
    if group.startswith("type "):
        return row["type"] == group.removeprefix("type ")
    return True


def _per_question_losses(rows: Sequence[Mapping[str, Any]], metric: str, baseline: str,
                         group: str = "all") -> list[str]:
    """Question ids where `baseline` scored better than paperqa on `metric` (refusal: on unanswerable questions)."""
    by_key = {(r["system"], r["id"]): r for r in rows if _in_group(r, group)}
    out: list[str] = []
    for (system, qid), r in by_key.items():
        if system != BASELINE or (baseline, qid) not in by_key:
            continue
        other = by_key[(baseline, qid)]
        if metric == "refusal_rate":
            if r["type"] == "unanswerable" and other["refused"] and not r["refused"]:
                out.append(qid)
            continue
        a, b = other["scores"].get(metric), r["scores"].get(metric)
        if a is not None and (b is None or a > b):
            out.append(qid)
    return sorted(out)


def render_report(metrics: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """report.md: settings, headline tables overall / per split / per type, and where paperqa does not win."""
    systems = list(metrics)
    lines = [f"# paperqa evaluation: {meta.get('label', '')}", ""]
    lines += [f"- date: {meta.get('started', '')}, commit {meta.get('commit') or '?'}; elapsed "
              f"{meta.get('elapsed_s', '?')} s for {meta.get('questions', '?')} questions x {len(systems)} systems "
              f"(process CPU {meta.get('cpu_s', '?')} s; 1-min load average {meta.get('load_avg_1m', {}).get('start')}"
              f" at start, {meta.get('load_avg_1m', {}).get('end')} at end, on {os.cpu_count()} cores)",
              f"- model: `{meta.get('model', '')}` for every system"
              + (" (plus the --llm system's own backend)" if any(s.startswith("paperqa-") for s in systems) else ""),
              f"- store: {meta.get('store', {}).get('papers', '?')} papers, {meta.get('store', {}).get('chunks', '?')}"
              f" chunks, embedder {meta.get('store', {}).get('embedder', '?')}"]
    checked = check_rows(rows, abstract_sentences())
    lines.append("- citations checked against the corpus (`python eval/check_citations.py RUN_DIR`): " + "; ".join(
        f"{s} {c['citations']} cited, {c['not_retrieved']} not a retrieved paper"
        + (f", {c['not_a_sentence']} not a sentence of the cited abstract" if s in SENTENCE_CITING else "")
        for s, c in checked.items()))
    cache = meta.get("llm_cache")
    if cache:
        lines.append(f"- LLM replay cache: {cache['hits']} identical prompts replayed, {cache['misses']} generated; "
                     "a replay is charged the latency the original generation took")
    for name, what in (meta.get("systems") or {}).items():
        lines.append(f"- `{name}`: {what}")
    lines += ["", "Columns: retrieval hit@1/hit@5/MRR/nDCG@10 over answerable questions, R@10 multi = recall@10 on "
              "multi-paper questions; correct = all must_include strings in the answer; cite P/R = citation "
              "precision/recall against the gold papers; support = share of answer sentences whose cited quotes "
              "contain all their numbers and names (ALCE-style, uncited sentences count as unsupported); grounded = "
              "the same against any cited text; refuse unans. = refusal rate on unanswerable questions (higher is "
              "better); false refusal = refusals on answerable questions (lower is better); latencies in seconds. "
              "Best per column in bold.", ""]

    lines += ["## All questions", "", _table({s: metrics[s]["all"] for s in systems}, HEADLINE), ""]
    for sp in ("blind", "test", "dev"):
        groups = {s: metrics[s]["by_split"][sp] for s in systems if sp in metrics[s]["by_split"]}
        if groups:
            lines += [f"## {sp.capitalize()} split", "", _table(groups, HEADLINE), ""]
    types = sorted({t for s in systems for t in metrics[s]["by_type"]})
    lines += ["## By question type (all splits in this run)", ""]
    for t in types:
        groups = {s: metrics[s]["by_type"][t] for s in systems if t in metrics[s]["by_type"]}
        lines += [f"### {t}", "", _table(groups, HEADLINE), ""]

    lines += ["## Where paperqa does not win", ""]
    losses = _losses(metrics)
    if BASELINE not in metrics:
        lines.append("paperqa was not among the systems run.")
    elif not losses:
        lines.append("No baseline beats paperqa on any headline metric, overall, per split or per type.")
    else:
        labels = {k: h for k, h, _, _ in HEADLINE}
        secs = {k for k, _, _, s in HEADLINE if s}
        lines += ["Each line: a group of questions, a baseline, and every headline metric where that baseline is "
                  "better than paperqa (baseline value vs paperqa value).", ""]
        grouped: dict[tuple[str, str], list[str]] = {}
        for group, metric, name, theirs, ours in losses:
            grouped.setdefault((group, name), []).append(
                f"{labels[metric]} {_fmt(theirs, metric in secs)} vs {_fmt(ours, metric in secs)}")
        for (group, name), items in grouped.items():
            lines.append(f"- {group}, **{name}**: " + "; ".join(items))
        diagnosed = [(g, m, n) for g, m, n, _, _ in losses if m in DIAGNOSE]
        if diagnosed:
            lines += ["", "Questions behind the losses on citation precision, refusal and hit@5 (the baseline did "
                      "better than paperqa on that very question):", ""]
            for group, metric, name in diagnosed:
                ids = _per_question_losses(rows, metric, name, group)
                lines.append(f"- {group}, {labels[metric]} vs {name}: {', '.join(ids) if ids else '(no single one)'}")
        level = _losses(metrics, ties=True)
        if level:
            lines += ["", "Ties (level, not ahead) on citation precision, refusal and hit@5:", ""]
            tied: dict[tuple[str, str], list[str]] = {}
            for group, metric, name, theirs, _ in level:
                tied.setdefault((group, name), []).append(f"{labels[metric]} {_fmt(theirs, False)}")
            lines += [f"- {group}, **{name}**: " + "; ".join(items) for (group, name), items in tied.items()]
        caveats = [(n, m["all"]["false_refusal_rate"]) for n, m in metrics.items()
                   if n != BASELINE and (m["all"].get("false_refusal_rate") or 0) >= 0.5]
        if caveats:
            lines += ["", "Read with care:", ""]
            for name, rate in caveats:
                lines.append(f"- {name} refused {rate:.0%} of the answerable questions: its refusal-rate and latency "
                             "'wins' are those of a system that mostly does not answer.")
    errors = {s: metrics[s]["all"].get("errors") for s in systems if metrics[s]["all"].get("errors")}
    if errors:
        lines += ["", "## Errors", "", *[f"- {s}: {n} question(s) failed (see rows.jsonl `error`)"
                                         for s, n in errors.items()]]
    lines.append("")
    return "\n".join(lines)


# --- command line ----------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paperqa eval", description="Measure answer quality against baselines.")
    p.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="question file (JSONL)")
    p.add_argument("--limit", type=int, default=None, help="only the first N questions (after --split)")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help=f"comma-separated, from {','.join(SYSTEMS)} (default: all)")
    p.add_argument("--split", choices=("dev", "test", "blind", "all"), default="all")
    p.add_argument("--llm", choices=("llamacpp", "ollama", "openai"), default=None,
                   help="also run paperqa on this configured backend (PAPERQA_MODEL, PAPERQA_BASE_URL, ...)")
    p.add_argument("--label", default="run", help="results folder name suffix")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="parent folder of <date>-<label>/")
    p.add_argument("--no-cache", action="store_true", help="generate every prompt even if an identical one ran")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--from-rows", type=Path, default=None, metavar="DIR",
                   help="run nothing: recompute metrics.json, report.md and the chart of DIR from its rows.jsonl")
    return p


def rerender(out_dir: Path) -> int:
    """Rewrite a results folder's derived files from its rows.jsonl (and run.json)."""
    rows_path = out_dir / "rows.jsonl"
    if not rows_path.is_file():
        print(f"paperqa eval: {rows_path} not found", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in rows_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    meta_path = out_dir / "run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {"label": out_dir.name}
    write_outputs(out_dir, rows, meta)
    print(f"Rewrote {out_dir} from {len(rows)} rows")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_rows is not None:
        return rerender(args.from_rows)
    names = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in names if s not in SYSTEMS]
    if unknown or not (names or args.llm):
        print(f"paperqa eval: unknown system(s) {', '.join(unknown) or '(none given)'}; choose from "
              f"{', '.join(SYSTEMS)}", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("paperqa eval: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        questions = load_questions(args.questions, args.split, args.limit)
        if not questions:
            print(f"paperqa eval: no questions in {args.questions} for split {args.split}", file=sys.stderr)
            return 2
        out_dir = args.out / f"{dt.date.today().isoformat()}-{args.label}"
        partial = out_dir / "rows.partial.jsonl"
        rows, meta = run_eval(questions, names, Settings(), extra_backend=args.llm, cache=not args.no_cache,
                              progress=not args.no_progress, partial=partial)
    except (PaperQAError, OSError) as exc:
        print(f"paperqa eval: {exc}", file=sys.stderr)
        return 2
    meta = {"label": args.label, "argv": list(argv) if argv is not None else sys.argv[1:],
            "questions_file": str(args.questions), "split": args.split, "limit": args.limit, **meta}
    metrics = write_outputs(out_dir, rows, meta)
    partial.unlink(missing_ok=True)
    print(f"Wrote {out_dir} ({len(rows)} rows, {meta['elapsed_s']} s)")
    for name, m in metrics.items():
        a = m["all"]
        print(f"  {name:<18} hit@5 {_fmt(a['hit@5'], False)}  correct {_fmt(a['correct'], False)}  "
              f"cite P {_fmt(a['citation_precision'], False)}  refuse {_fmt(a['refusal_rate'], False)}  "
              f"p50 {_fmt(a['latency_total_p50_ms'], True)} s")
    failed = [name for name, m in metrics.items() if m["all"]["errors"] and m["all"]["errors"] == m["all"]["n"]]
    if failed:
        print(f"paperqa eval: every question failed for {', '.join(failed)}; see rows.jsonl", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
