"""The paperqa web UI: chat with the papers, check every citation, manage the library.

`python app.py` or `paperqa serve` starts it on http://127.0.0.1:7860. Everything runs locally: the page loads no
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperqa.settings import LLMSettings, Settings  # before gradio: sets the offline environment

import gradio as gr
import pandas as pd

from ingest.parse import SUPPORTED_SUFFIXES, parse_bytes
from ingest.pipeline import run_ingest
from paperqa.answer import Answer, ChatSession, Token
from paperqa.api import PaperQA
from paperqa.errors import BackendError, PaperQAError, QuestionError, SourceError
from paperqa.llm import LLM, OLLAMA_DEFAULT_URL, make_llm
from paperqa.models import installed_profiles
from paperqa.ui_helpers import (
    Turn,
    drafting_html,
    export_markdown,
    exposure_warning,
    filter_rows,
    message_html,
    parse_auth,
    sources_html,
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

THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    # Named system fonts: a GoogleFont here would make every page load fetch from the internet.
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#pq-header h1 { margin-bottom: 0; }
#pq-header p { margin-top: 2px; color: var(--body-text-color-subdued); }
#pq-sources { max-height: 640px; overflow-y: auto; padding-right: 4px; }
#pq-sources .pq-empty { color: var(--body-text-color-subdued); padding: 24px 8px; line-height: 1.5; }
#pq-sources details.pq-turn { border-bottom: 1px solid var(--border-color-primary); padding: 4px 0 8px; }
#pq-sources summary { cursor: pointer; font-weight: 600; padding: 4px 0; }
#pq-sources .pq-h { text-transform: uppercase; font-size: 0.72em; letter-spacing: 0.06em;
  color: var(--body-text-color-subdued); margin: 10px 0 2px; }
#pq-sources .pq-source { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
  margin: 6px 0; background: var(--background-fill-secondary); scroll-margin: 12px; }
#pq-sources .pq-source.pq-flash { box-shadow: 0 0 0 3px var(--color-accent); transition: box-shadow 0.3s; }
#pq-sources .pq-title { font-weight: 600; }
#pq-sources .pq-n { color: var(--color-accent); }
#pq-sources .pq-id { font-size: 0.78em; color: var(--body-text-color-subdued); font-family: var(--font-mono); }
#pq-sources .pq-abstract { font-size: 0.9em; line-height: 1.5; margin-top: 6px; }
#pq-sources mark.pq-quote { background: #fde68a; color: #1f2937; padding: 1px 2px; border-radius: 3px; }
#pq-sources ol.pq-others { margin: 4px 0 0 18px; padding: 0; font-size: 0.9em; }
#pq-sources ol.pq-others li { margin: 3px 0; }
.pq-meta { font-size: 0.78em; color: var(--body-text-color-subdued); }
.pq-draft { color: var(--body-text-color-subdued); font-style: italic; }
a.pq-ref { text-decoration: none; font-weight: 600; color: var(--color-accent) !important; cursor: pointer; }
a.pq-ref:hover { text-decoration: underline; }
#pq-notice .pq-warn { color: var(--error-text-color, #b91c1c); padding: 4px 2px; }
#pq-table table, #pq-table td, #pq-table th, #pq-table span { font-family: var(--font) !important; }
#pq-stats { color: var(--body-text-color-subdued); font-size: 0.9em; }
footer { display: none !important; }
"""

# Document-level click handler: a [n] link in an answer opens that turn's sources, scrolls the cited quote into
# view and flashes it. Runs in the capture phase so Gradio's own link handling (new tab) never sees the click.
HEAD = """
<script>
document.addEventListener("click", function (ev) {
  var a = ev.target && ev.target.closest ? ev.target.closest('a[href^="#cite-"]') : null;
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


# --- per-session chat state --------------------------------------------------------------------


@dataclass
class ChatState:
    """One browser session's conversation; lives in gr.State so sessions never share it."""

    chat: ChatSession
    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    next_turn: int = 1


def _notice(text: str) -> str:
    return f'<div class="pq-warn">⚠️ {html.escape(text, quote=False)}</div>' if text else ""


def _esc(text: str) -> str:
    """Escape for Markdown/HTML messages (quotes stay readable)."""
    return html.escape(text, quote=False)


def _safe_name(name: str) -> str:
    base = Path(name).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(base).stem).strip("._") or "upload"
    return stem[:80] + Path(base).suffix.lower()


