"""Tests for app.py (the Gradio UI) and paperqa/ui_helpers.py.

The server tests run the real app (real Chroma, embedder and GGUF model) in this process on a free port and talk to
it with gradio_client, exactly as a script would. One ingested corpus and one server are shared by the whole test
session (tests/test_browser.py reuses them through `shared_server`); the store is a copy of conftest's `corpus`.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GOOD_FILES, GOOD_PAPERS, default_settings, make_qa, stop_process

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # app.py lives at the repo root
    sys.path.insert(0, str(REPO))

from paperqa.settings import LLMSettings, ServerSettings, Settings, StoreSettings  # noqa: E402,I001 - sets the offline env first

import app  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from paperqa.answer import Answer, Citation, Source  # noqa: E402
from paperqa.api import PaperQA  # noqa: E402
from paperqa.embed import Embedder  # noqa: E402
from paperqa.llm import LLM, FakeLLM, make_llm  # noqa: E402
from paperqa.models import installed_profiles  # noqa: E402
from paperqa.sentences import sentence_spans  # noqa: E402
from paperqa.ui_helpers import (  # noqa: E402
    Turn,
    answer_html,
    bibtex_keys,
    download_links_html,
    export_bibtex,
    export_chat_markdown,
    exposure_warning,
    filter_rows,
    highlight_abstract,
    is_loopback,
    message_html,
    parse_auth,
    progress_html,
    sources_html,
    startup_html,
    verified_html,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ui"
RAR_Q = "What FID does RAR reach on ImageNet-256?"
REFUSED_Q = "How many parameters does GPT-5 have?"  # the corpus has no GPT-5: refused, with closest papers
MINIMAX_Q = "How many languages does MiniMax-Speech support?"


# --- shared server -----------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    qa: PaperQA
    settings: Settings
    home: Path
    demo: Any


_SHARED: dict[str, Server] = {}
_SHARED_LOCK = threading.Lock()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ui_home(tmp_path_factory: pytest.TempPathFactory, corpus: Any) -> Path:
    """A private copy of the session's ingested corpus (conftest's `corpus` must not change; the UI tests upload
    and remove papers). Copying the store takes a second; ingesting again would take ~16 s."""
    home = tmp_path_factory.mktemp("ui-home")
    shutil.copytree(corpus.home, home, dirs_exist_ok=True)
    return home


def shared_server(tmp_path_factory: pytest.TempPathFactory, corpus: Any, embedder: Embedder, real_llm: LLM
                  ) -> Server:
    """The app, warmed up and listening on 127.0.0.1, started once per session for all UI test modules.

    It shares the session's loaded embedder and LLM (conftest) so the test run holds one copy of each."""
    with _SHARED_LOCK:
        if "server" not in _SHARED:
            home = ui_home(tmp_path_factory, corpus)
            with pytest.MonkeyPatch.context() as mp:  # defaults, whatever PAPERQA_* the developer has set
                for key in [k for k in os.environ if k.startswith("PAPERQA_")]:
                    mp.delenv(key)
                settings = Settings(store=StoreSettings(home=home))
            qa = PaperQA(settings=settings, llm=real_llm)
            qa.embedder = embedder
            qa.retriever.embedder = embedder
            assert qa.store.count_papers() == 274
            app.warm_up(qa)
            demo = app.build_app(qa, settings)
            port = free_port()
            app.launch_app(demo, settings, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
            _SHARED["server"] = Server(f"http://127.0.0.1:{port}/", qa, settings, home, demo)
        return _SHARED["server"]


def join_sentence_warmers(timeout: float = 600) -> None:
    """Wait for app.warm_up's background sentence embedding: a daemon thread still inside ONNX Runtime when the
    interpreter exits aborts the whole test process (exit 134) after every test has passed."""
    for thread in threading.enumerate():
        if thread.name == "warm-sentence-vectors":
            thread.join(timeout)


def stop_shared_server() -> None:
    with _SHARED_LOCK:
        server = _SHARED.pop("server", None)
    if server is not None:
        server.demo.close()
    join_sentence_warmers()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, corpus: Any, embedder: Embedder, real_llm: LLM) -> Any:
    yield shared_server(tmp_path_factory, corpus, embedder, real_llm)
    stop_shared_server()


def abstracts(qa: PaperQA) -> dict[str, str]:
    return {p.paper_id: p.abstract for p in qa.papers()}


