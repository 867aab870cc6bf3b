"""Crash safety: `paperqa ingest` and the web UI killed with SIGKILL at several points leave a store that opens,
serves only complete papers, and that the next ingest completes.

The kills are external SIGKILLs timed by the ingest's own progress output, plus two self-inflicted SIGKILLs at the
two narrowest windows (chunks written but the paper record not yet; every paper written but the generation not yet
bumped nor the BM25 index saved). Those two are set up by a wrapper script in this file that patches the store inside
the child process only; nothing in paperqa knows about tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from conftest import CORPUS, REPO
from conftest import CORPUS_PAPERS as N_PAPERS

from bench.load import start_app
from paperqa.embed import Embedder
from paperqa.records import Paper
from paperqa.retrieve import Retriever
from paperqa.settings import RetrievalSettings, StoreSettings
from paperqa.store import PaperStore

UI_PAPERS = 120  # papers in the upload the UI is killed in the middle of
_PROGRESS = re.compile(r"Embedding papers:[^\r\n]*?(\d+)/(\d+) \[")

# Runs `paperqa ingest` with one store method wrapped in "SIGKILL myself", so the kill lands exactly in a window that a
# timer would hit only by luck. argv: <mode> <n> <paperqa args...>; modes:
#   papers_add N  die on the N-th write of paper records (the commit marker), after that batch's chunks were written;
#   written N     die as soon as a write_papers call returns with N papers in the store, before the pipeline's
#                 next step (generation bump, BM25 index save; for --rebuild: the switch to the new set);
#   switch 0|1    --rebuild: die just before (0) or just after (1) the one write that makes the new set live;
#   committed 0   --rebuild: die once the switch is done and the old set deleted, before the BM25 index is built.
_SELF_KILL = """
import os, signal, sys
import paperqa.store as store
mode, n = sys.argv[1], int(sys.argv[2])
calls = [0]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "papers_add":
    class KillingCollection:
        def __init__(self, inner): self._inner = inner
        def __getattr__(self, name): return getattr(self._inner, name)
        def add(self, *a, **k):
            calls[0] += 1
            if calls[0] == n:
                die()
            return self._inner.add(*a, **k)
    init = store.PaperStore.__init__
    def patched(self, *a, **k):
        init(self, *a, **k)
        self.papers = KillingCollection(self.papers)
    store.PaperStore.__init__ = patched
elif mode == "switch":
    switch = store.PaperStore._switch
    def patched_switch(self, *a, **k):
        if n == 0:
            die()
        out = switch(self, *a, **k)
        die()
    store.PaperStore._switch = patched_switch
elif mode == "committed":
    commit = store.PaperStore.commit
    def patched_commit(self, *a, **k):
        commit(self, *a, **k)
        die()
    store.PaperStore.commit = patched_commit
else:
    write = store.PaperStore.write_papers
    def patched_write(self, *a, **k):
        out = write(self, *a, **k)
        if self.count_papers() >= n:
            die()
        return out
    store.PaperStore.write_papers = patched_write
from paperqa.cli import main
sys.exit(main(sys.argv[3:]))
"""


def child_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERQA_")}
    env.update(PAPERQA_HOME=str(home), PYTHONUNBUFFERED="1")
    return env


class Child:
    """A subprocess whose stderr is collected in the background so progress can be polled."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err = ""
        self.out = ""
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stderr, "err"), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stdout, "out"), daemon=True)]
        for t in self._threads:
            t.start()
        self.started = time.monotonic()

    def _pump(self, stream, attr: str) -> None:  # type: ignore[no-untyped-def]
        for raw in iter(lambda: stream.read1(4096), b""):
            setattr(self, attr, getattr(self, attr) + raw.decode("utf-8", "replace"))

    def progress(self) -> tuple[int, int] | None:
        """The latest (done, total) of the ingest's progress bar."""
        found = _PROGRESS.findall(self.err)
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    def wait_for(self, predicate, timeout: float = 240.0) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"ingest exited ({self.proc.returncode}) before the kill point:\n"
                                     f"{self.err[-2000:]}")
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"kill point not reached in {timeout}s:\n{self.err[-2000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 600.0) -> int:
        rc = self.proc.wait(timeout=timeout)
        for t in self._threads:
            t.join(timeout=10)
        return rc


def ingest_argv(*extra: str) -> list[str]:
    return [sys.executable, "-m", "paperqa.cli", "ingest", *extra]


def self_kill_argv(mode: str, n: int, *extra: str) -> list[str]:
    return [sys.executable, "-c", _SELF_KILL, mode, str(n), "ingest", *extra]


def close_store(store: PaperStore) -> None:
    """Stop this process's Chroma system for the path, so the next child writes to a store nobody else holds."""
    from chromadb.api.shared_system_client import SharedSystemClient

    store.client._system.stop()
    SharedSystemClient.clear_system_cache()


