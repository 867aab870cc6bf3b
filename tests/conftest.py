"""Shared fixtures: a private PAPERQA_HOME per test, one embedder and one real LLM per session, the bundled corpus
ingested once per session, and a real Chroma server for the server-mode tests.

Loading the embedder (~3 s) and ingesting the corpus (~16 s) dominate the suite's time, so both happen once; tests
that need a store of their own get a fresh temporary home and small fixture files.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ingest.parse import parse_file
from ingest.pipeline import IngestReport
from paperqa.api import PaperQA
from paperqa.embed import Embedder
from paperqa.llm import LLM, make_llm
from paperqa.records import Paper
from paperqa.settings import EmbedSettings, LLMSettings, Settings, StoreSettings

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "trending-papers-274-abstracts.txt"
CORPUS_PAPERS = 274
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOOD = FIXTURES / "ingest" / "good"
BAD = FIXTURES / "ingest" / "bad"
GOOD_FILES = sorted(GOOD.iterdir())
GOOD_PAPERS = 8  # two per file in tests/fixtures/ingest/good


def clear_paperqa_env(mp: pytest.MonkeyPatch) -> None:
    """Tests must not pick up the developer's PAPERQA_* settings (a Chroma URL, another LLM...)."""
    for key in list(os.environ):
        if key.startswith("PAPERQA_"):
            mp.delenv(key)


def default_settings(home: Path, **store: object) -> Settings:
    """Settings with every section at its default except the store, whatever the environment says."""
    with pytest.MonkeyPatch.context() as mp:
        clear_paperqa_env(mp)
        return Settings(store=StoreSettings(home=home, **store))


def make_qa(settings: Settings, embedder: Embedder, llm: LLM | None = None, rebuild: bool = False) -> PaperQA:
    """A PaperQA that shares the session's loaded embedder (same model and name) instead of loading its own."""
    qa = PaperQA(settings=settings, llm=llm, rebuild=rebuild)
    assert embedder.name == qa.embedder.name
    qa.embedder = embedder
    qa.retriever.embedder = embedder
    return qa


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PAPERQA_HOME for this test, also exported for code (and the CLI) that reads the environment."""
    clear_paperqa_env(monkeypatch)
    path = tmp_path / "home"
    monkeypatch.setenv("PAPERQA_HOME", str(path))
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    return Settings(store=StoreSettings(home=home))


# One thread each for torch and llama.cpp: several test runs share this machine's two cores, and a two-thread pool
# that has to wait for a busy core spins instead of working (measured here: 7x slower generation, 12x slower query
# embedding under load). On an idle machine one thread costs well under 2x.
TEST_THREADS = 1


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged all-MiniLM-L6-v2, loaded once."""
    with pytest.MonkeyPatch.context() as mp:
        clear_paperqa_env(mp)
        emb = Embedder(EmbedSettings(embed_threads=TEST_THREADS))
    emb.encode(["warm up"])
    return emb


@pytest.fixture(scope="session")
def real_llm() -> LLM:
    """The default backend and profile: Qwen2.5-Coder-0.5B-Instruct in-process (joined once into the model cache on
    first use, then loaded from there)."""
    with pytest.MonkeyPatch.context() as mp:
        clear_paperqa_env(mp)
        return make_llm(LLMSettings(n_threads=TEST_THREADS))


@dataclass
class Corpus:
    qa: PaperQA
    report: IngestReport
    home: Path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, real_llm: LLM) -> Corpus:
    """The bundled 274-paper corpus ingested into a session-private home. Tests must not change this store."""
    home = tmp_path_factory.mktemp("corpus-home")
    qa = make_qa(default_settings(home), embedder, llm=real_llm)
    report = qa.ingest([CORPUS])
    return Corpus(qa=qa, report=report, home=home)


@pytest.fixture
def qa_factory(settings: Settings, embedder: Embedder) -> Callable[..., PaperQA]:
    """PaperQA objects on this test's home (call again to simulate a new process on the same store)."""

    def factory(llm: LLM | None = None, rebuild: bool = False, store_settings: Settings | None = None) -> PaperQA:
        return make_qa(store_settings or settings, embedder, llm=llm, rebuild=rebuild)

    return factory


# --- a real Chroma server --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`chroma run` on a free local port; yields its URL and stops it after the session."""
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        pytest.fail(f"the chroma CLI is missing ({exe}); it comes with the chromadb package")
    data = tmp_path_factory.mktemp("chroma-server")
    log_path = data.parent / f"{data.name}.log"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(exe), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"chroma run exited with {proc.returncode}: {log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"chroma run did not answer its heartbeat within 60 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(params=["embedded", "server"])
def backend_settings(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings (from the environment, as users give them) for a fresh, empty store: embedded under `home`, or a new
    collection on the shared Chroma server via PAPERQA_CHROMA_URL."""
    if request.param == "server":
        monkeypatch.setenv("PAPERQA_CHROMA_URL", request.getfixturevalue("chroma_server"))
        monkeypatch.setenv("PAPERQA_COLLECTION", f"t{uuid.uuid4().hex[:12]}")
    settings = Settings()
    assert settings.store.home == home
    assert (settings.store.chroma_url is not None) == (request.param == "server")
    return settings


@pytest.fixture(scope="session")
def corpus_papers() -> list[Paper]:
    """The bundled corpus parsed (no store)."""
    return parse_file(CORPUS)


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:  # type: ignore[type-arg]
    """Terminate a server a test started; kill it if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