def assert_quotes_are_abstract_sentences(result: dict[str, Any], qa: PaperQA) -> None:
    stored = abstracts(qa)
    for c in result["citations"]:
        abstract = stored[c["paper_id"]]
        assert abstract[c["start"]:c["end"]] == c["quote"]
        assert (c["start"], c["end"]) in sentence_spans(abstract), c


# --- the /ask endpoint -------------------------------------------------------------------------


def test_ask_endpoint_cites_a_sentence_of_the_cited_abstract(server: Server) -> None:
    result = Client(server.url, verbose=False).predict(RAR_Q, api_name="/ask")
    assert result["question"] == RAR_Q
    assert not result["refused"]
    assert result["citations"], result
    assert "1.48" in result["answer"]
    assert any("Randomized Autoregressive" in c["title"] for c in result["citations"])
    assert {c["paper_id"] for c in result["citations"]} <= {s["paper_id"] for s in result["sources"]}
    assert_quotes_are_abstract_sentences(result, server.qa)
    assert result["timings_ms"]["total"] > 0


def test_concurrent_clients_each_get_their_own_answer(server: Server) -> None:
    questions = {"rar": RAR_Q, "minimax": MINIMAX_Q}
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def ask(key: str) -> None:
        try:
            results[key] = Client(server.url, verbose=False).predict(questions[key], api_name="/ask")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(key,)) for key in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=540)
    assert not errors, errors
    assert set(results) == set(questions)
    for key, question in questions.items():
        r = results[key]
        assert r["question"] == question
        assert r["citations"], r
        assert {c["paper_id"] for c in r["citations"]} <= {s["paper_id"] for s in r["sources"]}
        assert_quotes_are_abstract_sentences(r, server.qa)
    assert any("Randomized Autoregressive" in c["title"] for c in results["rar"]["citations"])
    assert any("MiniMax" in c["title"] for c in results["minimax"]["citations"])


@pytest.mark.parametrize(("question", "expected"), [("   ", "empty"), ("why " * 400, "limit is 1000")])
def test_unusable_question_gets_a_clear_error(server: Server, question: str, expected: str) -> None:
    with pytest.raises(AppError, match=expected):
        Client(server.url, verbose=False).predict(question, api_name="/ask")


# --- the chat (per-session state) --------------------------------------------------------------


