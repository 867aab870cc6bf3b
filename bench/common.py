"""Shared helpers for the benchmarks: machine description, percentiles, tables, results, corpora."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from paperqa.settings import Settings  # noqa: I001 - first: sets the offline environment variables

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = ROOT / "data" / "trending-papers-274-abstracts.txt"
QUESTIONS = ROOT / "eval" / "questions.jsonl"


def machine() -> dict[str, object]:
    """Cores, CPU model, memory and how busy the machine is (other people's tests share it)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "mem_gb": round(mem_gb, 1), "python": platform.python_version(),
            "loadavg": [round(x, 2) for x in os.getloadavg()], "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def machine_line(m: dict[str, object] | None = None) -> str:
    m = m or machine()
    return (f"machine: {m['cores']} cores, {m['cpu']}, {m['mem_gb']} GB RAM, Python {m['python']}; "
            f"loadavg {m['loadavg']}")


def pct(values: Sequence[float], q: float) -> float:
    """Percentile by linear interpolation (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    xs = sorted(values)
    if len(xs) == 1:
        return float(xs[0])
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


def p50(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain fixed-width table."""
    cells = [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, sep, *body])


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def save(name: str, data: dict[str, object]) -> Path:
    """Write bench/results/<name>.json (with the machine description) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    return path


def load_questions(split: str = "dev") -> list[dict[str, object]]:
    """Eval questions of one split ('dev', 'test' or 'all')."""
    out = []
    for line in QUESTIONS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            if split == "all" or q.get("split") == split:
                out.append(q)
    return out


def corpus_papers() -> list[tuple[str, str]]:
    """(title, abstract) pairs of the bundled corpus, parsed with paperqa's own parser."""
    from ingest.parse import parse_file

    return [(p.title, p.abstract) for p in parse_file(CORPUS)]


def temp_settings(home: Path | None = None, **embed: object) -> Settings:
    """Settings for a store in a fresh temp folder (never the user's PAPERQA_HOME)."""
    from paperqa.settings import EmbedSettings, StoreSettings

    home = home or Path(tempfile.mkdtemp(prefix="pqbench-"))
    return Settings(store=StoreSettings(home=home), embed=EmbedSettings(**embed))


def rss_peak_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_now_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def dir_size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1024 / 1024


# --- stores and the UI as subprocesses -----------------------------------------------------------------------------

SHARED_HOME = Path("/tmp/pqhome")  # the lead's ingested store; only ever copied, never written


def ingested_home(home: str = "") -> tuple[Path, bool]:
    """(a PAPERQA_HOME holding the ingested bundled corpus, whether it is a temp copy to delete afterwards).

    `home` given: used as is. Else a temp copy of /tmp/pqhome if it exists, else a fresh ingest."""
    if home:
        return Path(home), False
    tmp = Path(tempfile.mkdtemp(prefix="pqbench-home-"))
    if (SHARED_HOME / "chroma").exists():
        import shutil

        shutil.copytree(SHARED_HOME, tmp, dirs_exist_ok=True)
        return tmp, True
    from paperqa.api import PaperQA

    PaperQA(settings=temp_settings(tmp)).ingest([CORPUS])
    return tmp, True


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERQA_")}
    env.update({"PAPERQA_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


def start_ui(home: Path, port: int, log: Path, **env: str):  # type: ignore[no-untyped-def]
    """`python app.py --port N --no-ingest` on loopback, output to `log`. Returns (Popen, start time)."""
    import subprocess
    import sys

    fh = open(log, "wb")  # noqa: SIM115 - closed with the process
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port),
                             "--no-ingest"], cwd=str(ROOT), env=bench_env(home, **env), stdout=fh,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return proc, t0


def wait_ask(port: int, question: str, proc, deadline_s: float = 600.0) -> tuple[float, float, dict]:  # type: ignore[no-untyped-def]
    """Poll until the UI serves /ask; returns (time the client connected, time the answer came, answer)."""
    import httpx

    t_end = time.perf_counter() + deadline_s
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() < t_end:
        if proc.poll() is not None:
            raise RuntimeError(f"the UI exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        raise TimeoutError("the UI did not come up")
    from gradio_client import Client

    client = Client(url, verbose=False)
    t_conn = time.perf_counter()
    result = client.predict(question, api_name="/ask")
    return t_conn, time.perf_counter(), result


def stop(proc) -> None:  # type: ignore[no-untyped-def]
    """End a process this benchmark started (by its pid): SIGTERM, then SIGKILL after 10 s."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def children_pids(pid: int) -> list[int]:
    """Direct and indirect children of `pid` (from /proc), for RSS accounting."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out