class PaperQAUI:
    """The handlers behind the page; holds the shared PaperQA and the backend choices."""

    def __init__(self, qa: PaperQA, settings: Settings) -> None:
        self.qa = qa
        self.settings = settings
        self.choices = backend_choices(settings.llm)
        self.default_label = describe_backend(settings.llm)
        self._llms: dict[str, LLM] = {}
        self._llm_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one ingest/remove at a time
        self.uploads = Path(settings.store.home) / "uploads"

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

    # -- chat -----------------------------------------------------------------------------------
    def new_state(self) -> ChatState:
        return ChatState(chat=self.qa.chat())

    def respond(self, question: str, state: ChatState | None, k: float, backend: str, temperature: float
                ) -> Iterator[tuple[Any, ...]]:
        """Stream one chat turn: the draft as the model writes it, then the checked answer and its sources."""
        state = state if isinstance(state, ChatState) else self.new_state()
        try:
            q = self.qa.engine.check_question(question)
        except QuestionError as exc:
            yield list(state.messages), gr.skip(), gr.skip(), _notice(str(exc)), state, gr.skip()
            return
        turn = state.next_turn
        state.next_turn += 1
        messages = [*state.messages, {"role": "user", "content": _esc(q)},
                    {"role": "assistant", "content": drafting_html("")}]
        yield [dict(m) for m in messages], gr.skip(), gr.skip(), "", state, ""
        kk = int(k) if k and int(k) != self.settings.retrieval.top_k else None  # None keeps list questions' list_k
        draft = ""
        answer: Answer | None = None
        try:
            llm = self.llm_for(backend)
            for event in state.chat.stream(q, k=kk, llm=llm, temperature=float(temperature)):
                if isinstance(event, Token):
                    draft += event.text
                    messages[-1] = {"role": "assistant", "content": drafting_html(draft)}
                    yield [dict(m) for m in messages], gr.skip(), gr.skip(), "", state, gr.skip()
                elif isinstance(event, Answer):
                    answer = event
        except PaperQAError as exc:
            messages[-1] = {"role": "assistant", "content": _notice(str(exc))}
            state.messages = messages
            yield [dict(m) for m in messages], gr.skip(), gr.skip(), _notice(str(exc)), state, gr.skip()
            return
        assert answer is not None
        messages[-1] = {"role": "assistant", "content": message_html(answer, turn)}
        state.messages = messages
        state.turns.append(Turn(turn, answer))
        yield ([dict(m) for m in messages], sources_html(state.turns), export_markdown(answer), "", state,
               gr.skip())

    def clear(self) -> tuple[Any, ...]:
        return [], sources_html([]), "", "", self.new_state(), ""

    def api_ask(self, question: str) -> dict[str, Any]:
        """Answer one question about the papers; returns Answer.to_dict() (answer, citations, sources, timings)."""
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

    def remove(self, paper_id: str, query: str) -> tuple[Any, ...]:
        pid = (paper_id or "").strip()
        if not pid:
            return "Pick a paper in the table (or paste its id) first.", gr.skip(), gr.skip(), gr.skip()
        known = {p.paper_id: p.title for p in self.qa.papers()}
        if pid not in known:
            return f"No paper with id `{_esc(pid)}` in the library.", gr.skip(), gr.skip(), gr.skip()
        with self._write_lock:
            self.qa.remove([pid])
        return (f"Removed **{_esc(known[pid])}** (`{_esc(pid)}`).", self.table(query), "",
                self.stats_text())

    @staticmethod
    def select_row(evt: gr.SelectData) -> str:
        row = evt.row_value or []
        return str(row[1]) if len(row) > 1 else gr.skip()


# --- the page ----------------------------------------------------------------------------------


