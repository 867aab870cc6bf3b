"""Cold start: seconds from process start to the first answer, for the Python API and for the web UI.

    python -m bench.coldstart [--home DIR] [--repeats 2] [--no-ui]

1. `python -c "from paperqa import PaperQA; PaperQA().ask(...)"` timed whole (wall clock of the process);
2. the same, instrumented: interpreter, imports (big libraries one by one, then paperqa), store open, embedder
   load, BM25 index load, LLM load, first answer;
3. `python app.py --port N --no-ingest`: until the /ask endpoint answers through gradio_client.
Target: <= 8 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    ROOT,
    bench_env,
    free_port,
    ingested_home,
    machine,
    machine_line,
    p50,
    save,
    start_ui,
    stop,
    table,
    wait_ask,
)

QUESTION = "What FID does RAR reach on ImageNet-256?"

PLAIN = f"from paperqa import PaperQA; a = PaperQA().ask({QUESTION!r}); print(a.answer[:60])"

INSTRUMENTED = r"""
import json, sys, time
t = [("interpreter", time.perf_counter())]
def mark(name): t.append((name, time.perf_counter()))
import paperqa.settings; mark("import paperqa.settings")
import numpy, bm25s; mark("import numpy+bm25s")
import chromadb; mark("import chromadb")
if BACKEND == "torch":
    import torch; mark("import torch")
    import sentence_transformers; mark("import sentence_transformers")
else:
    import onnxruntime, tokenizers; mark("import onnxruntime+tokenizers")
import llama_cpp; mark("import llama_cpp")
from paperqa import PaperQA; mark("import paperqa (rest)")
qa = PaperQA(); mark("open store (Chroma)")
qa.embedder.load(); mark("load embedder")
qa.retriever.lexical(); mark("load BM25 index")
qa.llm.load(); mark("load LLM")
a = qa.ask(QUESTION); mark("first answer")
b = qa.ask(QUESTION2); mark("second answer")
print("@@" + json.dumps({"marks": t, "answer": a.answer[:80], "timings": a.timings_ms,
                        "torch_imported": "torch" in sys.modules,
                        "peak_rss_mb": [int(x.split()[1]) / 1024 for x in open("/proc/self/status")
                                        if x.startswith("VmHWM")][0]}))
"""


def run_plain(home: Path, backend: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", PLAIN], cwd=str(ROOT), env=bench_env(home, PAPERQA_EMBED_BACKEND=backend),
                   check=True,
                   capture_output=True, timeout=900)
    return time.perf_counter() - t0


def run_instrumented(home: Path, backend: str) -> dict[str, float]:
    code = (f"QUESTION = {QUESTION!r}\nQUESTION2 = 'Which method generates realistic tabular data?'\n"
            f"BACKEND = {backend!r}\n" + INSTRUMENTED)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT),
                         env=bench_env(home, PAPERQA_EMBED_BACKEND=backend), check=True,
                         capture_output=True, text=True, timeout=900).stdout
    total = time.perf_counter() - t0
    data = json.loads(next(line for line in out.splitlines() if line.startswith("@@"))[2:])
    marks = data["marks"]
    # The child's perf_counter shares CLOCK_MONOTONIC with ours on Linux: interpreter start-up = first mark - t0.
    phases = {"interpreter start": marks[0][1] - t0}
    for (_, prev), (name, now) in zip(marks, marks[1:], strict=False):
        phases[name] = now - prev
    phases["process total"] = total
    phases["torch imported"] = float(data["torch_imported"])
    phases["peak RSS GB (after 2 answers)"] = data["peak_rss_mb"] / 1024
    return phases


def run_ui(home: Path, log: Path) -> dict[str, float]:
    port = free_port()
    proc, t0 = start_ui(home, port, log)
    try:
        t_conn, t_ans, result = wait_ask(port, QUESTION, proc)
        return {"ui up (client connected)": t_conn - t0, "first /ask answered": t_ans - t0,
                "answer_ms_inside": float(result.get("timings_ms", {}).get("total", 0.0)) / 1000}
    finally:
        stop(proc)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.coldstart", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", default="", help="an ingested PAPERQA_HOME (default: a temp copy of /tmp/pqhome, "
                    "else a fresh ingest)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-ui", action="store_true")
    ap.add_argument("--backends", default="torch,onnx-int8", help="embedder backends (PAPERQA_EMBED_BACKEND) for "
                    "the API runs; the UI runs with the default (onnx-int8)")
    args = ap.parse_args(argv)
    m0 = machine()
    print(machine_line(m0))
    home, is_tmp = ingested_home(args.home)
    try:
        # one unmeasured run first: page cache warm (the usual case for a second start, and fair to all three)
        backends = [b for b in args.backends.split(",") if b]
        for b in backends:
            run_plain(home, b)  # builds the ONNX export if needed (cached in the user's cache dir)
        plain: dict[str, list[float]] = {b: [] for b in backends}
        inst: dict[str, list[dict[str, float]]] = {b: [] for b in backends}
        ui: list[dict[str, float]] = []
        ui_ok = (ROOT / "app.py").exists() and not args.no_ui
        for i in range(args.repeats):
            for b in backends:
                plain[b].append(run_plain(home, b))
                inst[b].append(run_instrumented(home, b))
            if ui_ok:
                ui.append(run_ui(home, Path(home) / f"ui-{i}.log"))
        print(f"\nCold start to first answer, seconds (median of {args.repeats}; page cache warm)")
        rows = []
        for b in backends:
            rows.append([f"[{b}] python -c 'PaperQA().ask(...)' (whole process)", f"{p50(plain[b]):.2f}",
                         str([round(x, 2) for x in plain[b]])])
            for k in inst[b][0]:
                vals = [r[k] for r in inst[b]]
                rows.append([f"  [{b}] instrumented: {k}", f"{p50(vals):.2f}", str([round(x, 2) for x in vals])])
        for k in (ui[0] if ui else {}):
            vals = [r[k] for r in ui]
            rows.append([f"UI: {k}", f"{p50(vals):.2f}", str([round(x, 2) for x in vals])])
        print(table(["phase", "s", "runs"], rows))
        ui_total = p50([r["first /ask answered"] for r in ui]) if ui else None
        api = ", ".join(f"{b} {p50(plain[b]):.1f}s" for b in backends)
        print(f"\nAPI cold start {api}; UI to first /ask answer "
              f"{'-' if ui_total is None else f'{ui_total:.1f}s'} (target <= 8 s)")
        m1 = machine()
        print(machine_line(m1))
        path = save("coldstart", {"plain_s": plain, "instrumented": inst, "ui": ui,
                                  "plain_p50_s": {b: round(p50(v), 2) for b, v in plain.items()},
                                  "ui_first_answer_p50_s": round(ui_total, 2) if ui_total else None,
                                  "target_s": 8, "loadavg_start": m0["loadavg"], "loadavg_end": m1["loadavg"]})
        print(f"wrote {path}")
    finally:
        if is_tmp:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
