"""Load test of the running web UI: N concurrent gradio_client sessions, each asking its own questions on /ask.

    python -m bench.load --n 1 4 16 --per-session 3        # starts app.py on a free port on an ingested home
    python -m bench.load --url http://127.0.0.1:7860/ --n 16 [--auth user:pass]   # an already running UI

Every question is distinct across all sessions, so an answer delivered to the wrong session is caught: the returned
`question` must equal the one asked ("crossed"); a request that returns nothing is "lost". Reports throughput,
p50/p95/max latency and errors per N. Requests may queue (the LLM answers one at a time); they must not fail.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT, bench_env, free_port, ingested_home, load_questions, machine_line, pct, save, table


@dataclass
class AppProcess:
    """`python app.py` in a subprocess; output goes to `log`."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    port: int

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL, no clean-up: what a crash looks like."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_app(home: Path, *, port: int | None = None, auth: str | None = None, log: Path | None = None,
              args: Sequence[str] = ("--no-ingest",), env: dict[str, str] | None = None,
              timeout: float = 300.0) -> AppProcess:
    """Start app.py on loopback with PAPERQA_HOME=`home` and wait until it serves its page."""
    import httpx

    port = port or free_port()
    log = log or Path(home).parent / f"app-{port}.log"
    argv = [sys.executable, str(ROOT / "app.py"), "--port", str(port), *args]
    if auth:
        argv += ["--auth", auth]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, cwd=str(ROOT), env={**bench_env(Path(home)), **(env or {})}, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    app = AppProcess(proc, f"http://127.0.0.1:{port}/", log, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{app.output()[-3000:]}")
        try:
            if httpx.get(app.url, timeout=2.0).status_code == 200:
                return app
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    app.kill()
    raise RuntimeError(f"app.py did not serve {app.url} within {timeout:.0f}s:\n{app.output()[-3000:]}")


@dataclass
class LoadResult:
    n: int
    requests: int
    ok: int = 0
    errors: int = 0
    lost: int = 0
    crossed: int = 0
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    error_messages: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("latencies_s")
        d.update(throughput_rps=round(self.throughput, 3), p50_s=round(pct(self.latencies_s, 50), 2),
                 p95_s=round(pct(self.latencies_s, 95), 2), max_s=round(max(self.latencies_s, default=0.0), 2))
        d["error_messages"] = self.error_messages[:5]
        return d


def question_pool() -> list[str]:
    return [str(q["question"]) for q in load_questions("all")]


def run_load(url: str, n: int, per_session: int, auth: tuple[str, str] | None = None,
             pool: Sequence[str] | None = None, timeout: float = 900.0) -> LoadResult:
    """N sessions at once, each a separate gradio_client asking `per_session` questions one after another."""
    from gradio_client import Client

    pool = list(pool or question_pool())
    total = n * per_session
    # Distinct questions for every request; past the pool's end, a suffix keeps them distinct.
    questions = [pool[i % len(pool)] + ("" if i < len(pool) else f" (variant {i // len(pool)})")
                 for i in range(total)]
    result = LoadResult(n=n, requests=total)
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def session(i: int) -> None:
        mine = questions[i * per_session:(i + 1) * per_session]
        try:
            client = Client(url, auth=auth, verbose=False, analytics_enabled=False)
        except Exception as exc:  # noqa: BLE001 - a failure to connect counts against every request of the session
            with lock:
                result.errors += len(mine)
                result.error_messages.append(f"connect: {type(exc).__name__}: {exc}")
            barrier.abort()
            return
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            pass
        for q in mine:
            t0 = time.perf_counter()
            try:
                job = client.submit(q, api_name="/ask")
                answer = job.result(timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    result.errors += 1
                    result.error_messages.append(f"{type(exc).__name__}: {exc}")
                continue
            dt = time.perf_counter() - t0
            with lock:
                if not isinstance(answer, dict) or "question" not in answer:
                    result.lost += 1
                elif " ".join(str(answer["question"]).split()) != " ".join(q.split()):
                    result.crossed += 1
                else:
                    result.ok += 1
                    result.latencies_s.append(dt)

    threads = [threading.Thread(target=session, args=(i,), name=f"session-{i}") for i in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.wall_s = time.perf_counter() - t0
    return result


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1, 4, 16], help="concurrent sessions (several: one run "
                    "each, on the same server; default 1 4 16)")
    ap.add_argument("--per-session", type=int, default=3, help="questions each session asks (default 3)")
    ap.add_argument("--url", default="", help="a running UI to load (default: start app.py on a free port)")
    ap.add_argument("--home", default="", help="ingested PAPERQA_HOME for the started UI (default: a temp copy "
                    "of /tmp/pqhome, else a fresh ingest of the bundled corpus)")
    ap.add_argument("--auth", default="", help="user:password, if the UI wants one")
    ap.add_argument("--out", default="", help="also save results as bench/results/<OUT>.json")
    args = ap.parse_args(argv)

    print(machine_line())
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    app: AppProcess | None = None
    home_tmp: Path | None = None
    try:
        url = args.url
        if not url:
            home, is_tmp = ingested_home(args.home)
            home_tmp = home if is_tmp else None
            t = time.perf_counter()
            app = start_app(home, auth=args.auth or None)
            url = app.url
            print(f"started app.py at {url} on {home} in {time.perf_counter() - t:.1f}s")
        results = []
        for n in args.n:
            r = run_load(url, n, args.per_session, auth)  # type: ignore[arg-type]
            results.append(r.summary())
            print(f"N={n}: {r.ok}/{r.requests} ok, {r.errors} errors, {r.lost} lost, {r.crossed} crossed, "
                  f"{r.throughput:.2f} answers/s, p50 {pct(r.latencies_s, 50):.1f}s, p95 {pct(r.latencies_s, 95):.1f}s",
                  flush=True)
            for msg in r.error_messages[:3]:
                print(f"   error: {msg}")
        print()
        print(table(["N", "requests", "ok", "errors", "lost", "crossed", "wall s", "answers/s", "p50 s", "p95 s",
                     "max s"],
                    [[r["n"], r["requests"], r["ok"], r["errors"], r["lost"], r["crossed"], round(r["wall_s"], 1),
                      r["throughput_rps"], r["p50_s"], r["p95_s"], r["max_s"]] for r in results]))
        if args.out:
            print(f"saved {save(args.out, {'per_session': args.per_session, 'runs': results})}")
        bad = sum(r["errors"] + r["lost"] + r["crossed"] for r in results)
        return 1 if bad else 0
    finally:
        if app is not None:
            app.stop()
        if home_tmp is not None:
            import shutil

            shutil.rmtree(home_tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.exit(main())