def _text(message: dict[str, Any]) -> str:
    """A chat message's text as gradio_client returns it (a list of typed parts)."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_chat_sessions_are_separate_and_follow_ups_use_their_own_history(server: Server) -> None:
    backend = app.describe_backend(server.settings.llm)
    scripts = {
        "a": (["How many languages does MiniMax-Speech support?", "Which languages does it cover?"], 5, "MiniMax"),
        "b": (["How much faster is FastSpeech at mel-spectrogram generation than an autoregressive Transformer "
               "TTS?", "What does it generate?"], 3, "FastSpeech"),
    }
    outputs: dict[str, tuple[Any, ...]] = {}
    errors: list[BaseException] = []

    def run(key: str) -> None:
        try:
            client = Client(server.url, verbose=False)  # one client = one browser session
            questions, k, _ = scripts[key]
            for q in questions:
                outputs[key] = client.predict(q, k, backend, 0.0, api_name="/chat")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(key,)) for key in scripts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=560)
    assert not errors, errors
    for key, (questions, k, subject) in scripts.items():
        chatbot, sources, markdown, _bibtex, _links, notice, _question_box = outputs[key]
        user_turns = [_text(m) for m in chatbot if m["role"] == "user"]
        assert user_turns == questions  # nothing from the other session
        follow_up = _text(chatbot[-1])
        # the follow-up was searched with this session's subject, and the page says so
        assert re.search(rf"searched for: “[^”]*{subject}", follow_up), follow_up
        assert notice == ""
        # the export holds this session's whole chat, in order, and nothing of the other session
        assert markdown.startswith("# PaperQA chat")
        assert markdown.index(f"## 1. {questions[0]}") < markdown.index(f"## 2. {questions[1]}")
        other = scripts["b" if key == "a" else "a"][0][0]
        assert other not in markdown
        newest = sources.split("</details>")[0]
        ranks = {int(r) for r in re.findall(r"rank (\d+)", newest)}
        assert ranks == set(range(1, k + 1))  # the k setting applied to this session's question
        assert 'id="cite-2-1"' in sources or "Closest papers" in newest


def test_empty_chat_question_shows_the_reason_and_keeps_history(server: Server) -> None:
    client = Client(server.url, verbose=False)
    chatbot, _sources, _md, _bib, _links, notice, _q = client.predict(
        "  ", 5, app.describe_backend(server.settings.llm), 0.0, api_name="/chat")
    assert chatbot == []
    assert "The question is empty" in notice


# A draft the real model could write: MaskBit's FID put on RAR. Verification must drop it; the page must never show
# it, not even while the answer is being worked out (issue 16, point 1).
WRONG_DRAFT = "RAR achieves a new state-of-the-art FID of 1.52 on ImageNet-256 [1]."


def _bubble_texts(yields: list[tuple[Any, ...]]) -> list[str]:
    return [str(y[0][-1]["content"]) for y in yields if y[0] and y[0][-1]["role"] == "assistant"]


@pytest.fixture(scope="module")
def fake_qa(tmp_path_factory: pytest.TempPathFactory, corpus: Any, embedder: Embedder) -> PaperQA:
    """The bundled corpus (a private copy) with FakeLLM, whose every draft is WRONG_DRAFT."""
    home = ui_home(tmp_path_factory, corpus)
    return make_qa(default_settings(home), embedder, llm=FakeLLM(responder=lambda _messages: WRONG_DRAFT))


def test_chat_shows_progress_then_verified_text_never_the_draft(fake_qa: PaperQA) -> None:
    """FakeLLM: the model's text matters here. Every state of the bubble is a progress line or checked text."""
    ui = app.PaperQAUI(fake_qa, fake_qa.settings)
    yields = list(ui.respond(RAR_Q, None, 5, ui.default_label, 0.0))
    bubbles = _bubble_texts(yields)
    assert all("1.52" not in b for b in bubbles), bubbles
    progress = [b for b in bubbles if 'class="pq-progress"' in b]
    assert any("Searching the papers" in b for b in progress)
    assert any(re.search(r"Reading \d+ papers", b) and "pq-step-now\">Read" in b for b in progress), progress
    assert any("Checking the short answer" in b and "pq-step-now\">Check" in b for b in progress), progress
    final = yields[-1]
    answer = fake_qa.engine.ask(RAR_Q)  # the same engine, for the expected final text
    assert answer.draft == WRONG_DRAFT and answer.unsupported  # the draft was there, and was dropped
    assert "1.48" in answer.answer and "1.48" in bubbles[-1] and 'href="#cite-1-1"' in bubbles[-1]
    verified = [b for b in bubbles if 'class="pq-verified"' in b]
    assert verified and all("1.48" in b for b in verified)
    chatbot, sources, markdown, bibtex, links, notice, state, _q = final
    assert notice == "" and 'id="cite-1-1"' in sources
    assert markdown.startswith("# PaperQA chat") and f"## 1. {RAR_Q}" in markdown and "1.52" not in markdown
    assert "Randomized Autoregressive Visual Generation" in bibtex  # named: no metadata to make an entry
    assert "paperqa-chat.md" in links
    assert len(state.turns) == 1


def test_refusal_shows_the_closest_papers_best_sentences(fake_qa: PaperQA) -> None:
    """A refusal (the real engine; this question is refused before any model text) links each closest paper to
    its abstract with the best sentence marked, and the export lists them as not cited."""
    ui = app.PaperQAUI(fake_qa, fake_qa.settings)
    *_, final = ui.respond(REFUSED_Q, None, 5, ui.default_label, 0.0)
    chatbot, sources, markdown, *_rest = final
    state = final[6]
    answer = state.turns[-1].answer
    assert answer.refused and not answer.citations and len(answer.closest) >= 2
    bubble = str(chatbot[-1]["content"])
    stored = abstracts(fake_qa)
    for c in answer.closest:
        assert f'href="#closest-1-{c.n}"' in bubble
        block = sources.split(f'id="closest-1-{c.n}"', 1)[1].split('<div class="pq-source', 1)[0]
        assert (c.start, c.end) in sentence_spans(stored[c.paper_id])
        assert f'<mark class="pq-quote">{html_escape(stored[c.paper_id][c.start:c.end])}</mark>' in block
        assert f'- {c.title} ({c.paper_id}): "{c.quote}"' in markdown
    assert "Closest papers (not cited" in markdown


