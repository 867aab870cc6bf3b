"""Drives the real UI in headless Chromium, as a first-time user would (issue 16).

- start-up: on an empty store `python app.py` answers at once with a "preparing the library" bar, then opens asking;
- while an answer is worked out the page shows progress, never the model's unchecked draft (a slow FakeLLM writes
  a wrong number; it must never reach the screen);
- answers cite, [n] opens the highlighted sentence, a refusal shows the closest papers' best sentences;
- the whole chat exports as Markdown and BibTeX;
- the library lays out at 1400 px and at 400 px, and removing a paper asks first;
- every control has a name, text is readable (WCAG AA contrast), the keyboard reaches and shows focus.

Uses Debian's /usr/bin/chromium through Playwright (never `playwright install`, which downloads a browser). Every
page records its requests: nothing may load from anywhere but the app on 127.0.0.1. Screenshots at 1400x1000 and
400x850 go to test-output/browser/ so a person can look at the page after the run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_app import (
    FIXTURES,
    RAR_Q,
    REFUSED_Q,
    REPO,
    WRONG_DRAFT,
    Server,
    free_port,
    shared_server,
    stop_shared_server,
    ui_home,
)

import app
from ingest.parse import SUPPORTED_SUFFIXES
from paperqa.llm import FakeLLM
from paperqa.sentences import sentence_spans
from tests.conftest import default_settings, make_qa, stop_process

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-output" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SIZES = {"wide": (1400, 1000), "phone": (400, 850)}
QUOKKA = "Quokka: Photosynthetic Attention for Greenhouse Yield Forecasting"
PROGRESS_STEPS = "Search › Read › Check"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(bash scripts/install-test-deps.sh)"),
]

# Records every text the newest assistant bubble shows, as the DOM changes (so a state shown for a moment counts).
RECORD_BUBBLES = """() => {
  window.__pqStates = [];
  const chat = document.querySelector('#pq-chat');
  const note = () => {
    const bots = chat.querySelectorAll('[data-testid=bot]');
    const last = bots[bots.length - 1];
    if (!last) return;
    const text = last.innerText.trim();
    const states = window.__pqStates;
    if (text && states[states.length - 1] !== text) states.push(text);
  };
  new MutationObserver(note).observe(chat, {subtree: true, childList: true, characterData: true});
}"""

# WCAG contrast of each element's text against the first opaque background behind it.
CONTRAST = """(items) => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = ([r, g, b]) => 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  const background = el => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0.5) return c; }
    return [255, 255, 255, 1]; };
  return items.map(([selector, pseudo]) => {
    const el = document.querySelector(selector);
    if (!el) return [selector, null];
    const fg = parse(getComputedStyle(el, pseudo || null).color), bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return [selector + (pseudo || ''), Math.round((a + 0.05) / (b + 0.05) * 100) / 100];
  });
}"""


# The box of the words themselves (an element's box can be a whole drop zone).
TEXT_BOX = """([root, words]) => {
  const walker = document.createTreeWalker(document.querySelector(root), NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const i = n.data.indexOf(words);
    if (i < 0) continue;
    const range = document.createRange();
    range.setStart(n, i);
    range.setEnd(n, i + words.length);
    const b = range.getBoundingClientRect();
    return {x: b.x, y: b.y, width: b.width, height: b.height};
  }
  return null;
}"""


class SlowFakeLLM(FakeLLM):
    """A FakeLLM that writes like a real model, a word every 0.2 s: a draft put on screen would be seen."""

    def stream(self, messages: Any, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        for piece in super().stream(messages, **kwargs):
            time.sleep(0.2)
            yield piece


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, corpus: Any, embedder: Any, real_llm: Any) -> Iterator[Server]:
    yield shared_server(tmp_path_factory, corpus, embedder, real_llm)
    stop_shared_server()


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory, corpus: Any, embedder: Any) -> Iterator[Server]:
    """The app on a copy of the corpus whose model drafts WRONG_DRAFT (MaskBit's FID put on RAR), slowly."""
    home = ui_home(tmp_path_factory, corpus)
    settings = default_settings(home)
    qa = make_qa(settings, embedder, llm=SlowFakeLLM(responder=lambda _messages: WRONG_DRAFT, name="slow-fake"))
    demo = app.build_app(qa, settings)
    port = free_port()
    app.launch_app(demo, settings, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    yield Server(f"http://127.0.0.1:{port}/", qa, settings, home, demo)
    demo.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """New pages that record every request leaving the app (anything but its own URL, data: and blob:)."""
    pages: list[Any] = []

    def factory(url: str, size: str = "wide") -> Any:
        width, height = SIZES[size]
        page = browser.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
        page.outside_requests = []
        base = url.rstrip("/")
        page.on("request", lambda r: None if r.url == base or r.url.startswith((base + "/", "data:", "blob:"))
                else page.outside_requests.append(r.url))
        pages.append(page)
        return page

    yield factory
    for page in pages:
        page.close()


def assert_stayed_local(page: Any) -> None:
    assert page.outside_requests == []  # no CDN fonts or scripts, no analytics: nothing left this machine


def shoot(page: Any, name: str) -> None:
    """Full-page screenshots of the current state at both sizes (the page is resized, then restored)."""
    original = page.viewport_size
    for width, height in SIZES.values():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)  # let Gradio's layout settle at the new width
        page.screenshot(path=str(SHOTS / f"{name}-{width}x{height}.png"), full_page=True)
    page.set_viewport_size(original)
    page.wait_for_timeout(300)


def wait_ready(page: Any, url: str) -> Any:
    page.goto(url)
    question = page.locator("#pq-question textarea")
    from playwright.sync_api import expect

    expect(question).to_be_enabled(timeout=120_000)
    return question


def assert_contrast(page: Any, items: list[tuple[str, str | None]], minimum: float = 4.5) -> None:
    ratios = page.evaluate(CONTRAST, [list(i) for i in items])
    missing = [s for s, r in ratios if r is None]
    assert not missing, f"not on the page: {missing}"
    low = [(s, r) for s, r in ratios if r < minimum]
    assert not low, f"text below {minimum}:1 contrast: {low}"


# --- 5: start-up -------------------------------------------------------------------------------


def test_startup_opens_the_page_at_once_then_asking_when_ready(tmp_path: Path, open_page: Any) -> None:
    """`python app.py` on an empty store (what `make run` does first time): the page answers while the bundled
    corpus is still being ingested, shows a progress bar, keeps Ask closed, then opens it and answers."""
    from playwright.sync_api import expect

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERQA_")}
    env.update(PAPERQA_HOME=str(tmp_path / "home"), PAPERQA_N_THREADS="1", PAPERQA_EMBED_THREADS="1",
               PYTHONUNBUFFERED="1")
    log_path = tmp_path / "serve.log"
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port)], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = t0 + 180
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"no page after 180 s:\n{log_path.read_text()}"
            time.sleep(0.2)
        page_s = time.monotonic() - t0

        page = open_page(url)
        page.goto(url)
        status = page.locator("#pq-status")
        question = page.locator("#pq-question textarea")
        expect(status).to_contain_text("Preparing the library", timeout=60_000)
        expect(page.locator("#pq-ingest-progress")).to_be_attached()
        expect(status).to_contain_text(re.compile(r"embedding papers: \d+ of 274"), timeout=300_000)
        expect(question).to_be_disabled()
        expect(page.locator("#pq-ask")).to_be_disabled()
        assert page.locator("#pq-ingest-progress").get_attribute("max") == "274"
        try:  # for the screenshot, a bar part filled (a fast machine may be done before: the shot shows that)
            expect(status).to_contain_text(re.compile(r"[1-9]\d* of 274"), timeout=60_000)
        except AssertionError:
            pass
        shoot(page, "01-startup-preparing")

        expect(question).to_be_enabled(timeout=900_000)
        ready_s = time.monotonic() - t0
        expect(status).to_be_hidden()
        expect(page.locator("#pq-ask")).to_be_enabled()
        expect(question).to_be_focused()  # ready to type
        question.fill(RAR_Q)
        question.press("Enter")  # Enter asks
        expect(page.locator("#pq-chat a.pq-ref").first).to_be_visible(timeout=400_000)
        expect(page.locator("#pq-chat")).to_contain_text("1.48")
        shoot(page, "02-startup-ready-answer")
        page.get_by_role("tab", name="Library").click()
        expect(page.locator("#pq-stats")).to_contain_text("274 papers")
        assert_stayed_local(page)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nstart-up on an empty store: page answered {page_s:.1f} s after launch, library ready "
              f"{ready_s:.1f} s (page at {page_s / ready_s:.0%} of the wait); load average {load}")
        assert page_s < ready_s
    finally:
        stop_process(proc, timeout=30)
    log_text = log_path.read_text()
    assert "274 papers in the store" in log_text and "Ready in" in log_text, log_text


