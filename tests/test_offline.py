"""Offline guarantee: `paperqa ingest`, `paperqa ask` and the web UI work inside a network namespace that has only a
loopback interface (`unshare -n`), and paperqa switches off every telemetry channel it could trigger."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, default_settings

from paperqa.store import chroma_client

FIXTURE = REPO / "tests" / "fixtures" / "injection" / "papers.jsonl"
QUESTION = "What RMSE does MolGraphFormer reach on ESOL?"

# Runs inside `unshare -n` (argv: home, port). Prints one JSON object with what happened at each step.
_DRIVER = r"""
import json, os, socket, subprocess, sys, time
home, port = sys.argv[1], int(sys.argv[2])
out = {}
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3).close()
    out["internet"] = True
except OSError as exc:
    out["internet"] = False
    out["internet_error"] = str(exc)
env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERQA_", "HF_", "GRADIO_", "ANONYMIZED_"))}
env.update(PAPERQA_HOME=home, PYTHONUNBUFFERED="1")
cli = [sys.executable, "-m", "paperqa.cli"]
r = subprocess.run(cli + ["ingest", "--quiet", "--json", sys.argv[3]], env=env, capture_output=True, text=True)
out["ingest"] = {"rc": r.returncode, "stdout": r.stdout[-3000:], "stderr": r.stderr[-3000:]}
r = subprocess.run(cli + ["ask", "--json", sys.argv[4]], env=env, capture_output=True, text=True)
out["ask"] = {"rc": r.returncode, "stdout": r.stdout[-6000:], "stderr": r.stderr[-3000:]}
app = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--no-ingest"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    from gradio_client import Client
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    client = None
    while time.monotonic() < deadline and app.poll() is None:
        try:
            client = Client(url, verbose=False, analytics_enabled=False)
            break
        except Exception:
            time.sleep(0.5)
    if client is None:
        out["ui"] = {"error": "UI did not come up"}
    else:
        out["ui"] = {"answer": client.predict(sys.argv[4], api_name="/ask")}
finally:
    app.terminate()
    try:
        log = app.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        app.kill()
        log = app.communicate()[0]
    out.setdefault("ui", {})["log"] = log[-4000:]
print("DRIVER-RESULT " + json.dumps(out))
"""


def _unshare_problem() -> str | None:
    """Why the namespace test cannot run here, or None."""
    if sys.platform != "linux":
        return "unshare -n needs Linux"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    if shutil.which("ip") is None:
        return "ip (iproute2) is not installed; needed to bring up loopback inside the namespace"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -n is not permitted here (needs root or user namespaces): {probe.stderr.strip()}"
    return None


def test_cli_and_ui_work_without_network(tmp_path: Path) -> None:
    problem = _unshare_problem()
    if problem:
        pytest.skip(problem)
    home = tmp_path / "home"
    port = 7861 + os.getpid() % 500  # inside the new namespace every port is free
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", _DRIVER, str(home), str(port), str(FIXTURE),
                           QUESTION], cwd=REPO, capture_output=True, text=True, timeout=540)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("DRIVER-RESULT ")]
    assert proc.returncode == 0 and lines, f"driver failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n" \
                                           f"{proc.stderr[-3000:]}"
    out = json.loads(lines[-1].removeprefix("DRIVER-RESULT "))
    assert out["internet"] is False, "the namespace still reaches the internet; the test would prove nothing"

    assert out["ingest"]["rc"] == 0, out["ingest"]
    report = json.loads(out["ingest"]["stdout"])
    assert report["added"] == 9 and not report["rejected"]

    assert out["ask"]["rc"] == 0, out["ask"]
    ans = json.loads(out["ask"]["stdout"])
    assert ans["question"] == QUESTION and not ans["refused"], ans
    assert "0.52" in ans["answer"] and ans["citations"], ans

    ui = out["ui"]
    assert "answer" in ui, ui
    assert ui["answer"]["question"] == QUESTION and ui["answer"]["citations"], ui
    assert "Traceback" not in ui["log"], ui["log"]


def test_no_telemetry_env_after_import(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "GRADIO_", "ANONYMIZED_", "PAPERQA_"))}
    keys = ("HF_HUB_OFFLINE", "GRADIO_ANALYTICS_ENABLED", "ANONYMIZED_TELEMETRY", "TRANSFORMERS_OFFLINE",
            "HF_HUB_DISABLE_TELEMETRY")
    code = f"import os, json, paperqa; print(json.dumps({{k: os.environ.get(k) for k in {keys!r}}}))"
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    got = json.loads(r.stdout)
    assert got["HF_HUB_OFFLINE"] == "1"
    assert got["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert got["ANONYMIZED_TELEMETRY"] == "False"
    assert got["TRANSFORMERS_OFFLINE"] == "1" and got["HF_HUB_DISABLE_TELEMETRY"] == "1"


def test_chroma_clients_have_telemetry_off(tmp_path: Path, chroma_server: str) -> None:
    embedded = chroma_client(default_settings(tmp_path / "home").store)
    assert embedded.get_settings().anonymized_telemetry is False
    server = chroma_client(default_settings(tmp_path / "home", chroma_url=chroma_server).store)
    assert server.get_settings().anonymized_telemetry is False