def check_store(home: Path, embedder: Embedder) -> dict[str, int]:
    """Open the store like a restarted process would and check that it only ever serves complete papers.

    - every paper record's n_chunks equals its chunks in the chunks collection;
    - chunks of papers without a record (an interrupted write) never come back from retrieval, even for a query
      that is their own text;
    - the BM25 index, loaded through Retriever.lexical(), covers exactly the chunks of the complete papers.
    Returns counts for the caller's own assertions.
    """
    if not (home / "chroma" / "chroma.sqlite3").exists():
        return {"papers": 0, "chunks": 0, "orphan_papers": 0, "orphan_chunks": 0, "generation": 0}
    settings = StoreSettings(home=home)
    store = PaperStore(settings, embedder.name, embedder.dim)
    try:
        papers = store.list_papers()
        complete = {p.paper_id for p in papers}
        assert len(complete) == len(papers) == store.count_papers()
        ids, pids, texts = store.all_chunks()
        per_paper = Counter(pids)
        wrong = {p.paper_id: (p.n_chunks, per_paper[p.paper_id]) for p in papers
                 if p.n_chunks != per_paper[p.paper_id] or p.n_chunks < 1}
        assert not wrong, f"papers whose record disagrees with their chunks (record, stored): {wrong}"
        orphan_pids = sorted(set(pids) - complete)
        retriever = Retriever(store, embedder, RetrievalSettings())
        index = retriever.lexical()
        complete_chunks = {cid for cid, pid in zip(ids, pids, strict=True) if pid in complete}
        indexed = set(index.chunk_ids)
        assert indexed == complete_chunks, (
            f"BM25 index covers {len(indexed)} chunks, complete papers have {len(complete_chunks)}; missing "
            f"{len(complete_chunks - indexed)}, extra {len(indexed - complete_chunks)} (index generation "
            f"{index.generation}, store generation {store.generation()})")
        assert set(index.paper_ids) <= complete
        for pid in orphan_pids[:3]:
            own_text = texts[pids.index(pid)]
            hits = retriever.retrieve(own_text[:400], k=10).hits
            assert all(h.paper_id in complete for h in hits)
            assert pid not in {h.paper_id for h in hits}
        if papers:
            hits = retriever.retrieve("image generation with diffusion transformers", k=5).hits
            assert hits and all(h.paper_id in complete for h in hits)
        return {"papers": len(papers), "chunks": len(complete_chunks), "orphan_papers": len(orphan_pids),
                "orphan_chunks": sum(per_paper[p] for p in orphan_pids), "generation": store.generation()}
    finally:
        close_store(store)


def test_ingest_survives_sigkill_at_every_stage(home: Path, embedder: Embedder) -> None:
    env = child_env(home)
    corpus = str(CORPUS)
    log: list[tuple[str, dict[str, int]]] = []

    # 1. During start-up (imports, store creation).
    child = Child(ingest_argv(corpus), env)
    time.sleep(1.0)
    child.kill()
    log.append(("startup", check_store(home, embedder)))

    # 2. Right after the first batch was stored: the kill lands while the second batch is embedded.
    child = Child(ingest_argv(corpus), env)
    child.wait_for(lambda: (child.progress() or (0, 0))[0] >= 64)
    child.kill()
    state = check_store(home, embedder)
    log.append(("after first batch", state))
    assert state["papers"] >= 64, log

    # 3. Between a batch's chunks and its paper records (the commit marker): chunks must be left as orphans.
    child = Child(self_kill_argv("papers_add", 1, corpus), env)
    assert child.finish() == -signal.SIGKILL, child.err[-2000:]
    state = check_store(home, embedder)
    log.append(("chunks written, records not", state))
    assert state["orphan_chunks"] > 0, log  # the window was really hit
    assert state["papers"] == log[-2][1]["papers"], log

    # 4. After every paper is written but before the generation bump and the BM25 save.
    child = Child(self_kill_argv("written", N_PAPERS, corpus), env)
    assert child.finish() == -signal.SIGKILL, child.err[-2000:]
    state = check_store(home, embedder)
    log.append(("written, index not saved", state))
    assert state["papers"] == N_PAPERS, log

    # 5. A plain re-run finishes the job and reports the whole corpus.
    child = Child(ingest_argv(corpus, "--quiet"), env)
    assert child.finish() == 0, child.err[-2000:]
    assert f"{N_PAPERS} papers in the store" in child.out, child.out
    state = check_store(home, embedder)
    log.append(("completed", state))
    assert state["papers"] == N_PAPERS and state["orphan_chunks"] == 0 and state["generation"] >= 1, log