# --- 1: progress, never the unchecked draft ----------------------------------------------------


def test_progress_while_working_and_never_the_unchecked_draft(fake_server: Server, open_page: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(fake_server.url)
    question = wait_ready(page, fake_server.url)
    page.evaluate(RECORD_BUBBLES)
    question.fill(RAR_Q)
    page.click("#pq-ask")
    progress = page.locator("#pq-chat .pq-progress")
    expect(progress).to_contain_text("Writing a short answer", timeout=120_000)  # while the model writes its draft
    expect(page.locator("#pq-chat .pq-step-now")).to_have_text("Read")
    shoot(page, "03-progress-while-drafting")
    expect(page.locator("#pq-chat a.pq-ref").first).to_be_visible(timeout=120_000)
    states: list[str] = page.evaluate("() => window.__pqStates")
    final = states[-1]
    assert "1.48" in final and "quoted from the abstract" in final
    assert all("1.52" not in s for s in states), states  # the wrong number was drafted but never on screen
    working = [s for s in states if s.endswith(PROGRESS_STEPS)]
    assert any(s.startswith("Searching the papers") for s in working), states
    assert any(re.match(r"Reading \d+ papers", s) for s in working), states
    assert any(s.startswith("Checking the short answer") for s in working), states
    # Anything else the bubble showed was the checked answer (as it streamed in), not other text.
    shown = [s for s in states if s not in working and s != "Loading content"]
    assert shown and all(final.startswith(s) for s in shown), shown
    assert fake_server.qa.llm.calls, "the fake model was asked for a draft"  # type: ignore[attr-defined]
    assert_stayed_local(page)


# --- answers, 2: refusals that explain, 6: export, 4: keyboard and contrast --------------------


def test_answer_refusal_with_closest_sentences_and_export(server: Server, open_page: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(server.url)
    question = wait_ready(page, server.url)
    page.screenshot(path=str(SHOTS / "04-start-1400x1000.png"), full_page=True)
    expect(question).to_be_focused()  # the question box has focus on load

    # An empty question is refused with the reason, not sent to the model.
    page.click("#pq-ask")
    expect(page.locator("#pq-notice")).to_contain_text("The question is empty", timeout=30_000)

    # From the keyboard: Shift+Tab from Ask back to the question box, type, Enter asks.
    page.keyboard.press("Shift+Tab")
    expect(question).to_be_focused()
    page.keyboard.type(RAR_Q)
    page.keyboard.press("Enter")
    ref = page.locator("#pq-chat a.pq-ref", has_text="[1]").first
    expect(ref).to_be_visible(timeout=400_000)
    expect(page.locator("#pq-notice")).to_have_text("")
    expect(page.locator("#pq-chat")).to_contain_text("1.48")
    expect(page.locator("#pq-chat .pq-meta").last).to_contain_text(" s (first words")

    # Clicking [1] brings the cited quote, highlighted inside its abstract, into view.
    target = ref.get_attribute("href")
    assert target is not None and re.fullmatch(r"#cite-\d+-1", target)
    ref.click()
    block = page.locator(target)
    mark = block.locator("mark.pq-quote")
    expect(mark).to_be_in_viewport()
    assert page.url.rstrip("/") == server.url.rstrip("/")  # handled in the page, no navigation or new tab
    stored = {p.paper_id: p.abstract for p in server.qa.papers()}
    paper_id = block.locator(".pq-id").inner_text().split("·")[0].strip()
    quote = mark.inner_text().strip()
    assert quote in {stored[paper_id][a:b] for a, b in sentence_spans(stored[paper_id])} and "1.48" in quote
    shoot(page, "05-answer-citation")
    assert_contrast(page, [(".pq-meta", None), ("#pq-sources .pq-id", None), ("#pq-sources .pq-h", None),
                           ("#pq-chat a.pq-ref", None), ("mark.pq-quote", None)])

    # A refusal names the closest papers and shows each one's best sentence, highlighted in its abstract.
    question.fill(REFUSED_Q)
    question.press("Enter")
    links = page.locator("#pq-chat [data-testid=bot]").last.locator("a.pq-closest-ref")
    expect(links.first).to_be_visible(timeout=400_000)
    expect(page.locator("#pq-chat [data-testid=bot]").last).to_contain_text("The papers here don't")
    assert links.count() >= 2
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        assert href is not None and re.fullmatch(r"#closest-\d+-\d+", href)
        closest = page.locator(href)
        expect(closest).to_be_attached()
        pid = closest.locator(".pq-id").inner_text().split("·")[0].strip()
        sentence = closest.locator("mark.pq-quote").inner_text().strip()
        assert sentence in {stored[pid][a:b] for a, b in sentence_spans(stored[pid])}
        assert closest.locator(".pq-abstract").inner_text().replace("\n", " ").strip() == " ".join(
            stored[pid].split())  # the whole abstract is there to judge by
    links.last.click()
    expect(page.locator(links.last.get_attribute("href") or "").locator("mark.pq-quote")).to_be_in_viewport()
    expect(page.locator("#pq-sources")).to_contain_text("Not cited: judge for yourself")
    shoot(page, "06-refusal-closest-sentences")

    # Export: the whole chat with its references, as text to copy and as a file.
    page.locator("#pq-export").get_by_text("Export the chat").click()
    markdown = page.locator("#pq-markdown")  # (the code view renders only the lines in sight)
    expect(markdown).to_contain_text(f"## 1. {RAR_Q}")
    expect(markdown).to_contain_text("[1] Randomized Autoregressive Visual Generation")
    with page.expect_download() as download:
        page.locator("#pq-downloads a", has_text="chat").click()
    assert download.value.suggested_filename == "paperqa-chat.md"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.startswith("# PaperQA chat")
    assert text.index(f"## 1. {RAR_Q}") < text.index("[1] Randomized Autoregressive Visual Generation") < text.index(
        f"## 2. {REFUSED_Q}") < text.index("Closest papers (not cited")
    expect(page.locator("#pq-bibtex")).to_contain_text("No BibTeX for these cited papers")  # no metadata here
    shoot(page, "07-export")
    assert_stayed_local(page)


def test_controls_are_named_readable_and_keyboard_reachable(server: Server, open_page: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(server.url)
    question = wait_ready(page, server.url)
    page.get_by_text("Settings", exact=True).click()
    page.get_by_text("Export the chat", exact=True).click()
    expect(page.get_by_role("textbox", name="Question")).to_be_visible()

    def unnamed_controls() -> list[str]:
        cdp = page.context.new_cdp_session(page)
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
        cdp.detach()
        roles = {"button", "textbox", "searchbox", "combobox", "slider", "spinbutton", "checkbox", "tab", "link",
                 "listbox", "grid"}
        return [f"{n['role']['value']} (backend node {n.get('backendDOMNodeId')})" for n in nodes
                if not n.get("ignored") and n.get("role", {}).get("value") in roles
                and not str(n.get("name", {}).get("value", "")).strip()]

    assert unnamed_controls() == []  # a screen reader announces every control by name, never bare "Textbox"
    assert_contrast(page, [("#pq-header p", None), ("#pq-sources .pq-empty", None), ("#pq-ask", None),
                           ("#pq-new", None), ("#pq-question textarea", "::placeholder"),
                           ("#pq-downloads .pq-meta", None)])

    # Tab order follows the page: question -> Ask -> New chat; the focused control shows an outline.
    question.focus()
    focus = "() => { const e = document.activeElement; const s = getComputedStyle(e); " \
            "return [e.closest('[id]') && e.closest('[id]').id, s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    page.keyboard.press("Tab")
    owner, style, width = page.evaluate(focus)
    assert owner == "pq-ask" and style != "none" and width >= 2, (owner, style, width)
    page.keyboard.press("Tab")
    assert page.evaluate(focus)[0] == "pq-new"

    page.get_by_role("tab", name="Library").click()
    expect(page.get_by_role("textbox", name="Search the library")).to_be_visible()
    expect(page.get_by_role("textbox", name="Remove a paper")).to_be_visible()
    assert unnamed_controls() == []
    assert_contrast(page, [("#pq-stats", None), ("#pq-upload-help", None), ("#pq-remove", None)])
    assert_stayed_local(page)


# --- 3: library layout, confirmed removal, 6: BibTeX of an uploaded paper ----------------------


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


@pytest.mark.parametrize("size", ["wide", "phone"])
def test_library_layout(server: Server, open_page: Any, size: str) -> None:
    from playwright.sync_api import expect

    page = open_page(server.url, size)
    wait_ready(page, server.url)
    chat_width = page.locator("#pq-chat-row").bounding_box()["width"]
    page.get_by_role("tab", name="Library").click()  # first render of the Library tab
    expect(page.locator("#pq-table [role=gridcell]").first).to_be_visible(timeout=30_000)
    library_width = page.locator("#pq-library-row").bounding_box()["width"]
    assert abs(library_width - chat_width) <= 2, (library_width, chat_width)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll

    # The file picker offers only the formats we read.
    accept = page.locator("#pq-upload input[type=file]").get_attribute("accept") or ""
    assert {a.strip() for a in accept.split(",")} == set(SUPPORTED_SUFFIXES)
    # The upload label no longer covers "Drop File Here".
    label = page.locator("#pq-upload [data-testid=block-label]").bounding_box()
    drop = page.evaluate(TEXT_BOX, ["#pq-upload", "Drop File Here"])
    assert label and drop and not _overlap(label, drop), (label, drop)
    # Every header stays on one line and whole (the "Chunks" header wrapped one letter per line on a phone).
    headers = page.locator("#pq-table th span.header").evaluate_all(
        "els => els.map(e => [e.innerText, e.scrollWidth, e.clientWidth, e.getBoundingClientRect().height,"
        " parseFloat(getComputedStyle(e).lineHeight) || 20])")
    assert [h[0] for h in headers] == app.TABLE_HEADERS
    for text, scroll_w, client_w, height, line in headers:
        assert scroll_w <= client_w + 1 and height < 1.6 * line, (text, scroll_w, client_w, height, line)
    # The Remove button is a real button: tall enough to hit, and filled.
    remove = page.locator("#pq-remove")
    box = remove.bounding_box()
    assert box["height"] >= 40 and box["width"] >= 120, box
    assert remove.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
    width, height = SIZES[size]
    page.screenshot(path=str(SHOTS / f"08-library-{width}x{height}.png"), full_page=True)
    assert_stayed_local(page)


def test_upload_cite_export_bibtex_then_remove_with_confirmation(server: Server, open_page: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(server.url)
    question = wait_ready(page, server.url)

    # Upload a made-up paper with authors and a year, and find it in the table.
    page.get_by_role("tab", name="Library").click()
    page.locator("#pq-upload input[type=file]").set_input_files(str(FIXTURES / "new_paper.jsonl"))
    report = page.locator("#pq-upload-report")
    expect(report).to_contain_text("new_paper.jsonl:", timeout=300_000)
    expect(report).to_contain_text("papers in the library")

    # Ask about it: the BibTeX export has an entry for it (its metadata allows one).
    page.get_by_role("tab", name="Chat").click()
    question.fill("What error does Quokka reach on GreenBench-7?")
    question.press("Enter")
    expect(page.locator("#pq-chat a.pq-ref").first).to_be_visible(timeout=400_000)
    page.locator("#pq-export").get_by_text("Export the chat").click()
    bibtex = page.locator("#pq-bibtex")
    expect(bibtex).to_contain_text("@misc{author2031quokka,")
    expect(bibtex).to_contain_text("author = {Test Author}")
    with page.expect_download() as download:
        page.locator("#pq-downloads a", has_text="BibTeX").click()
    assert download.value.suggested_filename == "paperqa-references.bib"
    assert "year = {2031}" in Path(download.value.path()).read_text(encoding="utf-8")

    # Remove it: Remove… asks first; Cancel keeps it; confirming removes it.
    page.get_by_role("tab", name="Library").click()
    page.get_by_role("textbox", name="Search the library").fill("quokka")
    expect(page.locator("#pq-table")).to_contain_text(QUOKKA, timeout=30_000)
    expect(page.locator("#pq-table [role=row]")).to_have_count(2)  # header + the one match
    page.get_by_test_id("cell-0-0").click()
    expect(page.locator("#pq-remove-id textarea")).to_have_value(re.compile(r"\S+"), timeout=30_000)
    paper_id = page.locator("#pq-remove-id textarea").input_value()
    confirm = page.locator("#pq-confirm")
    expect(confirm).to_be_hidden()
    page.click("#pq-remove")
    expect(confirm).to_be_visible(timeout=30_000)
    expect(confirm).to_contain_text(QUOKKA)
    shoot(page, "09-library-confirm-remove")
    page.click("#pq-cancel-remove")
    expect(confirm).to_be_hidden(timeout=30_000)
    expect(page.locator("#pq-remove-report")).to_contain_text("nothing was removed")
    assert paper_id in {p.paper_id for p in server.qa.papers()}
    page.click("#pq-remove")
    expect(confirm).to_be_visible(timeout=30_000)
    page.click("#pq-confirm-remove")
    expect(page.locator("#pq-remove-report")).to_contain_text("Removed", timeout=60_000)
    expect(confirm).to_be_hidden()
    expect(page.locator("#pq-table")).not_to_contain_text(QUOKKA)
    assert paper_id not in {p.paper_id for p in server.qa.papers()}
    assert_stayed_local(page)

