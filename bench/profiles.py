"""Model-profile benchmark: the same questions answered by each installed profile, interleaved, on one engine.

    python -m bench.profiles [--profiles fast,default,quality] [--split dev] [--n 20] [--home DIR] [--threads 0]

Every question is asked of every profile in turn (who goes first rotates) before the next question, so a busy machine
(other people's jobs) slows all profiles alike and the ratios stay meaningful; absolute figures need an idle machine.
Retrieval, evidence and checking are the engine's own (`engine.stream(question, llm=...)`), so only the model
differs. Printed per profile: p50 total over all questions, and over the questions where the model wrote a draft: p50
first token, total, prompt and completion tokens and decode tokens/s; ratios are against the first profile. Results
go to bench/results/<--out>.json. Use `paperqa eval` for answer quality per profile (PAPERQA_MODEL_PROFILE=...).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.common import CORPUS, ingested_home, load_questions, machine, machine_line, p50, save, table, temp_settings
from bench.query import derived


def answer_with(engine: Any, question: str, llm: Any) -> Any:
    from paperqa.answer import Answer

    final = None
    for event in engine.stream(question, llm=llm):
        if isinstance(event, Answer):
            final = event
    assert final is not None
    return final


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.profiles", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", default="", help="comma-separated (default: every installed profile)")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--n", type=int, default=20, help="questions (0 = the whole split)")
    ap.add_argument("--home", default="", help="an ingested PAPERQA_HOME (default: as `paperqa bench`)")
    ap.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0 = PAPERQA_N_THREADS or all cores)")
    ap.add_argument("--out", default="profiles", help="results file name under bench/results/")
    args = ap.parse_args(argv)

    from paperqa.api import PaperQA
    from paperqa.llm import LlamaCppLLM
    from paperqa.models import installed_profiles

    names = [p for p in args.profiles.split(",") if p] or installed_profiles()
    m0 = machine()
    print(machine_line(m0))
    home, is_tmp = ingested_home(args.home)
    settings = temp_settings(home)
    try:
        qa = PaperQA(settings=settings)
        if qa.store.count_papers() == 0:
            qa.ingest([CORPUS])
        llms: dict[str, LlamaCppLLM] = {}
        for name in names:
            update: dict[str, object] = {"backend": "llamacpp", "model_path": None, "model_profile": name}
            if args.threads:
                update["n_threads"] = args.threads
            t = time.perf_counter()
            llm = LlamaCppLLM(settings.llm.model_copy(update=update))
            llm.load()
            llm.complete([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0, seed=0)  # warm-up
            llms[name] = llm
            print(f"{name}: {llm.name} loaded in {time.perf_counter() - t:.1f}s")
        engine = qa.engine
        questions = load_questions(args.split)
        if args.n:
            questions = questions[: args.n]
        t = time.perf_counter()
        qa.warm_sentence_vectors()  # as a warm UI: otherwise whichever profile asks first pays for evidence vectors
        answer_with(engine, "What does RAR reach on ImageNet-256?", llms[names[0]])  # warm the embedder and index
        print(f"sentence vectors and index warmed in {time.perf_counter() - t:.1f}s")
        rows: dict[str, list[dict[str, float]]] = {n: [] for n in names}
        for i, q in enumerate(questions):
            text = str(q["question"])
            line = []
            for name in names[i % len(names):] + names[: i % len(names)]:  # rotate who goes first
                ans = answer_with(engine, text, llms[name])
                d = derived(ans.timings_ms, ans.completion_tokens, ans.mode)
                d["drafted"] = float(ans.timings_ms.get("generate", 0.0) > 0)
                d["prompt_tokens"], d["completion_tokens"] = float(ans.prompt_tokens), float(ans.completion_tokens)
                rows[name].append(d)
                line.append(f"{name} {ans.mode} {d['total']:.0f} ms")
            print(f"  {q['id']}: " + "; ".join(line), file=sys.stderr, flush=True)

        summary: dict[str, dict[str, float]] = {}
        for name in names:
            rs = rows[name]
            drafted = [r for r in rs if r["drafted"]]
            summary[name] = {
                "n": len(rs), "drafted": len(drafted),
                "p50_total_ms": round(p50([r["total"] for r in rs]), 1),
                "drafted_p50_first_token_ms": round(p50([r["first_token"] for r in drafted]), 1),
                "drafted_p50_total_ms": round(p50([r["total"] for r in drafted]), 1),
                "drafted_p50_prompt_tokens": round(p50([r["prompt_tokens"] for r in drafted]), 1),
                "drafted_p50_completion_tokens": round(p50([r["completion_tokens"] for r in drafted]), 1),
                "p50_tokens_per_s": round(p50([r["tokens_per_s"] for r in drafted if "tokens_per_s" in r]), 1),
            }
        base = summary[names[0]]

        def ratio(name: str, key: str) -> str:
            return f"{summary[name][key] / base[key]:.2f}" if base[key] else "-"

        m1 = machine()
        print(f"\n{len(questions)} '{args.split}' questions, interleaved per question; ratios against {names[0]}")
        print(table(["profile", "model", "p50 total ms", "drafted", "1st tok ms", "drafted total ms", "prompt tok",
                     "compl tok", "tok/s", "1st tok ratio", "total ratio", "tok/s ratio"],
                    [[n, llms[n].name.split(":", 1)[-1], s["p50_total_ms"], f"{s['drafted']}/{s['n']}",
                      s["drafted_p50_first_token_ms"], s["drafted_p50_total_ms"], s["drafted_p50_prompt_tokens"],
                      s["drafted_p50_completion_tokens"], s["p50_tokens_per_s"], ratio(n, "drafted_p50_first_token_ms"),
                      ratio(n, "drafted_p50_total_ms"), ratio(n, "p50_tokens_per_s")] for n, s in summary.items()]))
        print(machine_line(m1))
        path = save(args.out, {"split": args.split, "n_questions": len(questions), "profiles": names,
                               "models": {n: llms[n].name for n in names}, "summary": summary,
                               "loadavg_start": m0["loadavg"], "loadavg_end": m1["loadavg"]})
        print(f"wrote {path}")
    finally:
        if is_tmp:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