def test_ui_survives_sigkill_during_upload_and_answer(home: Path, tmp_path: Path, embedder: Embedder,
                                                      corpus_papers: list[Paper]) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.utils import Status

    papers = corpus_papers[:UI_PAPERS]
    upload = tmp_path / "batch.jsonl"
    upload.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers),
                      encoding="utf-8")
    stored_copy = home / "uploads" / upload.name

    # 1. kill -9 while the UI ingests an upload.
    app = start_app(home)
    try:
        client = Client(app.url, verbose=False, analytics_enabled=False)
        client.submit(handle_file(upload), "", api_name="/upload")
        deadline = time.monotonic() + 120
        while not stored_copy.exists():  # written just before the ingest starts
            assert time.monotonic() < deadline, app.output()[-2000:]
            time.sleep(0.05)
        time.sleep(2.0)
    finally:
        app.kill()
    state = check_store(home, embedder)
    assert state["papers"] < UI_PAPERS, "the ingest finished before the kill; kill earlier"

    # 2. Restart: the same upload completes the job; then kill -9 while a question is being answered.
    app = start_app(home)
    try:
        client = Client(app.url, verbose=False, analytics_enabled=False)
        report = client.predict(handle_file(upload), "", api_name="/upload")
        assert f"{UI_PAPERS} papers in the library" in str(report[0]), report
        job = client.submit("What FID does RAR reach on ImageNet-256?", api_name="/ask")
        deadline = time.monotonic() + 120
        while job.status().code != Status.PROCESSING:
            assert time.monotonic() < deadline and not job.done(), job.status()
            time.sleep(0.02)
        time.sleep(0.3)
    finally:
        app.kill()
    state = check_store(home, embedder)
    assert state["papers"] == UI_PAPERS and state["orphan_chunks"] == 0, state


def stored_titles(home: Path, embedder: Embedder) -> set[str]:
    store = PaperStore(StoreSettings(home=home), embedder.name, embedder.dim)
    try:
        return {p.title for p in store.list_papers()}
    finally:
        close_store(store)


def collection_names(home: Path, embedder: Embedder) -> set[str]:
    store = PaperStore(StoreSettings(home=home), embedder.name, embedder.dim)
    try:
        return {str(getattr(c, "name", c)) for c in store.client.list_collections()}
    finally:
        close_store(store)


REBUILD_PAPERS = 130  # the new store's papers: three embedding batches, so a kill can land between them


def test_rebuild_survives_sigkill_at_every_stage(home: Path, tmp_path: Path, embedder: Embedder,
                                                 corpus_papers: list[Paper]) -> None:
    """`ingest --rebuild` killed anywhere leaves the old store or the new one, complete, never less: the new
    collections are built beside the old and switched to in one write."""
    env = child_env(home)
    old_file = tmp_path / "old.jsonl"
    new_file = tmp_path / "new.jsonl"
    for path, papers in ((old_file, corpus_papers[-20:]), (new_file, corpus_papers[:REBUILD_PAPERS])):
        path.write_text("".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in papers),
                        encoding="utf-8")
    old = {p.title for p in corpus_papers[-20:]}
    new = {p.title for p in corpus_papers[:REBUILD_PAPERS]}
    child = Child(ingest_argv(str(old_file), "--quiet"), env)
    assert child.finish() == 0, child.err[-2000:]
    log: list[tuple[str, dict[str, int]]] = []

    def killed_leaves(label: str, expected: set[str]) -> None:
        state = check_store(home, embedder)  # complete papers only, BM25 index covering exactly them
        log.append((label, state))
        assert stored_titles(home, embedder) == expected, log

    # 1. While the new set is being embedded (after its first batch was written).
    child = Child(ingest_argv(str(new_file), "--rebuild"), env)
    child.wait_for(lambda: (child.progress() or (0, 0))[0] >= 64)
    child.kill()
    killed_leaves("embedding the new set", old)

    # 2. Every new paper written, before the switch.
    child = Child(self_kill_argv("written", REBUILD_PAPERS, str(new_file), "--rebuild", "--quiet"), env)
    assert child.finish() == -signal.SIGKILL, child.err[-2000:]
    killed_leaves("new set written, not switched", old)

    # 3. At the switch: just before the write that makes the new set live...
    child = Child(self_kill_argv("switch", 0, str(new_file), "--rebuild", "--quiet"), env)
    assert child.finish() == -signal.SIGKILL, child.err[-2000:]
    killed_leaves("just before the switch", old)

    # 4. ...and just after it, with the old set not yet deleted.
    child = Child(self_kill_argv("switch", 1, str(new_file), "--rebuild", "--quiet"), env)
    assert child.finish() == -signal.SIGKILL, child.err[-2000:]
    killed_leaves("just after the switch", new)

    # 5. Switched and the old set deleted, before the BM25 index was built; rebuilding back to the old papers.
    child = Child(self_kill_argv("committed", 0, str(old_file), "--rebuild", "--quiet"), env)
    assert child.finish() == -signal.SIGKILL, child.err[-2000:]
    killed_leaves("committed, index not built", old)

    # 6. A plain --rebuild finishes, and the sets the killed runs left behind are gone.
    child = Child(ingest_argv(str(new_file), "--rebuild", "--quiet"), env)
    assert child.finish() == 0, child.err[-2000:]
    assert f"{REBUILD_PAPERS} papers in the store" in child.out, child.out
    killed_leaves("completed", new)
    names = collection_names(home, embedder)
    assert len(names) == 3 and "papers_meta" in names, names  # the live chunks and papers, and the state record
