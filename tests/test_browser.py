"""Drives the real UI in headless Chromium: ask, follow a citation to its highlighted quote, upload a paper.

Uses Debian's /usr/bin/chromium through Playwright (never `playwright install`, which downloads a browser).
Screenshots go to test-output/browser/ so a person can look at the page after the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_app import FIXTURES, RAR_Q, REPO, Server, shared_server, stop_shared_server

from paperqa.sentences import sentence_spans

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "test-output" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                       "(bash scripts/install-test-deps.sh)"),
]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, corpus: Any, embedder: Any, real_llm: Any) -> Iterator[Server]:
    yield shared_server(tmp_path_factory, corpus, embedder, real_llm)
    stop_shared_server()


@pytest.fixture()
def page(server: Server) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.outside_requests = []  # type: ignore[attr-defined]
        base = server.url.rstrip("/")
        pg.on("request", lambda r: None if r.url.startswith((base, "data:", "blob:"))
              else pg.outside_requests.append(r.url))  # type: ignore[attr-defined]
        try:
            yield pg
        finally:
            browser.close()


def test_ask_follow_citation_and_upload(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    question = page.locator("#pq-question textarea")
    expect(question).to_be_visible(timeout=60_000)
    page.screenshot(path=str(SHOTS / "01-start.png"), full_page=True)

    # An empty question is refused with the reason, not sent to the model.
    page.click("#pq-ask")
    expect(page.locator("#pq-notice")).to_contain_text("The question is empty", timeout=30_000)

    # Ask; the answer arrives with linked [n] citations.
    question.fill(RAR_Q)
    page.click("#pq-ask")
    ref = page.locator("#pq-chat a.pq-ref", has_text="[1]").first
    expect(ref).to_be_visible(timeout=400_000)
    expect(page.locator("#pq-notice")).to_have_text("")
    expect(page.locator("#pq-chat")).to_contain_text("1.48")
    expect(page.locator("#pq-chat .pq-meta").last).to_contain_text(" s (first words")
    page.screenshot(path=str(SHOTS / "02-answer.png"), full_page=True)

    # Clicking [1] brings the cited quote, highlighted inside its abstract, into view.
    target = ref.get_attribute("href")
    assert target is not None and re.fullmatch(r"#cite-\d+-1", target)
    ref.click()
    block = page.locator(target)
    mark = block.locator("mark.pq-quote")
    expect(mark).to_be_visible()
    expect(mark).to_be_in_viewport()
    assert page.url.rstrip("/") == server.url.rstrip("/")  # handled in the page, no navigation or new tab
    quote = mark.inner_text().strip()
    paper_id = block.locator(".pq-id").inner_text().split("·")[0].strip()
    abstract = {p.paper_id: p.abstract for p in server.qa.papers()}[paper_id]
    assert quote in {abstract[a:b] for a, b in sentence_spans(abstract)}
    assert "1.48" in quote
    page.screenshot(path=str(SHOTS / "03-citation.png"), full_page=True)

    # The Markdown export holds the answer and its reference list.
    page.locator("#pq-export").get_by_text("Copy as Markdown").click()
    expect(page.locator("#pq-markdown")).to_contain_text(f"[1] {block.locator('.pq-title').inner_text()[4:]}")

    # Library: upload a made-up paper and find it in the table.
    page.get_by_role("tab", name="Library").click()
    expect(page.locator("#pq-stats")).to_contain_text(re.compile(r"27\d papers"), timeout=30_000)
    expect(page.locator("#pq-table [role=gridcell]").first).to_be_visible()
    page.locator("#pq-upload input[type=file]").set_input_files(str(FIXTURES / "new_paper.jsonl"))
    expect(page.locator("#pq-upload-report")).to_contain_text("new_paper.jsonl:", timeout=300_000)
    expect(page.locator("#pq-upload-report")).to_contain_text("papers in the library")
    title = "Quokka: Photosynthetic Attention for Greenhouse Yield Forecasting"
    page.locator("#pq-search textarea").fill("quokka")
    expect(page.locator("#pq-table")).to_contain_text(title, timeout=30_000)
    expect(page.locator("#pq-table [role=row]")).to_have_count(2)  # header + the one match
    page.screenshot(path=str(SHOTS / "04-library-upload.png"), full_page=True)

    # Remove it again: clicking its row fills the id.
    page.get_by_test_id("cell-0-0").click()
    expect(page.locator("#pq-remove-id textarea")).to_have_value(re.compile(r"\S+"), timeout=30_000)
    page.click("#pq-remove")
    expect(page.locator("#pq-remove-report")).to_contain_text("Removed", timeout=60_000)
    expect(page.locator("#pq-table")).not_to_contain_text(title)
    assert title not in {p.title for p in server.qa.papers()}

    assert page.outside_requests == []  # nothing left this machine: no CDN fonts, no analytics
