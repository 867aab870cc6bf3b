"""First start of the web UI on an empty store: how soon the page answers, and how soon asking opens.

    python -m bench.ui_startup [--repeats 2]

Each run starts `python app.py --port N` on a fresh PAPERQA_HOME, as the first `make run` does, and times from
process start: `page` (GET / answers), `ready` (the console's "Ready in" line: the bundled corpus ingested and the
models warm) and `first answer` (/ask, which waits for ready). Before issue 16 the page
answered only after ingest and warm-up: 41 s on a busy machine, ~12 s idle, with nothing in the browser meanwhile.
The figure that matters is page / ready: how much of the wait now has a page with a progress bar.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import ROOT, bench_env, free_port, machine, machine_line, p50, save, stop, table

QUESTION = "What FID does RAR reach on ImageNet-256?"


def one_run(tmp: Path, i: int) -> dict[str, float]:
    import httpx
    from gradio_client import Client

    home = tmp / f"home{i}"
    log = tmp / f"serve{i}.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=str(ROOT),
                                env=bench_env(home, PYTHONUNBUFFERED="1"), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        out: dict[str, float] = {}
        while "ready" not in out:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.perf_counter() - t0 > 900:
                raise TimeoutError(f"not ready after 900 s:\n{log.read_text()[-3000:]}")
            if "page" not in out:
                try:
                    if httpx.get(url, timeout=2.0).status_code == 200:
                        out["page"] = time.perf_counter() - t0
                except httpx.HTTPError:
                    pass
            if "Ready in" in log.read_text(errors="replace"):
                out["ready"] = time.perf_counter() - t0
            time.sleep(0.1)
        client = Client(url, verbose=False)
        answer = client.predict(QUESTION, api_name="/ask")
        out["first_answer"] = time.perf_counter() - t0
        assert "1.48" in answer["answer"], answer["answer"]
        return out
    finally:
        stop(proc)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    print(machine_line())
    runs = []
    with tempfile.TemporaryDirectory(prefix="pq-ui-startup-") as tmp:
        for i in range(args.repeats):
            r = one_run(Path(tmp), i)
            runs.append(r)
            print(f"run {i + 1}: page {r['page']:.1f} s, ready {r['ready']:.1f} s, first answer "
                  f"{r['first_answer']:.1f} s", flush=True)
    rows = [(k, p50([r[k] for r in runs])) for k in ("page", "ready", "first_answer")]
    print(table(["from process start (s, median)", "value"], rows))
    ratio = p50([r["page"] / r["ready"] for r in runs])
    print(f"page / ready = {ratio:.2f}: the page (with its progress bar) is there for {1 - ratio:.0%} of the wait")
    path = save("ui_startup", {"runs": runs, "page_over_ready": ratio, "machine_at_end": machine()})
    print(f"saved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
