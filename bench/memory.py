"""Peak memory of the running web UI with the default models after a few questions.

    python -m bench.memory [--home DIR] [--questions 5]

Starts `python app.py --port N --no-ingest`, asks questions through /ask, then reads VmHWM (peak RSS) and VmRSS
from /proc/<pid>/status (plus any child processes). Target: <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import (
    children_pids,
    free_port,
    ingested_home,
    load_questions,
    machine,
    machine_line,
    rss_now_mb,
    rss_peak_mb,
    save,
    start_ui,
    stop,
    table,
    wait_ask,
)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.memory", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", default="")
    ap.add_argument("--questions", type=int, default=5)
    ap.add_argument("--backend", default="", help="PAPERQA_EMBED_BACKEND for the UI (torch, onnx, onnx-int8)")
    args = ap.parse_args(argv)
    m0 = machine()
    print(machine_line(m0))
    home, is_tmp = ingested_home(args.home)
    port = free_port()
    extra = {"PAPERQA_EMBED_BACKEND": args.backend} if args.backend else {}
    proc, t0 = start_ui(home, port, Path(home) / "ui-memory.log", **extra)
    rows: list[list[object]] = []
    try:
        qs = [str(q["question"]) for q in load_questions("dev")][: args.questions]
        _, t_ans, _ = wait_ask(port, qs[0], proc)
        rows.append(["after start + 1st answer", f"{t_ans - t0:.1f}", f"{rss_now_mb(proc.pid):.0f}",
                     f"{rss_peak_mb(proc.pid):.0f}"])
        from gradio_client import Client

        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        for i, q in enumerate(qs[1:], start=2):
            client.predict(q, api_name="/ask")
            rows.append([f"after answer {i}", f"{time.perf_counter() - t0:.1f}", f"{rss_now_mb(proc.pid):.0f}",
                         f"{rss_peak_mb(proc.pid):.0f}"])
        kids = children_pids(proc.pid)
        kid_peak = sum(rss_peak_mb(c) for c in kids if Path(f"/proc/{c}").exists())
        peak = rss_peak_mb(proc.pid)
        now = rss_now_mb(proc.pid)
    finally:
        stop(proc)
        if is_tmp:
            shutil.rmtree(home, ignore_errors=True)
    print("\nUI process memory (MB)")
    print(table(["point", "s since start", "RSS", "peak RSS (VmHWM)"], rows))
    total_peak = peak + kid_peak
    print(f"\npeak RSS {peak:.0f} MB (+{kid_peak:.0f} MB in {len(kids)} child processes) = {total_peak / 1024:.2f} GB "
          f"(target <= 1.5 GB)")
    m1 = machine()
    print(machine_line(m1))
    path = save("memory" + (f"-{args.backend}" if args.backend else ""), {
        "peak_rss_mb": round(peak, 1), "rss_mb": round(now, 1), "children": len(kids),
        "children_peak_mb": round(kid_peak, 1), "total_peak_gb": round(total_peak / 1024, 3), "target_gb": 1.5,
        "questions": len(rows), "backend": args.backend or "default", "points": rows,
        "loadavg_start": m0["loadavg"], "loadavg_end": m1["loadavg"]})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