def build_app(qa: PaperQA, settings: Settings) -> gr.Blocks:
    """The whole UI around one shared PaperQA. Launch with `launch_app` (it adds theme, CSS and limits)."""
    ui = PaperQAUI(qa, settings)
    with gr.Blocks(title="PaperQA", fill_width=False) as demo:
        state = gr.State(None)
        gr.Markdown("# PaperQA\nAsk questions about the papers. Every claim links to the abstract sentence that "
                    "supports it.", elem_id="pq-header")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3, min_width=380):
                        chatbot = gr.Chatbot(
                            label="Chat", show_label=False, height=560, elem_id="pq-chat", buttons=[],
                            feedback_options=None,
                            layout="bubble", group_consecutive_messages=False,
                            placeholder="Ask about the papers: methods, numbers, datasets. Answers cite the "
                                        "sentence they rest on.")
                        with gr.Row(equal_height=True):
                            question = gr.Textbox(show_label=False, placeholder="Ask a question about the papers…",
                                                  scale=6, lines=1, max_lines=4, elem_id="pq-question",
                                                  autofocus=True)
                            ask = gr.Button("Ask", variant="primary", scale=1, min_width=90, elem_id="pq-ask")
                            new_chat = gr.Button("New chat", scale=1, min_width=120, elem_id="pq-new")
                        notice = gr.HTML("", elem_id="pq-notice", js_on_load=None)
                        gr.Examples(EXAMPLES, inputs=question, label="Try")
                    with gr.Column(scale=2, min_width=320):
                        gr.Markdown("### Sources")
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
                with gr.Accordion("Copy as Markdown", open=False, elem_id="pq-export"):
                    export = gr.Code("", language="markdown", label="Latest answer with references",
                                     buttons=["copy", "download"], lines=4, wrap_lines=True, interactive=False,
                                     show_line_numbers=False, elem_id="pq-markdown")

            with gr.Tab("Library", id="library"):
                stats = gr.Markdown(ui.stats_text, elem_id="pq-stats")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        search = gr.Textbox(show_label=False, placeholder="Search titles and ids…",
                                            elem_id="pq-search")
                        table = gr.Dataframe(ui.table, headers=TABLE_HEADERS, datatype=["str", "str", "number"],
                                             interactive=False, wrap=True, max_height=520,
                                             column_widths=["64%", "26%", "10%"], elem_id="pq-table")
                    with gr.Column(scale=2):
                        upload = gr.File(label=f"Add papers ({', '.join(SUPPORTED_SUFFIXES)}; up to "
                                         f"{settings.server.max_upload_mb:g} MB)", file_count="single",
                                         elem_id="pq-upload", height=140)
                        upload_report = gr.Markdown(elem_id="pq-upload-report")
                        with gr.Group():
                            remove_id = gr.Textbox(label="Remove a paper", placeholder="paper id (click a row)",
                                                   elem_id="pq-remove-id")
                            remove = gr.Button("Remove", variant="stop", size="sm", elem_id="pq-remove")
                        remove_report = gr.Markdown(elem_id="pq-remove-report")

        chat_io = dict(fn=ui.respond, inputs=[question, state, k, backend, temperature],
                       outputs=[chatbot, sources, export, notice, state, question],
                       concurrency_limit=ANSWER_CONCURRENCY, concurrency_id="answer", show_progress="minimal")
        question.submit(**chat_io, api_name="chat")
        ask.click(**chat_io, api_visibility="private")
        cleared = [chatbot, sources, export, notice, state, question]
        new_chat.click(ui.clear, None, cleared, api_visibility="private")
        chatbot.clear(ui.clear, None, cleared, api_visibility="private")
        gr.api(ui.api_ask, api_name="ask", concurrency_limit=ANSWER_CONCURRENCY, concurrency_id="answer")

        search.change(ui.table, search, table, api_name="papers", show_progress="hidden")
        upload.upload(ui.upload, [upload, search], [upload_report, table, upload, stats], api_name="upload",
                      concurrency_limit=1, concurrency_id="write")
        table.select(ui.select_row, None, remove_id, api_visibility="private")
        remove.click(ui.remove, [remove_id, search], [remove_report, table, remove_id, stats], api_name="remove",
                     concurrency_limit=1, concurrency_id="write")
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
        if not args.no_ingest and qa.store.count_papers() == 0:
            print(f"The store is empty: ingesting the bundled corpus ({BUNDLED_CORPUS.name})…", flush=True)
            print(qa.ingest([BUNDLED_CORPUS], progress=True).summary(), flush=True)
        print("Loading models…", flush=True)
        try:
            warm_up(qa)
        except BackendError as exc:  # a server backend may come up later; say so and serve anyway
            print(f"paperqa serve: warning: {exc}", file=sys.stderr)
        demo = build_app(qa, settings)
    except PaperQAError as exc:
        print(f"paperqa serve: {exc}", file=sys.stderr)
        return 2
    launch_app(demo, settings, args.host, args.port, auth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