def test_nothing_is_asked_uploaded_or_removed_while_the_library_is_prepared(fake_qa: PaperQA, tmp_path: Path
                                                                            ) -> None:
    """The page keeps these controls closed; a script's request waits (here 0.2 s), then is told why not."""
    startup = app.Startup()
    startup._set("ingesting", 64, 274)
    ui = app.PaperQAUI(fake_qa, fake_qa.settings, startup)
    ui.ready_timeout_s = 0.2
    (*_, notice, _state, _q), = list(ui.respond(RAR_Q, None, 5, ui.default_label, 0.0))
    assert "still being prepared (embedding papers: 64 of 274)" in notice
    upload = tmp_path / "new_paper.jsonl"
    upload.write_bytes((FIXTURES / "new_paper.jsonl").read_bytes())
    before = fake_qa.store.count_papers()
    report, *_ = ui.upload(str(upload), "")
    assert "Rejected new_paper.jsonl" in report and "Nothing was stored" in report
    report, *_ = ui.remove(fake_qa.papers()[0].paper_id, "")
    assert "still being prepared" in report
    assert fake_qa.store.count_papers() == before
    status, question, ask, *_rest, timer = ui.poll("")
    assert "Preparing the library" in status and 'value="64"' in status and 'max="274"' in status
    assert question["interactive"] is False and ask["interactive"] is False and timer.active


def test_a_script_request_during_start_up_waits_for_it(fake_qa: PaperQA) -> None:
    startup = app.Startup()
    ui = app.PaperQAUI(fake_qa, fake_qa.settings, startup)
    threading.Timer(0.5, startup.ready.set).start()
    t0 = time.monotonic()
    report, *_ = ui.remove("t:doesnotexist", "")
    assert "No paper with id" in report  # it went ahead once ready, instead of refusing
    assert time.monotonic() - t0 >= 0.4


def test_startup_ingests_an_empty_store_then_opens_asking(qa_factory: Any) -> None:
    """The page's view of a real start-up on an empty store: progress while ingesting, then asking opens."""
    qa = qa_factory(llm=FakeLLM(responder=lambda _m: "ok"))
    startup = app.Startup()
    ui = app.PaperQAUI(qa, qa.settings, startup)
    seen: list[tuple[str, int, int]] = []
    original = startup._set

    def record(phase: str, done: int = 0, total: int = 0, detail: str = "") -> None:
        seen.append((phase, done, total))
        seen.append(("poll", *(1 if "Preparing the library" in ui.poll("")[0] else 0,) * 2))
        original(phase, done, total, detail)

    startup._set = record  # type: ignore[method-assign]
    lines: list[str] = []
    startup.run(qa, GOOD_FILES, log=lambda *parts, file=None: lines.append(" ".join(map(str, parts))))
    join_sentence_warmers()
    phases = [s for s in seen if s[0] != "poll"]
    assert phases[0] == ("ingesting", 0, 0)
    assert ("ingesting", 0, GOOD_PAPERS) in phases and ("ingesting", GOOD_PAPERS, GOOD_PAPERS) in phases
    assert [p for p, *_ in phases][-2:] == ["loading", "ready"]
    assert all(s == ("poll", 1, 1) for s in seen if s[0] == "poll")  # "preparing" on the page until ready
    assert startup.ready.is_set() and qa.store.count_papers() == GOOD_PAPERS
    assert any(f"{GOOD_PAPERS} papers in the store" in line for line in lines)
    status, question, ask, upload, remove, stats, table, timer = ui.poll("")
    assert status == "" and question["interactive"] and ask["interactive"] and upload["interactive"]
    assert not timer.active and f"{GOOD_PAPERS} papers" in stats and len(table) == GOOD_PAPERS


