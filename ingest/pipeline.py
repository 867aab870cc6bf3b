"""Sources -> papers -> chunks -> vectors -> Chroma, idempotently, with every record accounted for.

A file is parsed whole before anything from it is written: a bad line rejects the file and leaves
the store as it was. Unchanged papers (same content hash) are skipped without loading the embedder,
which is what makes re-ingesting a corpus cheap.

Identity (see records.make_paper_id): a record is the same paper as another when their ids match (DOI, arXiv id,
an explicit `_id`/`id`, or the hash of title and abstract) or when their normalised title and abstract match; a
shared title alone makes two papers, and the report says so. Within one run the first record of a paper wins and
each later one is counted as a skipped duplicate (identical) or merged (it differed). Against the store, a paper
stored under another id with the same title and abstract is moved to the new id, reusing its vectors; that is also
how a store from before ids covered the abstract is migrated, once, on its next ingest.

`rebuild=True` writes into a staging set beside the live store and switches to it only when every file parsed
(store.PaperStore.commit): a kill at any point leaves the old store or the new one.
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
from paperqa.records import Chunk, Paper, legacy_paper_id, title_key
from paperqa.retrieve import build_lexical_index
from paperqa.store import PaperStore

PAPERS_PER_BATCH = 64  # papers embedded and written together, at least...
MAX_PAPERS_PER_BATCH = 512  # ...and at most: a big ingest uses bigger batches (see batch_size)
NOTES_SHOWN = 20  # the summary lists this many record notes; to_dict() has all of them
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
    """What an ingest did, for the closing summary and for callers that check. Every parsed record is counted once:
    added + updated + unchanged + migrated + duplicates + merged = records read from the accepted files."""

    added: int = 0
    updated: int = 0  # a stored paper replaced by a changed record (same id, or same title+abstract under a new id)
    unchanged: int = 0
    duplicates: int = 0  # records identical to an earlier record of this run: skipped
    merged: int = 0  # records of a paper already read in this run that differ from it: the first one was kept
    migrated: int = 0  # stored papers moved from a title-only id to the new id (one-time), vectors reused
    same_title: int = 0  # records stored as a paper of their own though another paper has the same title
    removed_twins: int = 0  # stored papers that turned out to be another stored paper under a second id
    rejected: list[Rejection] = field(default_factory=list)  # files rejected whole: nothing from them was stored
    notes: list[str] = field(default_factory=list)  # one line per skipped/merged/migrated/same-title record
    records: int = 0
    chunks_written: int = 0
    files: int = 0
    papers_total: int = 0
    seconds: float = 0.0
    added_ids: list[str] = field(default_factory=list)
    rebuild: bool = False
    rebuilt: bool = False  # the rebuilt store is now the live one

    @property
    def ok(self) -> bool:
        return not self.rejected

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["rejected"] = [str(r) for r in self.rejected]
        return d

    def summary(self) -> str:
        lines = [
            f"Ingested {self.files} file(s) ({self.records} records) in {self.seconds:.1f}s: {self.added} added, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.duplicates} duplicate(s) skipped, "
            f"{self.merged} merged, {len(self.rejected)} file(s) rejected; {self.chunks_written} chunks written; "
            f"{self.papers_total} papers in the store.",
        ]
        if self.migrated:
            lines.append(f"Moved {self.migrated} paper(s) from title-only ids to ids that cover the abstract (a "
                         "one-time migration of this store; their vectors were reused).")
        if self.same_title:
            lines.append(f"{self.same_title} paper(s) share a title with another paper but not its abstract: "
                         "kept as separate papers.")
        if self.rebuild and not self.rebuilt:
            lines.append("--rebuild not applied: a file was rejected, so the store is as it was before.")
        lines += [f"  {n}" for n in self.notes[:NOTES_SHOWN]]
        if len(self.notes) > NOTES_SHOWN:
            lines.append(f"  ... and {len(self.notes) - NOTES_SHOWN} more (see --json)")
        lines += [f"  rejected {r} (the whole file: nothing from it was stored)" for r in self.rejected]
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
    """Parse every file; a file with any error is rejected whole. The first record of each paper (by id, or by
    title and abstract) is kept, within and across files; every other one is counted and noted."""
    by_id: dict[str, Paper] = {}
    by_key: dict[str, Paper] = {}
    by_title: dict[str, Paper] = {}
    for path in expand_paths(paths):
        report.files += 1
        try:
            papers = parse_file(path)
        except SourceError as exc:
            report.rejected.append(Rejection(exc.file, exc.line, exc.message))
            continue
        report.records += len(papers)
        for paper in papers:
            first = by_id.get(paper.paper_id) or by_key.get(paper.content_key)
            if first is not None and first.content_hash == paper.content_hash:
                report.duplicates += 1
                report.notes.append(f"skipped {paper.source}: the same record as {first.source}")
            elif first is not None:
                report.merged += 1
                same_text = first.content_key == paper.content_key
                why = "the same title and abstract" if same_text else "the same id"
                report.notes.append(f"merged {paper.source} into {first.source} ({why}; the first record is kept)")
            else:
                twin = by_title.get(title_key(paper.title))
                if twin is not None:
                    report.same_title += 1
                    report.notes.append(f"kept {paper.source} and {twin.source} as two papers: same title, "
                                        "different abstracts")
                by_id[paper.paper_id] = by_key[paper.content_key] = paper
                by_title.setdefault(title_key(paper.title), paper)
    return list(by_id.values())


def batch_size(n_papers: int) -> int:
    """Papers per embed-and-write batch: an eighth of the job, within [PAPERS_PER_BATCH, MAX_PAPERS_PER_BATCH].

    Why bigger for big jobs: the embedder sorts a batch's chunks by length and pads each group of texts to its
    longest, so a 64-paper batch (~120 chunks) pads 23% extra tokens on SciFact, a 512-paper one 3%; an eighth keeps
    the progress bar moving and the work lost to a crash small."""
    return max(PAPERS_PER_BATCH, min(MAX_PAPERS_PER_BATCH, n_papers // 8))


def ingest_papers(papers: list[Paper], store: PaperStore, embedder: Embedder, report: IngestReport,
                  progress: Progress | None = None) -> IngestReport:
    """Write the new and changed papers among `papers`; skip the unchanged ones; move papers stored under another
    id (same title and abstract) to their new id."""
    store.remove_orphan_chunks()
    stored = store.stored_keys()
    stored_by_key: dict[str, list[str]] = {}
    stored_titles: dict[str, str] = {}
    for pid, keys in stored.items():
        stored_by_key.setdefault(keys.key, []).append(pid)
        stored_titles.setdefault(keys.title_key, pid)
    todo: list[Paper] = []
    moves: dict[str, Paper] = {}  # old id -> the record that replaces it under a new id
    retired: list[str] = []  # stored ids that another id now holds (deleted after the new records are written)
    for paper in papers:
        twins = [pid for pid in stored_by_key.get(paper.content_key, []) if pid != paper.paper_id]
        old = stored.get(paper.paper_id)
        if old is None and twins:
            moved = twins.pop(0)
            moves[moved] = paper
            if moved == legacy_paper_id(stored[moved].title):
                report.migrated += 1
            else:
                report.updated += 1
                report.notes.append(f"updated {paper.source}: stored as {moved}, now {paper.paper_id}")
        elif old is None:
            todo.append(paper)
            report.added += 1
            report.added_ids.append(paper.paper_id)
            twin = stored_titles.get(title_key(paper.title))
            if twin is not None and stored[twin].key != paper.content_key:
                report.same_title += 1
                report.notes.append(f"kept {paper.source} as a paper of its own: stored paper {twin} has the same "
                                    "title and a different abstract")
        elif old.content_hash == paper.content_hash:
            report.unchanged += 1
        else:
            todo.append(paper)
            report.updated += 1
        for twin in twins:  # a kill between writing a moved paper and deleting its old id leaves such twins
            retired.append(twin)
            report.removed_twins += 1
            report.notes.append(f"removed stored paper {twin}: it is {paper.paper_id} under a second id")
    if moves:
        todo += _move(moves, store, report)
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
    store.remove_papers(list(moves) + retired)
    if not store.staging:  # a staging set gets its generation and BM25 index when it is committed
        gen, dirty = store.state()
        if todo or moves or retired or gen == 0 or dirty:
            build_lexical_index(store, store.bump_generation())
    report.papers_total = store.count_papers()
    return report


def _move(moves: dict[str, Paper], store: PaperStore, report: IngestReport) -> list[Paper]:
    """Re-file stored papers under their new ids. Vectors are reused when title and abstract are exactly the same
    text (so are the chunks); the others are returned to be embedded again."""
    old_papers = store.get_papers(list(moves))
    same = [old for old, p in moves.items() if old in old_papers
            and (old_papers[old].title, old_papers[old].abstract) == (p.title, p.abstract)]
    stored_chunks = store.paper_chunks(same) if same else {}
    items = []
    for old in same:
        if old in stored_chunks:
            paper = moves[old]
            chunks, vecs = stored_chunks[old]
            items.append((paper, [Chunk(paper.paper_id, c.index, c.start, c.end, c.text) for c in chunks], vecs))
    for i in range(0, len(items), PAPERS_PER_BATCH):
        report.chunks_written += store.write_papers(items[i:i + PAPERS_PER_BATCH])
    reused = {p.paper_id for p, _, _ in items}
    return [p for p in moves.values() if p.paper_id not in reused]


def run_ingest(paths: Sequence[str | Path], store: PaperStore, embedder: Embedder,
               progress: Progress | None = None, rebuild: bool = False) -> IngestReport:
    """Parse, chunk, embed and store `paths` (files or folders). With `rebuild`, the result replaces the store
    (built beside it and switched to atomically) when every file was accepted; `store` then reads the new one."""
    t0 = time.perf_counter()
    report = IngestReport(rebuild=rebuild or store.staging)
    papers = collect_papers(paths, report)
    target = store if store.staging or not rebuild else PaperStore(store.settings, embedder.name, embedder.dim,
                                                                   staging=True)
    if report.rebuild:
        target.drop_leftovers()
    if report.rebuild and report.rejected:
        target.discard()
    else:
        ingest_papers(papers, target, embedder, report, progress)
        if report.rebuild:
            build_lexical_index(target, target.commit())
            report.rebuilt = True
            if target is not store:
                store.reopen()
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
