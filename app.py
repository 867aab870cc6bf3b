"""The paperqa web UI: chat with the papers, check every citation, manage the library.

`python app.py` or `paperqa serve` starts it on http://127.0.0.1:7860. The page answers at once; the library is
prepared behind it (the bundled corpus ingested into an empty store, the models loaded) while the page shows a
progress bar, and asking opens when that is done (`Startup`). While an answer is worked out the chat shows what the
engine is doing, never the model's unchecked draft. Everything runs locally: the page loads no
fonts or scripts from the internet, Gradio's analytics are off and no share link is ever made. Each browser session
has its own chat (a `ChatSession` kept in `gr.State`), so follow-up questions are rewritten against that session's
history only. The same answers are available to scripts through the `/ask` endpoint:

    from gradio_client import Client
    Client("http://127.0.0.1:7860/").predict("What FID does RAR reach on ImageNet-256?", api_name="/ask")
"""

from __future__ import annotations  # noqa: I001 - paperqa.settings must come before gradio (see below)

import argparse
import html
import re
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperqa.settings import LLMSettings, Settings  # before gradio: sets the offline environment

import gradio as gr
import pandas as pd

from gradio.data_classes import FileData
from gradio.utils import NamedString

from ingest.parse import SUPPORTED_SUFFIXES, parse_bytes
from ingest.pipeline import run_ingest

from paperqa.answer import Answer, ChatSession, Progress, Token
from paperqa.api import PaperQA
from paperqa.errors import BackendError, PaperQAError, QuestionError, SourceError
from paperqa.llm import LLM, OLLAMA_DEFAULT_URL, make_llm
from paperqa.models import installed_profiles
from paperqa.ui_helpers import (
    Turn,
    download_links_html,
    export_bibtex,
    export_chat_markdown,
    exposure_warning,
    filter_rows,
    message_html,
    parse_auth,
    progress_html,
    sources_html,
    startup_html,
    startup_step,
    verified_html,
)

BUNDLED_CORPUS = Path(__file__).resolve().parent / "data" / "trending-papers-274-abstracts.txt"
EXAMPLES = [
    "What FID does RAR reach on ImageNet-256?",
    "How many languages does MiniMax-Speech support?",
    "How much faster is FastSpeech at mel-spectrogram generation than an autoregressive Transformer TTS?",
    "Which papers generate music audio from text descriptions?",
]
_PROGRESS = gr.Progress()  # Gradio swaps in a per-request tracker for a Progress default
TABLE_HEADERS = ["Title", "Paper id", "Chunks"]
# Concurrent answer requests (page and API together). The LLM serialises generation with its own lock, so extra
# requests wait there instead of failing; retrieval of the next question overlaps the current generation.
ANSWER_CONCURRENCY = 4
STATUS_POLL_SECONDS = 0.5  # how often a page asks how the start-up is going, until it is ready
READY_TIMEOUT_S = 900.0  # how long a script's request waits for the start-up before being told why not

THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    # Named system fonts: a GoogleFont here would make every page load fetch from the internet.
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
).set(
    # WCAG AA (4.5:1) for small text: the Soft theme's subdued grey and pale buttons fall below it.
    body_text_color_subdued="*neutral_600",
    input_placeholder_color="*neutral_500",
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_text_color="white",
    button_cancel_background_fill="#b91c1c",
    button_cancel_background_fill_hover="#991b1b",
    button_cancel_text_color="white",
    color_accent="*primary_600",
    block_label_text_color="*neutral_700",
    block_title_text_color="*neutral_700",
)

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#pq-header h1 { margin-bottom: 0; }
#pq-header p { margin-top: 2px; color: var(--body-text-color-subdued); }
/* Both tabs take the container's full width from the first render (a hidden tab's row shrank to its content). */
#pq-tabs, #pq-tabs > .tabitem, #pq-tabs .tabitem > .column, #pq-chat-row, #pq-library-row { width: 100%; }
#pq-status:not(:has(.pq-status)) { display: none; }
.pq-status { border-radius: 10px; padding: 10px 14px; margin: 4px 0; line-height: 1.5; }
.pq-status-preparing { background: #eef2ff; border: 1px solid #c7d2fe; color: #1e1b4b; }
.pq-status-preparing progress { display: block; width: 100%; height: 10px; margin-top: 8px; border: 0;
  border-radius: 5px; overflow: hidden; background: #e0e7ff; -webkit-appearance: none; appearance: none; }
.pq-status-preparing progress::-webkit-progress-bar { background: #e0e7ff; }
.pq-status-preparing progress::-webkit-progress-value { background: #4f46e5; transition: width 0.4s; }
.pq-status-preparing progress::-moz-progress-bar { background: #4f46e5; }
@media (max-width: 560px) { #pq-chat { height: 440px !important; max-height: 440px !important; } }
.pq-status-warn { background: #fffbeb; border: 1px solid #fcd34d; color: #78350f; }
.pq-status-error { background: #fef2f2; border: 1px solid #fca5a5; color: #7f1d1d; }
#pq-sources { max-height: 640px; overflow-y: auto !important; padding-right: 4px; }
#pq-sources .pq-empty { color: var(--body-text-color-subdued); padding: 24px 8px; line-height: 1.5; }
#pq-sources details.pq-turn { border-bottom: 1px solid var(--border-color-primary); padding: 4px 0 8px; }
#pq-sources summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
#pq-sources .pq-h { text-transform: uppercase; font-size: 0.75em; letter-spacing: 0.06em;
  color: var(--body-text-color-subdued); margin: 10px 0 2px; }
#pq-sources .pq-note { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 4px; }
#pq-sources .pq-source { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
  margin: 6px 0; background: var(--background-fill-secondary); scroll-margin: 12px; }
#pq-sources .pq-source.pq-closest { border-style: dashed; }
#pq-sources .pq-source.pq-flash { box-shadow: 0 0 0 3px var(--color-accent); transition: box-shadow 0.3s; }
#pq-sources .pq-title { font-weight: 600; }
#pq-sources .pq-n { color: var(--color-accent); }
#pq-sources .pq-id { font-size: 0.8em; color: var(--body-text-color-subdued); font-family: var(--font-mono);
  overflow-wrap: anywhere; }
#pq-sources .pq-abstract { font-size: 0.9em; line-height: 1.5; margin-top: 6px; }
#pq-sources mark.pq-quote { background: #fde68a; color: #1f2937; padding: 1px 2px; border-radius: 3px; }
#pq-sources ol.pq-others { margin: 4px 0 0 18px; padding: 0; font-size: 0.9em; }
#pq-sources ol.pq-others li { margin: 3px 0; }
.pq-meta { font-size: 0.8em; color: var(--body-text-color-subdued); }
.pq-closest-line { font-size: 0.9em; }
.pq-progress { color: var(--body-text-color); display: inline-flex; align-items: center; gap: 8px; }
.pq-spinner { width: 12px; height: 12px; border-radius: 50%; border: 2px solid #c7d2fe; border-top-color: #4f46e5;
  display: inline-block; animation: pq-spin 0.9s linear infinite; }
@keyframes pq-spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .pq-spinner { animation: none; } }
.pq-steps { font-size: 0.8em; color: var(--body-text-color-subdued); }
.pq-step-now { color: #3730a3; font-weight: 600; }
.pq-step-done { text-decoration: line-through; }
a.pq-ref { text-decoration: none; font-weight: 600; color: #4338ca !important; cursor: pointer; }
a.pq-ref:hover { text-decoration: underline; }
#pq-notice .pq-warn { color: #b91c1c; padding: 4px 2px; }
#pq-table table, #pq-table td, #pq-table th, #pq-table span { font-family: var(--font) !important; }
/* The "Chunks" header must never wrap one letter per line: the number column keeps its header's width. */
#pq-table th, #pq-table th * { white-space: nowrap; word-break: keep-all; overflow-wrap: normal; }
#pq-table th .cell-wrap { padding-left: 6px; padding-right: 6px; }
#pq-table { max-width: 100%; }
@media (max-width: 560px) { #pq-table th .header, #pq-table td { font-size: 13px; } }
#pq-stats { color: var(--body-text-color-subdued); font-size: 0.9em; overflow-wrap: anywhere; }
#pq-upload { min-height: 180px; }
#pq-upload-help { font-size: 0.85em; color: var(--body-text-color-subdued); margin-top: -4px; }
#pq-remove, #pq-confirm-remove, #pq-cancel-remove { min-height: 44px; font-weight: 600; }
#pq-confirm { border: 2px solid #b91c1c; border-radius: 10px; padding: 10px 12px; background: #fef2f2; gap: 8px; }
#pq-confirm-text, #pq-confirm-text * { color: #7f1d1d; }
.pq-downloads { display: flex; gap: 10px; flex-wrap: wrap; margin: 6px 0; }
.pq-downloads a { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px;
  text-decoration: none; font-weight: 600; color: #3730a3; background: var(--background-fill-primary); }
/* Keyboard users see where they are. */
button:focus-visible, a:focus-visible, summary:focus-visible, [role="tab"]:focus-visible,
input:focus-visible, textarea:focus-visible, [tabindex]:focus-visible {
  outline: 3px solid #4f46e5 !important; outline-offset: 2px !important; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
footer { display: none !important; }
"""

# Document-level click handler: a [n] link in an answer (or a closest paper's link in a refusal) opens that turn's
# sources, scrolls the quote into view and flashes it. Runs in the capture phase so Gradio's own link handling (new
# tab) never sees the click.
HEAD = """
<script>
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#cite-"], a[href^="#closest-"]') : null;
  if (!a) return;
  ev.preventDefault();
  ev.stopPropagation();
  var el = document.getElementById(a.getAttribute("href").slice(1));
  if (!el) return;
  var d = el.closest("details");
  if (d) d.open = true;
  el.scrollIntoView({behavior: "smooth", block: "center"});
  el.classList.add("pq-flash");
  setTimeout(function () { el.classList.remove("pq-flash"); }, 1600);
}, true);
</script>
"""

FOCUS_QUESTION = """() => {
  const q = document.querySelector('#pq-question textarea');
  if (q && !q.disabled && (!document.activeElement || document.activeElement === document.body)) q.focus();
}"""


# --- backends ----------------------------------------------------------------------------------


@dataclass
class BackendChoice:
    label: str
    settings: LLMSettings


def describe_backend(s: LLMSettings) -> str:
    if s.backend == "llamacpp":
        return f"llamacpp · {s.describe_model()}"
    if s.backend == "ollama":
        return f"ollama · {s.model or '(PAPERQA_MODEL unset)'} @ {s.base_url or OLLAMA_DEFAULT_URL}"
    return f"openai-compatible · {s.model or 'server default'} @ {s.base_url or '(PAPERQA_BASE_URL unset)'}"


def backend_choices(configured: LLMSettings) -> list[BackendChoice]:
    """The installed llama.cpp model profiles (the configured model first), plus the server backend
    PAPERQA_LLM/MODEL/BASE_URL point at, if any."""
    local = [configured.model_copy(update={"backend": "llamacpp", "model_path": None, "model_profile": name})
             for name in installed_profiles(configured.cache_dir())]
    if configured.backend != "llamacpp":
        return [*(BackendChoice(describe_backend(s), s) for s in local),
                BackendChoice(describe_backend(configured), configured)]
    choices = [BackendChoice(describe_backend(configured), configured)]
    choices += [BackendChoice(describe_backend(s), s) for s in local if describe_backend(s) != choices[0].label]
    if configured.model or configured.base_url:
        kind = "openai" if "/v1" in configured.base_url else "ollama"
        server = configured.model_copy(update={"backend": kind})
        choices.append(BackendChoice(describe_backend(server), server))
    return choices


# --- start-up: the page first, the library after -------------------------------------------------


class Startup:
    """Prepares the library while the page is already up: ingest the bundled corpus into an empty store, then load
    the models. Pages poll `view()` to draw a progress bar; asking opens once `ready` is set.

    Before this, `paperqa serve` ingested and warmed up first and only then opened the page: 41 s of nothing in the
    browser on a busy machine."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase = "starting"  # starting | ingesting | loading | ready | failed
        self.done = 0
        self.total = 0
        self.detail = ""
        self.ready = threading.Event()
        self.seconds: dict[str, float] = {}  # phase -> seconds it took, for the console and benchmarks

    @classmethod
    def finished(cls) -> Startup:
        """A start-up with nothing left to do (the caller prepared the library itself)."""
        s = cls()
        s._set("ready")
        s.ready.set()
        return s

    def _set(self, phase: str, done: int = 0, total: int = 0, detail: str = "") -> None:
        with self._lock:
            self.phase, self.done, self.total, self.detail = phase, done, total, detail

    def view(self) -> tuple[str, int, int, str]:
        with self._lock:
            return self.phase, self.done, self.total, self.detail

    def describe(self) -> str:
        """A few words on what it is doing, for a refusal to answer while preparing."""
        phase, done, total, _ = self.view()
        return startup_step(phase, done, total)

    def run(self, qa: PaperQA, sources: Sequence[Path], log: Any = print) -> None:
        """Thread body: ingest `sources` when the store is empty, then warm the models; never raises."""
        t0 = time.perf_counter()
        try:
            if sources and qa.store.count_papers() == 0:
                self._set("ingesting")
                log(f"The store is empty: ingesting {', '.join(p.name for p in sources)} in the background…")
                report = run_ingest(list(sources), qa.store, qa.embedder,
                                    lambda done, total: self._set("ingesting", done, total))
                self.seconds["ingest"] = time.perf_counter() - t0
                log(report.summary())
            self._set("loading")
            t1 = time.perf_counter()
            detail = ""
            try:
                warm_up(qa)
            except BackendError as exc:  # a server backend may come up later; say so and serve anyway
                detail = f"The model is not reachable yet: {exc}"
                log(f"paperqa serve: warning: {exc}", file=sys.stderr)
            self.seconds["load"] = time.perf_counter() - t1
            self._set("ready", detail=detail)
        except PaperQAError as exc:
            self._set("failed", detail=str(exc))
            log(f"paperqa serve: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - shown on the page; the traceback goes to the console
            self._set("failed", detail=f"{type(exc).__name__}: {exc}")
            log(traceback.format_exc(), file=sys.stderr)
        finally:
            self.seconds["total"] = time.perf_counter() - t0
            self.ready.set()

    def start(self, qa: PaperQA, sources: Sequence[Path], log: Any = print) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(qa, sources, log), name="paperqa-startup", daemon=True)
        thread.start()
        return thread


# --- per-session chat state --------------------------------------------------------------------


@dataclass
class ChatState:
    """One browser session's conversation; lives in gr.State so sessions never share it."""

    chat: ChatSession
    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    next_turn: int = 1


def _notice(text: str) -> str:
    return f'<div class="pq-warn" role="alert">⚠️ {html.escape(text, quote=False)}</div>' if text else ""


def _esc(text: str) -> str:
    """Escape for Markdown/HTML messages (quotes stay readable)."""
    return html.escape(text, quote=False)


def _safe_name(name: str) -> str:
    base = Path(name).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(base).stem).strip("._") or "upload"
    return stem[:80] + Path(base).suffix.lower()


def picker_filter_only(upload: gr.File) -> gr.File:
    """Keep `file_types` as the file picker's `accept` filter only.

    Gradio would also refuse other types on the server, with its own message and its temporary copy left behind.
    The upload handler checks type and size itself, so a script that skips the picker gets the same clear
    "Rejected …" message and nothing is left on disk. (A per-instance override: subclassing a Gradio component
    makes Gradio write a .pyi stub next to this file.)"""

    def keep_path(f: FileData) -> NamedString:
        return NamedString(f.path)

    upload._process_single_file = keep_path  # type: ignore[method-assign]
    return upload


class PaperQAUI:
    """The handlers behind the page; holds the shared PaperQA, the backend choices and the start-up state."""

    def __init__(self, qa: PaperQA, settings: Settings, startup: Startup | None = None) -> None:
        self.qa = qa
        self.settings = settings
        self.startup = startup or Startup.finished()
        self.choices = backend_choices(settings.llm)
        self.default_label = describe_backend(settings.llm)
        self._llms: dict[str, LLM] = {}
        self._llm_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one ingest/remove at a time
        self.uploads = Path(settings.store.home) / "uploads"
        self.ready_timeout_s = READY_TIMEOUT_S

    # -- models ---------------------------------------------------------------------------------
    def llm_for(self, label: str | None) -> LLM:
        """The model behind a dropdown label; the configured one is the shared, already warm `qa.llm`."""
        if not label or label == self.default_label:
            return self.qa.llm
        with self._llm_lock:
            if label not in self._llms:
                choice = next((c for c in self.choices if c.label == label), None)
                if choice is None:
                    raise BackendError(f"Unknown backend {label!r}; pick one from the list.")
                self._llms[label] = make_llm(choice.settings)
            return self._llms[label]

    # -- start-up -------------------------------------------------------------------------------
    def poll(self, query: str = "") -> tuple[Any, ...]:
        """The page's view of the start-up: the status banner, and the controls that wait for the library.

        Outputs: status, question, ask, upload, remove, stats, table, timer. Once ready this enables asking,
        refreshes the library and stops the page's timer."""
        phase, done, total, detail = self.startup.view()
        if not self.startup.ready.is_set():
            off = gr.update(interactive=False)
            return (startup_html(phase, done, total, detail), off, off, off, off, gr.skip(), gr.skip(),
                    gr.Timer(active=True))
        on = gr.update(interactive=True)
        return (startup_html(phase, done, total, detail), on, on, on, on, self.stats_text(), self.table(query),
                gr.Timer(active=False))

    def _preparing(self) -> str | None:
        """None once the library is ready. Scripts (the page keeps its controls closed until then) wait for it up to
        `ready_timeout_s`, so a script started with the server needs no polling; past that, the reason."""
        if self.startup.ready.wait(self.ready_timeout_s):
            return None
        return (f"The library is still being prepared ({self.startup.describe()}); asking opens when the bar above "
                "is done.")

    # -- chat -----------------------------------------------------------------------------------
    def new_state(self) -> ChatState:
        return ChatState(chat=self.qa.chat())

    def exports(self, state: ChatState) -> tuple[str, str, str]:
        """The whole chat as Markdown, BibTeX of its cited papers, and download links for both."""
        if not state.turns:
            return "", "", download_links_html("", "")
        cited = list(dict.fromkeys(c.paper_id for t in state.turns for c in t.answer.citations))
        papers = self.qa.store.get_papers(cited) if cited else {}
        markdown = export_chat_markdown(state.turns, papers)
        bibtex = export_bibtex(state.turns, papers)
        return markdown, bibtex, download_links_html(markdown, bibtex)

    def respond(self, question: str, state: ChatState | None, k: float, backend: str, temperature: float
                ) -> Iterator[tuple[Any, ...]]:
        """Stream one chat turn: what the engine is doing, then verified text, then the answer and its sources.

        Outputs: chatbot, sources, export markdown, export BibTeX, download links, notice, state, question box.
        The model's unchecked draft is never shown: while it writes, the bubble says what the engine is doing."""
        state = state if isinstance(state, ChatState) else self.new_state()
        skip5 = (gr.skip(),) * 4
        waiting = self._preparing()
        if waiting:
            yield list(state.messages), *skip5, _notice(waiting), state, gr.skip()
            return
        try:
            q = self.qa.engine.check_question(question)
        except QuestionError as exc:
            yield list(state.messages), *skip5, _notice(str(exc)), state, gr.skip()
            return
        turn = state.next_turn
        state.next_turn += 1
        messages = [*state.messages, {"role": "user", "content": _esc(q)},
                    {"role": "assistant", "content": progress_html("Searching the papers…", "retrieve")}]
        yield [dict(m) for m in messages], *skip5, "", state, ""
        kk = int(k) if k and int(k) != self.settings.retrieval.top_k else None  # None keeps list questions' list_k
        verified = ""
        answer: Answer | None = None
        try:
            llm = self.llm_for(backend)
            for event in state.chat.stream(q, k=kk, llm=llm, temperature=float(temperature)):
                if isinstance(event, Progress):
                    messages[-1] = {"role": "assistant", "content": progress_html(event.message, event.stage)}
                elif isinstance(event, Token):  # verified text only (the engine's stream protocol)
                    verified += event.text
                    messages[-1] = {"role": "assistant", "content": verified_html(verified)}
                elif isinstance(event, Answer):
                    answer = event
                    continue
                else:
                    continue
                yield [dict(m) for m in messages], *skip5, "", state, gr.skip()
        except PaperQAError as exc:
            messages[-1] = {"role": "assistant", "content": _notice(str(exc))}
            state.messages = messages
            yield [dict(m) for m in messages], *skip5, _notice(str(exc)), state, gr.skip()
            return
        assert answer is not None
        messages[-1] = {"role": "assistant", "content": message_html(answer, turn)}
        state.messages = messages
        state.turns.append(Turn(turn, answer))
        yield [dict(m) for m in messages], sources_html(state.turns), *self.exports(state), "", state, gr.skip()

    def clear(self) -> tuple[Any, ...]:
        state = self.new_state()
        return [], sources_html([]), *self.exports(state), "", state, ""

    def api_ask(self, question: str) -> dict[str, Any]:
        """Answer one question about the papers; returns Answer.to_dict() (answer, citations, sources, timings).

        Right after `paperqa serve` starts this waits for the library to be ready, so a script need not poll."""
        waiting = self._preparing()
        if waiting:
            raise gr.Error(waiting)
        try:
            return self.qa.engine.ask(question).to_dict()
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc

    # -- library --------------------------------------------------------------------------------
    def rows(self) -> list[list[object]]:
        return sorted(([p.title, p.paper_id, p.n_chunks] for p in self.qa.papers()), key=lambda r: str(r[0]).lower())

    def table(self, query: str = "") -> pd.DataFrame:
        return pd.DataFrame(filter_rows(self.rows(), query or ""), columns=TABLE_HEADERS)

    def stats_text(self) -> str:
        s = self.qa.stats()
        return (f"{s['papers']} papers · {s['chunks']} chunks · embedder {s['embedder']} · "
                f"store {_esc(str(s['store']))}")

    def upload(self, file: str | None, query: str, progress: gr.Progress = _PROGRESS) -> tuple[Any, ...]:
        """Check an uploaded file whole, keep a copy under PAPERQA_HOME/uploads, then ingest it."""
        if not file:
            return "", gr.skip(), None, gr.skip()
        src = Path(file)
        name = src.name
        limit = self.settings.server.max_upload_mb
        try:
            waiting = self._preparing()
            if waiting:
                raise SourceError(name, None, waiting.replace("asking opens", "uploads open"))
            if src.suffix.lower() not in SUPPORTED_SUFFIXES:
                raise SourceError(name, None, f"unsupported file type '{src.suffix or 'none'}'; use one of "
                                  f"{', '.join(SUPPORTED_SUFFIXES)}")
            size = src.stat().st_size
            if size > limit * 1024 * 1024:
                raise SourceError(name, None, f"file is {size / 1024 / 1024:.1f} MB; the limit is {limit:g} MB "
                                  "(PAPERQA_MAX_UPLOAD_MB)")
            data = src.read_bytes()
            papers = parse_bytes(data, name)  # all-or-nothing: any bad record raises, nothing is stored
        except SourceError as exc:
            where = f"{exc.file}, line {exc.line}" if exc.line is not None else exc.file
            msg = f"**Rejected {_esc(where)}:** {_esc(exc.message)}. Nothing was stored."
            return msg, gr.skip(), None, gr.skip()
        finally:
            src.unlink(missing_ok=True)  # Gradio's temporary copy; ours goes under PAPERQA_HOME/uploads
        if not papers:
            return f"**{_esc(name)}** holds no papers. Nothing was stored.", gr.skip(), None, gr.skip()
        with self._write_lock:
            self.uploads.mkdir(parents=True, exist_ok=True)
            dest = self.uploads / _safe_name(name)
            i = 1
            while dest.exists() and dest.read_bytes() != data:
                dest = self.uploads / f"{Path(_safe_name(name)).stem}-{i}{dest.suffix}"
                i += 1
            dest.write_bytes(data)
            progress(0, desc="Embedding papers")

            def report_progress(done: int, total: int) -> None:
                progress((done, total), desc="Embedding papers", unit="papers")

            report = run_ingest([dest], self.qa.store, self.qa.embedder, report_progress)
        lines = [f"**{_esc(name)}:** {report.added} added, {report.updated} updated, "
                 f"{report.unchanged} unchanged, {report.duplicates} duplicate(s) skipped; "
                 f"{report.chunks_written} chunks written in {report.seconds:.1f} s. "
                 f"{report.papers_total} papers in the library."]
        lines += [f"- rejected {_esc(str(r))}" for r in report.rejected]
        return "\n".join(lines), self.table(query), None, self.stats_text()

    def ask_remove(self, paper_id: str) -> tuple[Any, ...]:
        """First click on Remove: name the paper and ask to confirm. Outputs: confirm box, its text, report."""
        pid = (paper_id or "").strip()
        hidden = gr.update(visible=False)
        if not pid:
            return hidden, gr.skip(), "Pick a paper in the table (or paste its id) first."
        paper = self.qa.store.get_papers([pid]).get(pid)
        if paper is None:
            return hidden, gr.skip(), f"No paper with id `{_esc(pid)}` in the library."
        text = (f"Remove **{_esc(paper.title)}** (`{_esc(pid)}`) from the library? Its {paper.n_chunks} chunk(s) "
                "are deleted from the store; answers will no longer cite it.")
        return gr.update(visible=True), text, ""

    def remove(self, paper_id: str, query: str) -> tuple[Any, ...]:
        """Remove a paper (the confirm button, and the /remove endpoint). Outputs: report, table, id box, stats,
        confirm box."""
        hidden = gr.update(visible=False)
        pid = (paper_id or "").strip()
        waiting = self._preparing()
        if waiting:
            return waiting.replace("asking opens", "removing opens"), gr.skip(), gr.skip(), gr.skip(), hidden
        if not pid:
            return "Pick a paper in the table (or paste its id) first.", gr.skip(), gr.skip(), gr.skip(), hidden
        known = self.qa.store.get_papers([pid])
        if pid not in known:
            return f"No paper with id `{_esc(pid)}` in the library.", gr.skip(), gr.skip(), gr.skip(), hidden
        with self._write_lock:
            self.qa.remove([pid])
        return (f"Removed **{_esc(known[pid].title)}** (`{_esc(pid)}`).", self.table(query), "", self.stats_text(),
                hidden)

    @staticmethod
    def cancel_remove(paper_id: str) -> tuple[Any, ...]:
        pid = (paper_id or "").strip()
        return gr.update(visible=False), f"Kept `{_esc(pid)}`: nothing was removed." if pid else ""

    @staticmethod
    def select_row(evt: gr.SelectData) -> str:
        row = evt.row_value or []
        return str(row[1]) if len(row) > 1 else gr.skip()


# --- the page ----------------------------------------------------------------------------------


def build_app(qa: PaperQA, settings: Settings, startup: Startup | None = None) -> gr.Blocks:
    """The whole UI around one shared PaperQA. Launch with `launch_app` (it adds theme, CSS and limits).

    `startup` is the background preparation `main` runs after the page is up; None means the library is ready."""
    ui = PaperQAUI(qa, settings, startup)
    ready = ui.startup.ready.is_set()
    with gr.Blocks(title="PaperQA", fill_width=False) as demo:
        state = gr.State(None)
        gr.Markdown("# PaperQA\nAsk questions about the papers. Every claim links to the abstract sentence that "
                    "supports it.", elem_id="pq-header")
        status = gr.HTML(startup_html(*ui.startup.view()), elem_id="pq-status", js_on_load=None)
        with gr.Tabs(elem_id="pq-tabs"):
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False, elem_id="pq-chat-row"):
                    with gr.Column(scale=3, min_width=340):
                        chatbot = gr.Chatbot(
                            label="Conversation", show_label=False, height=560, elem_id="pq-chat", buttons=[],
                            feedback_options=None,
                            layout="bubble", group_consecutive_messages=False,
                            placeholder="Ask about the papers: methods, numbers, datasets. Answers cite the "
                                        "sentence they rest on.")
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(label="Question", show_label=False,
                                                  placeholder="Ask about the papers…",
                                                  scale=6, lines=1, max_lines=4, elem_id="pq-question",
                                                  autofocus=True, interactive=ready,
                                                  html_attributes=gr.InputHTMLAttributes(enterkeyhint="send"))
                            ask = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="pq-ask",
                                            interactive=ready)
                            new_chat = gr.Button("New chat", scale=1, min_width=120, elem_id="pq-new")
                        notice = gr.HTML("", elem_id="pq-notice", js_on_load=None)
                        gr.Examples(EXAMPLES, inputs=question, label="Try")
                    with gr.Column(scale=2, min_width=300):
                        gr.Markdown("### Sources", elem_id="pq-sources-title")
                        sources = gr.HTML(sources_html([]), elem_id="pq-sources", js_on_load=None)
                with gr.Accordion("Settings", open=False, elem_id="pq-settings"):
                    with gr.Row():
                        k = gr.Slider(1, 20, value=settings.retrieval.top_k, step=1, label="Sources to retrieve (k)",
                                      info="Papers searched per question; applies to the next question.")
                        backend = gr.Dropdown([c.label for c in ui.choices], value=ui.default_label,
                                              label="Model", info="Installed profiles (PAPERQA_MODEL_PROFILE), "
                                              "or PAPERQA_LLM / PAPERQA_MODEL / PAPERQA_BASE_URL.")
                        temperature = gr.Slider(0.0, 1.5, value=settings.llm.temperature, step=0.1,
                                                label="Temperature", info="0 = the same answer every time.")
                with gr.Accordion("Export the chat", open=False, elem_id="pq-export"):
                    export_links = gr.HTML(download_links_html("", ""), elem_id="pq-downloads", js_on_load=None)
                    export = gr.Code("", language="markdown", label="The whole chat with its references (Markdown)",
                                     buttons=["copy"], lines=4, max_lines=18, wrap_lines=True, interactive=False,
                                     show_line_numbers=False, elem_id="pq-markdown")
                    export_bib = gr.Code("", language=None, label="BibTeX of the cited papers",
                                         buttons=["copy"], lines=3, max_lines=18, wrap_lines=True,
                                         interactive=False, show_line_numbers=False, elem_id="pq-bibtex")

            with gr.Tab("Library", id="library"):
                stats = gr.Markdown(ui.stats_text, elem_id="pq-stats")
                with gr.Row(equal_height=False, elem_id="pq-library-row"):
                    with gr.Column(scale=3, min_width=300):
                        search = gr.Textbox(label="Search the library", placeholder="Search titles and ids…",
                                            elem_id="pq-search")
                        table = gr.Dataframe(ui.table, headers=TABLE_HEADERS, datatype=["str", "str", "number"],
                                             interactive=False, wrap=True, max_height=520, label="Papers",
                                             show_label=False, column_widths=["54%", "26%", "20%"],
                                             elem_id="pq-table")
                    with gr.Column(scale=2, min_width=280):
                        upload = picker_filter_only(gr.File(
                            label="Add papers", file_count="single", file_types=list(SUPPORTED_SUFFIXES),
                            type="filepath", elem_id="pq-upload", height=180, interactive=ready))
                        gr.Markdown(f"Accepted: {', '.join(SUPPORTED_SUFFIXES)}; up to "
                                    f"{settings.server.max_upload_mb:g} MB. A file with a bad line is refused whole.",
                                    elem_id="pq-upload-help")
                        upload_report = gr.Markdown(elem_id="pq-upload-report")
                        remove_id = gr.Textbox(label="Remove a paper", placeholder="paper id (click a row)",
                                               elem_id="pq-remove-id")
                        remove = gr.Button("Remove…", variant="stop", size="md", elem_id="pq-remove",
                                           interactive=ready)
                        with gr.Column(visible=False, elem_id="pq-confirm") as confirm_box:
                            confirm_text = gr.Markdown(elem_id="pq-confirm-text")
                            with gr.Row():
                                confirm = gr.Button("Yes, remove it", variant="stop", size="md",
                                                    elem_id="pq-confirm-remove")
                                cancel = gr.Button("Cancel", variant="secondary", size="md",
                                                   elem_id="pq-cancel-remove")
                        remove_report = gr.Markdown(elem_id="pq-remove-report")
        timer = gr.Timer(STATUS_POLL_SECONDS, active=not ready)

        chat_outputs = [chatbot, sources, export, export_bib, export_links, notice, state, question]
        chat_io = dict(fn=ui.respond, inputs=[question, state, k, backend, temperature], outputs=chat_outputs,
                       concurrency_limit=ANSWER_CONCURRENCY, concurrency_id="answer", show_progress="minimal")
        question.submit(**chat_io, api_name="chat")
        ask.click(**chat_io, api_visibility="private")
        new_chat.click(ui.clear, None, chat_outputs, api_visibility="private")
        chatbot.clear(ui.clear, None, chat_outputs, api_visibility="private")
        gr.api(ui.api_ask, api_name="ask", concurrency_limit=ANSWER_CONCURRENCY, concurrency_id="answer")

        poll_outputs = [status, question, ask, upload, remove, stats, table, timer]
        poll_io = dict(fn=ui.poll, inputs=search, outputs=poll_outputs, api_visibility="private",
                       show_progress="hidden", concurrency_limit=None)
        for polled in (demo.load(**poll_io), timer.tick(**poll_io)):
            # When asking opens after a start-up, the question box takes the focus autofocus could not give it.
            polled.then(None, None, None, js=FOCUS_QUESTION)

        search.change(ui.table, search, table, api_name="papers", show_progress="hidden")
        upload.upload(ui.upload, [upload, search], [upload_report, table, upload, stats], api_name="upload",
                      concurrency_limit=1, concurrency_id="write")
        table.select(ui.select_row, None, remove_id, api_visibility="private")
        remove_id.change(lambda: gr.update(visible=False), None, confirm_box, api_visibility="private",
                         show_progress="hidden")
        remove.click(ui.ask_remove, remove_id, [confirm_box, confirm_text, remove_report], api_visibility="private",
                     show_progress="hidden")
        cancel.click(ui.cancel_remove, remove_id, [confirm_box, remove_report], api_visibility="private",
                     show_progress="hidden")
        confirm.click(ui.remove, [remove_id, search], [remove_report, table, remove_id, stats, confirm_box],
                      api_name="remove", concurrency_limit=1, concurrency_id="write")
    demo.queue(default_concurrency_limit=ANSWER_CONCURRENCY)
    return demo


def launch_app(demo: gr.Blocks, settings: Settings, host: str, port: int, auth: tuple[str, str] | None = None,
               prevent_thread_lock: bool = False, quiet: bool = False) -> Any:
    """Start the server with the app's look and limits; local only unless `host` says otherwise."""
    return demo.launch(
        server_name=host, server_port=port, auth=auth, share=False, prevent_thread_lock=prevent_thread_lock,
        show_error=True, quiet=quiet, inbrowser=False,
        max_file_size=int(settings.server.max_upload_mb * 1024 * 1024),
        allowed_paths=[], footer_links=[], enable_monitoring=False, mcp_server=False, pwa=False, ssr_mode=False,
        run_history=False, theme=THEME, css=CSS, head=HEAD,
        auth_message="PaperQA: sign in with the user and password given to `paperqa serve --auth`.",
    )


def warm_up(qa: PaperQA) -> None:
    """Load the embedder, the BM25 index and the LLM now, so the first question is as fast as the rest."""
    qa.embedder.encode(["warm up"])
    if qa.store.count_papers():
        qa.retriever.retrieve("warm up", k=1)
    llm = qa.llm
    if hasattr(llm, "load"):
        llm.load()
    llm.complete([{"role": "user", "content": "Hi"}], max_tokens=1, temperature=0.0, seed=0)
    # Sentence vectors for evidence selection: filled in the background, served from disk on later starts.
    threading.Thread(target=qa.warm_sentence_vectors, name="warm-sentence-vectors", daemon=True).start()


def build_parser(server: Any) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paperqa serve", description="Start the PaperQA web UI.")
    p.add_argument("--host", default=server.host, help="address to bind (default %(default)s: this machine only)")
    p.add_argument("--port", type=int, default=server.port, help="port (default %(default)s)")
    p.add_argument("--auth", default=server.auth, help="user:password required to use the UI")
    p.add_argument("--no-ingest", action="store_true", help="don't ingest the bundled corpus into an empty store")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Open the page at once, then prepare the library behind it (ingest an empty store, load the models)."""
    settings = Settings()
    args = build_parser(settings.server).parse_args(argv)
    try:
        auth = parse_auth(args.auth)
    except ValueError as exc:
        print(f"paperqa serve: {exc}", file=sys.stderr)
        return 2
    warning = exposure_warning(args.host, args.auth)
    if warning:
        print(warning, file=sys.stderr)
    try:
        qa = PaperQA(settings=settings)
        startup = Startup()
        demo = build_app(qa, settings, startup)
    except PaperQAError as exc:
        print(f"paperqa serve: {exc}", file=sys.stderr)
        return 2
    launch_app(demo, settings, args.host, args.port, auth, prevent_thread_lock=True)
    print("The page is up; preparing the library behind it (the page shows progress)…", flush=True)

    def log(*parts: object, file: Any = sys.stdout) -> None:
        print(*parts, file=file, flush=True)

    startup.start(qa, [] if args.no_ingest else [BUNDLED_CORPUS], log)
    startup.ready.wait()
    if startup.phase == "ready":
        print(f"Ready in {startup.seconds.get('total', 0.0):.1f} s: ask away.", flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