def test_startup_serves_anyway_when_the_model_server_is_down(qa_factory: Any) -> None:
    """An openai-compatible backend nobody listens on: the page says so, and the library is still usable."""
    llm = make_llm(LLMSettings(backend="openai", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m"))
    qa = qa_factory(llm=llm)
    startup = app.Startup()
    startup.run(qa, [], log=lambda *parts, file=None: None)
    assert startup.phase == "ready" and startup.ready.is_set()
    assert "The model is not reachable yet" in startup_html(*startup.view())


def test_remove_asks_first_and_cancel_keeps_the_paper(server: Server) -> None:
    ui = app.PaperQAUI(server.qa, server.settings)
    paper = server.qa.papers()[0]
    box, text, report = ui.ask_remove(paper.paper_id)
    assert box["visible"] is True and paper.title in text and report == ""
    box, report = ui.cancel_remove(paper.paper_id)
    assert box["visible"] is False and "nothing was removed" in report
    assert paper.paper_id in {p.paper_id for p in server.qa.papers()}
    box, _text, report = ui.ask_remove("t:doesnotexist")
    assert box["visible"] is False and "No paper with id" in report


# --- library: upload and remove ----------------------------------------------------------------


def test_rejected_upload_names_file_and_line_and_stores_nothing(server: Server, tmp_path: Path) -> None:
    client = Client(server.url, verbose=False)
    before = server.qa.store.count_papers()
    report, _table, _file, _stats = client.predict(handle_file(str(FIXTURES / "bad_line2.jsonl")), "",
                                                   api_name="/upload")
    assert "bad_line2.jsonl, line 2" in report
    assert "Nothing was stored" in report
    assert server.qa.store.count_papers() == before
    assert not any("Zebra Finches" in p.title for p in server.qa.papers())
    uploads = server.home / "uploads"
    assert not uploads.exists() or not any(f.name.startswith("bad_line2") for f in uploads.iterdir())

    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4 not supported")
    # Gradio's own type check is off (it would leave its temp copy behind): our handler refuses and cleans up.
    report, *_ = client.predict(handle_file(str(pdf)), "", api_name="/upload")
    assert "unsupported file type '.pdf'" in report and "Nothing was stored" in report
    assert server.qa.store.count_papers() == before


def test_picker_filters_types_and_the_handler_judges_them(server: Server) -> None:
    """The upload component offers only our formats in the file picker, yet leaves refusing to the handler (above);
    and building it wrote no Gradio .pyi stub into the repository."""
    upload = next(b for b in server.demo.blocks.values() if getattr(b, "elem_id", None) == "pq-upload")
    assert upload.file_types == list(app.SUPPORTED_SUFFIXES)
    assert not (REPO / "app.pyi").exists()


def test_upload_handler_checks_type_and_size_itself(server: Server, tmp_path: Path) -> None:
    """The handler re-checks what the browser-side filters already should (a script can skip them)."""
    tiny = server.settings.model_copy(update={"server": ServerSettings(max_upload_mb=0.0001)})  # ~100 bytes
    ui = app.PaperQAUI(server.qa, tiny)
    before = server.qa.store.count_papers()
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    report, *_ = ui.upload(str(pdf), "")
    assert "paper.pdf" in report and "unsupported file type '.pdf'" in report and "Nothing was stored" in report
    big = tmp_path / "new_paper.jsonl"
    big.write_bytes((FIXTURES / "new_paper.jsonl").read_bytes())
    report, *_ = ui.upload(str(big), "")
    assert "the limit is 0.0001 MB" in report and "Nothing was stored" in report
    assert server.qa.store.count_papers() == before
    assert not (server.home / "uploads" / "paper.pdf").exists()


def test_upload_then_search_then_remove(server: Server) -> None:
    client = Client(server.url, verbose=False)
    title = "Quokka: Photosynthetic Attention for Greenhouse Yield Forecasting"
    report, table, _file, stats = client.predict(handle_file(str(FIXTURES / "new_paper.jsonl")), "quokka",
                                                 api_name="/upload")
    assert "1 added" in report or "1 unchanged" in report, report
    assert (server.home / "uploads" / "new_paper.jsonl").is_file()
    rows = table["data"]
    assert [r[0] for r in rows] == [title]
    paper_id = rows[0][1]
    found = client.predict("greenhouse quokka", api_name="/papers")
    assert [r[1] for r in found["data"]] == [paper_id]
    answer = client.predict("What error does Quokka reach on GreenBench-7?", api_name="/ask")
    assert any(c["paper_id"] == paper_id for c in answer["citations"]), answer

    message, table, remove_box, _stats = client.predict(paper_id, "quokka", api_name="/remove")
    assert "Removed" in message and remove_box == ""
    assert table["data"] == [] or all(r[1] != paper_id for r in table["data"])
    assert paper_id not in {p.paper_id for p in server.qa.papers()}
    message, *_ = client.predict("t:doesnotexist", "", api_name="/remove")
    assert "No paper with id" in message


def test_server_serves_no_files_from_disk(server: Server) -> None:
    """Only the app's own assets: not the code, not the store, not the uploads."""
    import httpx

    for path in (REPO / "app.py", server.home / "uploads" / "new_paper.jsonl", app.BUNDLED_CORPUS):
        r = httpx.get(f"{server.url}gradio_api/file={path}", timeout=30)
        assert r.status_code in (403, 404), (path, r.status_code)


# --- main(): start-up, auth, exposure warning --------------------------------------------------


def test_exposure_warning_only_for_open_hosts_without_auth() -> None:
    warning = exposure_warning("0.0.0.0", None)
    assert warning is not None and "--auth" in warning and "0.0.0.0" in warning
    assert exposure_warning("192.168.1.20", "") is not None
    assert exposure_warning("0.0.0.0", "alice:secret") is None
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert exposure_warning(host, None) is None, host
        assert is_loopback(host)


def test_parse_auth() -> None:
    assert parse_auth("alice:se:cret") == ("alice", "se:cret")
    assert parse_auth(None) is None
    for bad in ("alice", ":pw", "alice:"):
        with pytest.raises(ValueError, match="user:password"):
            parse_auth(bad)


def test_main_rejects_malformed_auth(capsys: pytest.CaptureFixture[str]) -> None:
    assert app.main(["--host", "0.0.0.0", "--auth", "nopassword"]) == 2
    assert "user:password" in capsys.readouterr().err


def test_main_serves_behind_auth(tmp_path: Path) -> None:
    """`python app.py` end to end: an empty store with --no-ingest still starts, and --auth guards the API."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERQA_")}
    env.update(PAPERQA_HOME=str(tmp_path / "home"), PAPERQA_N_THREADS="1", PAPERQA_EMBED_THREADS="1",
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--no-ingest", "--port", str(port), "--auth",
                             "alice:secret"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 300
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Running on" in line:
                break
        assert any(f"http://127.0.0.1:{port}" in line for line in lines), "".join(lines)
        assert "WARNING" not in "".join(lines)  # loopback: no exposure warning
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do: the point is no access without login
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict(RAR_Q, api_name="/ask")
        result = Client(f"http://127.0.0.1:{port}/", auth=("alice", "secret"), verbose=False).predict(
            RAR_Q, api_name="/ask")
        assert result["refused"] and "no papers in the store" in result["answer"]
    finally:
        stop_process(proc, timeout=30)


# --- settings: backends ------------------------------------------------------------------------


def test_backend_choices_offer_the_installed_profiles_and_the_configured_server() -> None:
    profiles = installed_profiles()
    assert {"fast", "default"} <= set(profiles)  # installed with the project; "quality" only with its extra
    only = app.backend_choices(LLMSettings(backend="llamacpp", model="", base_url=""))
    assert [c.settings.backend for c in only] == ["llamacpp"] * len(profiles)
    assert only[0].settings.model_profile == "default" and "Qwen2.5-Coder-0.5B" in only[0].label
    assert sorted(c.settings.model_profile for c in only) == sorted(profiles)
    assert len({c.label for c in only}) == len(only)
    ollama = app.backend_choices(LLMSettings(backend="ollama", model="llama3.2:3b", base_url=""))
    assert [c.settings.backend for c in ollama] == ["llamacpp"] * len(profiles) + ["ollama"]
    assert "llama3.2:3b" in ollama[-1].label
    implied = app.backend_choices(LLMSettings(backend="llamacpp", model="qwen", base_url="http://127.0.0.1:8080/v1"))
    assert [c.settings.backend for c in implied] == ["llamacpp"] * len(profiles) + ["openai"]
    assert "http://127.0.0.1:8080/v1" in implied[-1].label


# --- pure helpers ------------------------------------------------------------------------------


def _answer(text: str, citations: list[Citation], sources: list[Source]) -> Answer:
    return Answer(question="q?", answer=text, refused=False, citations=citations, sources=sources,
                  timings_ms={"total": 1234.0, "first_token": 200.0}, model="fake")


def test_highlight_abstract_marks_exactly_the_quote_and_escapes_html() -> None:
    abstract = "We use <b>bold</b> ideas. Our model reaches 1.48 FID & more. The end."
    start = abstract.index("Our")
    end = abstract.index(" The end")
    c = Citation(1, "p1", "T", abstract[start:end], start, end)
    out = highlight_abstract(abstract, c)
    assert '<mark class="pq-quote">Our model reaches 1.48 FID &amp; more.</mark>' in out
    assert "<b>" not in out and "&lt;b&gt;bold&lt;/b&gt;" in out
    stale = Citation(1, "p1", "T", "Our model reaches 1.48 FID & more.", 0, 5)  # offsets out of date
    assert '<mark class="pq-quote">Our model reaches 1.48 FID &amp; more.</mark>' in highlight_abstract(abstract, stale)


def test_answer_html_links_known_citations_only_and_escapes() -> None:
    ans = _answer("It is <script>x</script> 1.48 [1]. See also [7].", [Citation(1, "p", "T", "q", 0, 1)], [])
    out = answer_html(ans, turn=3)
    assert '<a href="#cite-3-1" class="pq-ref" title="Show the quote">[1]</a>' in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert "#cite-3-7" not in out and r"\[7\]" in out


def test_sources_html_gives_each_citation_an_anchor_and_lists_other_papers() -> None:
    abstract = "First sentence. Second one says 42."
    ans = _answer("Says 42 [1].", [Citation(1, "p1", "Paper <One>", "Second one says 42.", 16, 35)],
                  [Source(1, "p1", "Paper <One>", 0.5, abstract), Source(2, "p2", "Paper Two", 0.25, "Other.")])
    html = sources_html([Turn(1, ans), Turn(2, ans)])
    assert html.index('id="cite-2-1"') < html.index('id="cite-1-1"')  # newest first
    assert html.count("<details") == 2 and html.count("open>") == 1
    assert "Paper &lt;One&gt;" in html and "Also retrieved" in html and "Paper Two" in html


def test_message_html_shows_rewritten_search_and_timing() -> None:
    ans = _answer("Says 42 [1].", [Citation(1, "p1", "T", "q", 0, 1)], [])
    assert "searched for" not in message_html(ans, 1)
    ans.standalone_question = "What does <RAR> use?"
    out = message_html(ans, 1)
    assert "searched for: “What does &lt;RAR&gt; use?”" in out
    assert "1.2 s (first words 0.2 s)" in out and "fake" in out


def test_filter_rows_matches_every_word_in_title_or_id() -> None:
    rows = [["Deep Residual Learning", "doi:10.1/x", 2], ["Attention Is All You Need", "arxiv:1706.03762", 1]]
    assert filter_rows(rows, "attention 1706") == [rows[1]]
    assert filter_rows(rows, "") == rows
    assert filter_rows(rows, "nothing") == []



def test_progress_html_names_the_step_and_escapes() -> None:
    out = progress_html("Reading <2> paper(s)…", "draft")
    assert "Reading &lt;2&gt; paper(s)…" in out
    assert '<span class="pq-step pq-step-done">Search</span>' in out
    assert '<span class="pq-step pq-step-now">Read</span>' in out
    assert '<span class="pq-step pq-step-todo">Check</span>' in out
    assert 'pq-step-now">Search' in progress_html("Searching…", "unknown-stage")
    assert verified_html("1 < 2 *really*") == '<span class="pq-verified">1 &lt; 2 \\*really\\*</span>'


def _refusal() -> Answer:
    abstract = "First sentence. The model has 7B parameters. Last one."
    start = abstract.index("The model")
    end = abstract.index(" Last")
    closest = [Citation(1, "p1", "Paper <One>: long subtitle", abstract[start:end], start, end)]
    return Answer(question="How big is GPT-5?", answer="The papers here don't answer that.", refused=True,
                  citations=[], sources=[Source(1, "p1", "Paper <One>: long subtitle", 0.5, abstract),
                                         Source(2, "p2", "Paper Two", 0.25, "Other.")],
                  timings_ms={"total": 900.0}, model="fake", mode="refused", closest=closest)


def test_refusal_sources_show_closest_abstracts_with_their_best_sentence() -> None:
    html = sources_html([Turn(4, _refusal())])
    block = html.split('id="closest-4-1"', 1)[1]
    assert '<mark class="pq-quote">The model has 7B parameters.</mark>' in block
    assert "Paper &lt;One&gt;" in block and "Not cited" in html
    assert html.index('id="closest-4-1"') < html.index("Also retrieved") < html.index("Paper Two")
    bubble = message_html(_refusal(), 4)
    assert '<a href="#closest-4-1" class="pq-ref pq-closest-ref" title="Paper &lt;One&gt;: long subtitle">' in bubble
    assert ">Paper &lt;One&gt;</a>" in bubble  # the short title (before the colon)


@dataclass
class _Meta:
    paper_id: str
    title: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    url: str | None = None
    doi: str | None = None


def test_export_holds_the_whole_chat_and_bibtex_where_metadata_allows() -> None:
    a1 = _answer("Says 42 [1]. And 7 [2].", [Citation(1, "doi:10.1/x", "Deep & Wide_Nets {v2}", "Says 42.", 0, 8),
                                            Citation(2, "t:abc", "No Metadata Paper", "And 7.", 0, 6)], [])
    a2 = _answer("Again [1].", [Citation(1, "arxiv:1706.03762", "Attention Is All You Need", "Again.", 0, 6)], [])
    a2.question, a2.standalone_question = "And it?", "And attention?"
    papers = {"doi:10.1/x": _Meta("doi:10.1/x", "Deep & Wide_Nets {v2}", ("Ana Müller", "Bo Li"), 2021, None,
                                  "10.1/x"),
              "t:abc": _Meta("t:abc", "No Metadata Paper"),
              "arxiv:1706.03762": _Meta("arxiv:1706.03762", "Attention Is All You Need", ("Ashish Vaswani",), 2017)}
    turns = [Turn(1, a1), Turn(2, _refusal()), Turn(3, a2)]
    md = export_chat_markdown(turns, papers)
    assert md.index("## 1. q?") < md.index("## 2. How big is GPT-5?") < md.index("## 3. And it?")
    assert "_Searched for: And attention?_" in md
    assert ('[1] Deep & Wide_Nets {v2} (doi:10.1/x; Ana Müller, Bo Li; 2021; https://doi.org/10.1/x; '
            'BibTeX `muller2021deep`): "Says 42."') in md
    assert '[2] No Metadata Paper (t:abc): "And 7."' in md
    assert '- Paper <One>: long subtitle (p1): "The model has 7B parameters."' in md
    bib = export_bibtex(turns, papers)
    assert "@misc{muller2021deep,\n  title = {{Deep \\& Wide\\_Nets v2}},\n  author = {Ana Müller and Bo Li}," in bib
    assert "  doi = {10.1/x}" in bib
    assert "@misc{vaswani2017attention," in bib and "eprint = {1706.03762}" in bib and "archivePrefix = {arXiv}" in bib
    assert "% No BibTeX for these cited papers" in bib and "%   No Metadata Paper" in bib
    assert bib.count("@misc{") == 2 and bib.count("{") == bib.count("}")
    same = [_Meta(f"doi:{i}", "Deep Nets", ("A Smith",), 2020, doi=f"10/{i}") for i in range(3)]
    assert list(bibtex_keys(same).values()) == ["smith2020deep", "smith2020deepa", "smith2020deepb"]
    assert export_chat_markdown([], papers) == "" and export_bibtex([], papers) == ""


def test_download_links_carry_the_export_in_the_page() -> None:
    assert "Ask a question first" in download_links_html("", "")
    links = download_links_html("# chat ü\n", "@misc{k,}\n")
    found = dict(re.findall(r'download="([^"]+)" href="data:[^;]+;charset=utf-8;base64,([^"]+)"', links))
    assert base64.b64decode(found["paperqa-chat.md"]).decode() == "# chat ü\n"
    assert base64.b64decode(found["paperqa-references.bib"]).decode() == "@misc{k,}\n"


def test_startup_html_says_what_is_happening() -> None:
    assert "embedding papers: 64 of 274" in startup_html("ingesting", 64, 274)
    assert 'max="274" value="64"' in startup_html("ingesting", 64, 274)
    assert "loading the models" in startup_html("loading") and "<progress" in startup_html("loading")
    assert startup_html("ready") == ""
    assert "role=\"alert\"" in startup_html("failed", detail="disk <full>") and "disk &lt;full&gt;" in startup_html(
        "failed", detail="disk <full>")
