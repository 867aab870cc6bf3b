"""Sources -> papers -> chunks -> vectors -> Chroma, idempotently.

A file is parsed whole before anything from it is written: a bad line rejects the file and leaves
the store as it was. Unchanged papers (same content hash) are skipped without loading the embedder,
which is what makes re-ingesting a corpus cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ingest.chunk import chunk_paper
from ingest.parse import SUPPORTED_SUFFIXES, parse_file
from paperqa.embed import Embedder
from paperqa.errors import SourceError
from paperqa.records import Paper
from paperqa.retrieve import build_lexical_index
from paperqa.store import PaperStore

PAPERS_PER_BATCH = 64  # papers embedded and written together, at least...
MAX_PAPERS_PER_BATCH = 512  # ...and at most: a big ingest uses bigger batches (see batch_size)
Progress = Callable[[int, int], None]  # (papers done, papers to embed)


@dataclass
class Rejection:
    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


@dataclass
class IngestReport:
    """What an ingest did, for the closing summary and for callers that check."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    chunks_written: int = 0
    files: int = 0
    papers_total: int = 0
    seconds: float = 0.0
    added_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["rejected"] = [str(r) for r in self.rejected]
        return d

    def summary(self) -> str:
        lines = [
            f"Ingested {self.files} file(s) in {self.seconds:.1f}s: {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.duplicates} duplicate(s) skipped, {len(self.rejected)} rejected; "
            f"{self.chunks_written} chunks written; {self.papers_total} papers in the store.",
        ]
        lines += [f"  rejected {r}" for r in self.rejected]
        return "\n".join(lines)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and supported files inside folders (sorted, so runs are repeatable)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES))
        else:
            out.append(p)
    return out


def collect_papers(paths: Sequence[str | Path], report: IngestReport) -> list[Paper]:
    """Parse every file; a file with any error is rejected whole. Duplicates across files are kept once."""
    seen: dict[str, Paper] = {}
    for path in expand_paths(paths):
        report.files += 1
        try:
            papers = parse_file(path)
        except SourceError as exc:
            report.rejected.append(Rejection(exc.file, exc.line, exc.message))
            continue
        for paper in papers:
            if paper.paper_id in seen:
                report.duplicates += 1
            else:
                seen[paper.paper_id] = paper
    return list(seen.values())


def batch_size(n_papers: int) -> int:
    """Papers per embed-and-write batch: an eighth of the job, within [PAPERS_PER_BATCH, MAX_PAPERS_PER_BATCH].

    Why bigger for big jobs: the embedder sorts a batch's chunks by length and pads each group of texts to its
    longest, so a 64-paper batch (~120 chunks) pads 23% extra tokens on SciFact, a 512-paper one 3%; an eighth keeps
    the progress bar moving and the work lost to a crash small."""
    return max(PAPERS_PER_BATCH, min(MAX_PAPERS_PER_BATCH, n_papers // 8))


def ingest_papers(papers: list[Paper], store: PaperStore, embedder: Embedder, report: IngestReport,
                  progress: Progress | None = None) -> IngestReport:
    """Write the new and changed papers among `papers`; skip the unchanged ones."""
    store.remove_orphan_chunks()
    stored = store.stored_hashes()
    todo: list[Paper] = []
    for paper in papers:
        old = stored.get(paper.paper_id)
        if old == paper.content_hash:
            report.unchanged += 1
        else:
            todo.append(paper)
            if old is None:
                report.added += 1
                report.added_ids.append(paper.paper_id)
            else:
                report.updated += 1
    max_tokens = embedder.settings.embed_max_tokens
    if progress and todo:
        progress(0, len(todo))
    step = batch_size(len(todo))
    for i in range(0, len(todo), step):
        batch = todo[i:i + step]
        chunked = [(p, chunk_paper(p, embedder.count_tokens, max_tokens)) for p in batch]
        flat = [c.text for _, cs in chunked for c in cs]
        vecs = embedder.encode(flat)
        items = []
        pos = 0
        for p, cs in chunked:
            items.append((p, cs, vecs[pos:pos + len(cs)]))
            pos += len(cs)
        report.chunks_written += store.write_papers(items)
        if progress:
            progress(min(i + step, len(todo)), len(todo))
    gen, dirty = store.state()
    if todo or gen == 0 or dirty:
        build_lexical_index(store, store.bump_generation())
    report.papers_total = store.count_papers()
    return report


def run_ingest(paths: Sequence[str | Path], store: PaperStore, embedder: Embedder,
               progress: Progress | None = None) -> IngestReport:
    """Parse, chunk, embed and store `paths` (files or folders)."""
    t0 = time.perf_counter()
    report = IngestReport()
    papers = collect_papers(paths, report)
    ingest_papers(papers, store, embedder, report, progress)
    report.seconds = time.perf_counter() - t0
    return report


def tqdm_progress(desc: str = "Embedding papers") -> Progress:
    """A progress callback that draws a tqdm bar on stderr."""
    from tqdm import tqdm

    bar: list[tqdm] = []

    def update(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc=desc, unit="paper"))
        bar[0].n = done
        bar[0].refresh()
        if done >= total:
            bar[0].close()

    return update
