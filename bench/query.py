"""Query benchmark (`paperqa bench`): per-stage latency of answering, side by side with the LlamaIndex tutorial
pipeline on the same model, plus the evidence-sentences and max-tokens settings.

    paperqa bench [--split dev|test|all] [--n N] [--home DIR] [--no-llamaindex] [--no-sweep] [--sweep-n 20]

Without --home, a temp copy of /tmp/pqhome is read (or the bundled corpus is ingested into a temp store): never
the user's own store.
Targets: paperqa p50 total <= 1.5 s and first token <= 0.7 s (issue 6); median total <= 3 s, first token <= 1 s
(issue 3).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

from bench.common import (
    CORPUS,
    ingested_home,
    load_questions,
    machine,
    machine_line,
    p50,
    pct,
    save,
    table,
    temp_settings,
)

STAGES = ["retrieve_embed_query", "retrieve_dense", "retrieve_bm25", "retrieve_fuse", "retrieve", "evidence", "compose",
          "pre_generation", "prompt_eval", "generate", "decode", "verify", "first_token", "total"]


class RecordingLLM:
    """Passes everything to the real LLM and remembers the last messages (to count the baseline's prompt)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last: list[dict[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def stream(self, messages: list[dict[str, str]], **kwargs: Any) -> Iterator[str]:
        self.last = list(messages)
        return self.inner.stream(messages, **kwargs)

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> str:
        self.last = list(messages)
        return self.inner.complete(messages, **kwargs)


def derived(t: dict[str, float], completion_tokens: int, mode: str) -> dict[str, float]:
    """Stage times plus pre-generation, prompt eval (the model's first token), decode and tokens/s when the model
    wrote a summary line."""
    out = {k: float(v) for k, v in t.items()}
    out["pre_generation"] = t.get("retrieve", 0.0) + t.get("evidence", 0.0) + t.get("compose", 0.0)
    if t.get("generate", 0.0) > 0 and "model_first_token" in t:
        out["prompt_eval"] = t["model_first_token"]
        out["total_with_model"] = float(t.get("total", 0.0))  # the answers that waited for the model, alone
        out["decode"] = max(t["generate"] - t["model_first_token"], 0.0)
        if completion_tokens > 1 and out["decode"] > 0:
            out["tokens_per_s"] = (completion_tokens - 1) / (out["decode"] / 1000)
    return out


def summarise(rows: list[dict[str, float]], keys: Sequence[str]) -> dict[str, dict[str, float]]:
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if k in r]
        if vals:
            out[k] = {"p50": round(p50(vals), 2), "p95": round(pct(vals, 95), 2), "n": len(vals)}
    return out


def build_llamaindex(qa: Any, top_k: int, max_tokens: int) -> tuple[Any, RecordingLLM, float]:
    """The LlamaIndex tutorial pipeline over the same chunks (same vectors), embedder and model."""
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from paperqa.llm import as_llamaindex_llm

    t = time.perf_counter()
    got = qa.store.chunks.get(include=["documents", "embeddings", "metadatas"])
    nodes = [TextNode(text=doc, id_=cid, embedding=list(map(float, emb)), metadata={"paper_id": meta["paper_id"]},
                      excluded_llm_metadata_keys=["paper_id"], excluded_embed_metadata_keys=["paper_id"])
             for cid, doc, emb, meta in zip(got["ids"], got["documents"], got["embeddings"], got["metadatas"],
                                            strict=True)]
    embed = HuggingFaceEmbedding(model_name=str(qa.embedder.path), device="cpu")
    index = VectorStoreIndex(nodes, embed_model=embed)
    recorder = RecordingLLM(qa.llm)
    li_llm = as_llamaindex_llm(recorder, max_tokens=max_tokens)  # type: ignore[arg-type]
    engine = index.as_query_engine(llm=li_llm, similarity_top_k=top_k, streaming=True)
    engine.query("warm-up question about image generation")
    return engine, recorder, time.perf_counter() - t


def ask_llamaindex(engine: Any, recorder: RecordingLLM, question: str) -> dict[str, float]:
    t0 = time.perf_counter()
    response = engine.query(question)
    pre = time.perf_counter()
    first: float | None = None
    text = ""
    for piece in response.response_gen:
        if first is None:
            first = time.perf_counter()
        text += piece
    end = time.perf_counter()
    llm = recorder.inner
    prompt_tokens = sum(llm.count_tokens(m["content"]) for m in recorder.last)
    completion = llm.count_tokens(text) if text else 0
    first = first or end
    out = {"pre_generation": (pre - t0) * 1000, "first_token": (first - t0) * 1000, "total": (end - t0) * 1000,
           "prompt_eval": (first - pre) * 1000, "decode": (end - first) * 1000,
           "prompt_tokens": float(prompt_tokens), "completion_tokens": float(completion)}
    if completion > 1 and end > first:
        out["tokens_per_s"] = (completion - 1) / (end - first)
    return out


def sweep(qa: Any, questions: list[str], evidence: list[int], max_tokens: list[int]) -> list[dict[str, object]]:
    """Latency under PAPERQA_EVIDENCE_SENTENCES and PAPERQA_MAX_TOKENS values, interleaved per question."""
    from paperqa.answer import AnswerEngine

    s = qa.settings
    shared = getattr(qa, "sentence_vectors", None)  # the engine's own cache, where the API has one
    extra = {"sentence_vectors": shared} if shared is not None else {}
    configs: list[tuple[str, Any]] = []
    for n in evidence:
        configs.append((f"evidence_sentences={n}", AnswerEngine(
            qa.retriever, qa.embedder, qa.llm, s.answer.model_copy(update={"evidence_sentences": n}), s.llm,
            s.retrieval, **extra)))
    for m in max_tokens:
        if m != s.llm.max_tokens:
            configs.append((f"max_tokens={m}", AnswerEngine(
                qa.retriever, qa.embedder, qa.llm, s.answer, s.llm.model_copy(update={"max_tokens": m}), s.retrieval,
                **extra)))
    rows: dict[str, list[dict[str, float]]] = {name: [] for name, _ in configs}
    for q in questions:
        for name, engine in configs:
            ans = engine.ask(q)
            d = derived(ans.timings_ms, ans.completion_tokens, ans.mode)
            d["prompt_tokens"] = float(ans.prompt_tokens)
            d["completion_tokens"] = float(ans.completion_tokens)
            d["generated"] = float(ans.timings_ms.get("generate", 0.0) > 0)
            rows[name].append(d)
    out = []
    for name, rs in rows.items():
        gen = [r for r in rs if "prompt_eval" in r]
        out.append({"config": name, "n": len(rs), "p50_total": round(p50([r["total"] for r in rs]), 1),
                    "p95_total": round(pct([r["total"] for r in rs], 95), 1),
                    "p50_first_token": round(p50([r["first_token"] for r in rs]), 1),
                    "p50_prompt_tokens": round(p50([r["prompt_tokens"] for r in gen]), 1) if gen else 0.0,
                    "p50_completion_tokens": round(p50([r["completion_tokens"] for r in gen]), 1) if gen else 0.0,
                    "p50_generate": round(p50([r["generate"] for r in gen]), 1) if gen else 0.0,
                    "generated_share": round(sum(r["generated"] for r in rs) / max(len(rs), 1), 2)})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="paperqa bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="dev", help="eval questions to time: dev, test or all (default dev)")
    ap.add_argument("--n", type=int, default=0, help="at most this many questions (0 = all of the split)")
    ap.add_argument("--home", default="", help="an already-ingested PAPERQA_HOME to read (default: a temp copy "
                    "of /tmp/pqhome if it exists, else the bundled corpus ingested into a temp folder)")
    ap.add_argument("--no-llamaindex", action="store_true", help="skip the LlamaIndex baseline")
    ap.add_argument("--no-sweep", action="store_true", help="skip the evidence/max-tokens sweep")
    ap.add_argument("--sweep-n", type=int, default=20, help="questions for the sweep (default 20)")
    ap.add_argument("--sweep-evidence", default="4,6,8")
    ap.add_argument("--sweep-max-tokens", default="48,96,160")
    ap.add_argument("--out", default="query", help="results file name under bench/results/")
    args = ap.parse_args(argv)

    from paperqa.api import PaperQA

    m0 = machine()
    print(machine_line(m0))
    home, is_tmp = ingested_home(args.home)
    settings = temp_settings(home)
    try:
        qa = PaperQA(settings=settings)
        if qa.store.count_papers() == 0:
            t = time.perf_counter()
            qa.ingest([CORPUS])
            print(f"ingested the bundled corpus into {home} in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        qa.embedder.load()
        qa.llm.load()  # type: ignore[attr-defined]
        print(f"models loaded in {time.perf_counter() - t:.1f}s; LLM {qa.llm.name}")
        questions = load_questions(args.split)
        if args.n:
            questions = questions[: args.n]
        qtexts = [str(q["question"]) for q in questions]
        qa.ask("What does RAR reach on ImageNet-256?")  # warm-up (not counted)

        t = time.perf_counter()
        qa.warm_sentence_vectors()
        warm_s = time.perf_counter() - t
        li = None
        if not args.no_llamaindex:
            li_engine, recorder, li_build = build_llamaindex(qa, settings.retrieval.top_k, settings.llm.max_tokens)
            li = (li_engine, recorder)
            print(f"LlamaIndex baseline built in {li_build:.1f}s (nodes reuse the stored chunk vectors)")

        rows_now: list[dict[str, float]] = []
        rows_li: list[dict[str, float]] = []
        per_q: list[list[object]] = []
        modes: dict[str, int] = {}
        for q, text in zip(questions, qtexts, strict=True):
            ans = qa.engine.ask(text)
            d = derived(ans.timings_ms, ans.completion_tokens, ans.mode)
            d["prompt_tokens"], d["completion_tokens"] = float(ans.prompt_tokens), float(ans.completion_tokens)
            rows_now.append(d)
            modes[ans.mode] = modes.get(ans.mode, 0) + 1
            lrow: dict[str, float] = {}
            if li is not None:
                lrow = ask_llamaindex(li[0], li[1], text)
                rows_li.append(lrow)
            print(f"  {q['id']}: {ans.mode}, {d['total']:.0f} ms (LI {lrow.get('total', 0):.0f} ms)", file=sys.stderr,
                  flush=True)
            per_q.append([q["id"], q["type"], ans.mode, ans.prompt_tokens, ans.completion_tokens,
                          round(d["total"]), round(d["first_token"]), int(lrow.get("prompt_tokens", 0)),
                          round(lrow.get("total", 0)), round(lrow.get("first_token", 0))])

        print(f"\nPer question ({len(questions)} '{args.split}' questions; modes {modes})")
        print(table(["id", "type", "mode", "prompt tok", "compl tok", "total ms", "1st tok ms", "LI prompt tok",
                     "LI total ms", "LI 1st tok ms"], per_q))

        keys = STAGES + ["total_with_model", "tokens_per_s", "prompt_tokens", "completion_tokens"]
        s_now, s_li = summarise(rows_now, keys), summarise(rows_li, keys)
        rows = []
        for k in keys:
            a, c = s_now.get(k), s_li.get(k)
            if not (a or c):
                continue

            def cell(x: dict[str, float] | None, which: str) -> str:
                return f"{x[which]:.1f}" if x else "-"

            ratio = f"{c['p50'] / a['p50']:.2f}" if a and c and a["p50"] > 0 else "-"
            rows.append([k, cell(a, "p50"), cell(a, "p95"), cell(c, "p50"), cell(c, "p95"), ratio, a["n"] if a else 0])
        print("\nStages in ms (p50/p95). paperqa's engine; LI = LlamaIndex tutorial pipeline, same model, same chunks, "
              "top 5")
        print(table(["stage", "p50", "p95", "LI p50", "LI p95", "LI/paperqa p50", "n"], rows))
        tot, ft = s_now["total"]["p50"], s_now["first_token"]["p50"]
        written = [r for r in rows_now if "prompt_eval" in r]
        print(f"\npaperqa p50 total {tot:.0f} ms (target <= 1500), p50 first token {ft:.0f} ms (target <= 700); "
              f"{len(written)} of {len(rows_now)} answers waited for the model's summary line (their p50 total "
              f"{s_now.get('total_with_model', {}).get('p50', 0):.0f} ms); sentence-vector "
              f"warm-up for {qa.store.count_papers()} papers: {warm_s:.1f}s")

        sweep_rows: list[dict[str, object]] = []
        if not args.no_sweep:
            ev_n = [int(x) for x in args.sweep_evidence.split(",") if x]
            mt = [int(x) for x in args.sweep_max_tokens.split(",") if x]
            sweep_rows = sweep(qa, qtexts[: args.sweep_n], ev_n, mt)
            print(f"\nSettings sweep on {min(args.sweep_n, len(qtexts))} questions (interleaved per question; "
                  f"default evidence_sentences={settings.answer.evidence_sentences}, "
                  f"max_tokens={settings.llm.max_tokens})")
            cols = list(sweep_rows[0].keys()) if sweep_rows else []
            print(table(cols, [[r[c] for c in cols] for r in sweep_rows]))

        m1 = machine()
        print(machine_line(m1))
        path = save(args.out, {
            "split": args.split, "n_questions": len(questions), "modes": modes, "llm": qa.llm.name,
            "paperqa": s_now, "llamaindex": s_li,
            "ratios_llamaindex_over_paperqa_p50": {k: round(s_li[k]["p50"] / s_now[k]["p50"], 3)
                                                    for k in s_li if k in s_now and s_now[k]["p50"] > 0},
            "targets": {"p50_total_ms<=1500": tot <= 1500, "p50_first_token_ms<=700": ft <= 700,
                        "median_total_ms<=3000": tot <= 3000, "median_first_token_ms<=1000": ft <= 1000},
            "sentence_vectors_warm_s": round(warm_s, 2), "sweep": sweep_rows,
            "per_question": [dict(zip(["id", "type", "mode", "prompt_tokens", "completion_tokens", "total_ms",
                                       "first_token_ms", "li_prompt_tokens", "li_total_ms", "li_first_token_ms"],
                                      r, strict=True)) for r in per_q],
            "loadavg_start": m0["loadavg"], "loadavg_end": m1["loadavg"],
        })
        print(f"wrote {path}")
    finally:
        if is_tmp:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
