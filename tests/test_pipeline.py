"""Ingest end to end on real Chroma (embedded and server) with the real embedder: every format, idempotence, updates,
--rebuild, the embedder guard, duplicates, bad files rejected whole, and crash leftovers cleaned up."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import BAD, CORPUS, CORPUS_PAPERS, GOOD, GOOD_FILES, GOOD_PAPERS, Corpus, default_settings, make_qa

from ingest.pipeline import IngestReport, expand_paths, run_ingest
from paperqa.api import PaperQA
from paperqa.embed import Embedder
from paperqa.errors import EmbedderMismatchError
from paperqa.retrieve import lexical_index_dir
from paperqa.settings import EmbedSettings, Settings

GOOD_TITLES = {
    "Glacier Melt Forecasting with Graph Neural Networks",
    "Sparse Attention for Protein Contact Prediction",
    "Surface Code Decoding on Noisy Superconducting Hardware",
    "Bee Colony Optimisation for Warehouse Robot Routing",
    "Learned Image Compression at Very Low Bitrates",
    "Sign Language Translation with Pose Transformers",
    "Coral Reef Health Monitoring from Drone Imagery",
    "A Benchmark for Question Answering over Legal Contracts",
}
KNOWN = "Glacier Melt Forecasting with Graph Neural Networks"  # from good/seed.txt


def write_jsonl(path: Path, *records: tuple[str, str] | dict[str, object]) -> Path:
    rows = [r if isinstance(r, dict) else {"title": r[0], "abstract": r[1]} for r in records]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def by_title(qa: PaperQA) -> dict[str, object]:
    return {p.title: p for p in qa.papers()}


# --- every format, idempotence, embedded and server ------------------------------------------------------------------


def test_every_format_ingests_and_reingest_is_idempotent(backend_settings: Settings, embedder: Embedder) -> None:
    qa = make_qa(backend_settings, embedder)
    first = qa.ingest(GOOD_FILES)
    assert first.rejected == [], first.summary()
    assert (first.files, first.added, first.updated, first.unchanged) == (4, GOOD_PAPERS, 0, 0)
    assert first.papers_total == GOOD_PAPERS == qa.store.count_papers()
    assert set(first.added_ids) == {p.paper_id for p in qa.papers()}
    assert {p.title for p in qa.papers()} == GOOD_TITLES
    assert first.chunks_written == qa.store.count_chunks() == sum(p.n_chunks for p in qa.papers()) >= GOOD_PAPERS
    sources = {p.title: p.source for p in qa.papers()}
    assert sources[KNOWN].endswith("seed.txt:3")
    assert sources["A Benchmark for Question Answering over Legal Contracts"].endswith("papers.bib:8")
    gen = qa.store.generation()
    assert gen >= 1

    # a second run, as a new process would do it: nothing changes, nothing is embedded
    again = make_qa(backend_settings, embedder)
    second = again.ingest(GOOD_FILES)
    assert (second.added, second.updated, second.unchanged, second.chunks_written) == (0, 0, GOOD_PAPERS, 0)
    assert second.rejected == [] and second.ok
    assert again.store.generation() == gen
    assert again.store.count_chunks() == first.chunks_written

    # and the store answers searches
    hits = again.retriever.retrieve("GlacierGNN forecasts Alpine glacier melt", k=3).hits
    assert hits[0].title == KNOWN
    if backend_settings.store.chroma_url:
        again.store.drop()


def test_folder_is_expanded_sorted(tmp_path: Path) -> None:
    assert expand_paths([GOOD]) == GOOD_FILES
    (tmp_path / "notes.md").write_text("not a source")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jsonl").write_text("{}")
    (tmp_path / "a.csv").write_text("x")
    assert expand_paths([tmp_path]) == [tmp_path / "a.csv", tmp_path / "sub" / "b.jsonl"]


def test_progress_is_reported(settings: Settings, embedder: Embedder) -> None:
    qa = make_qa(settings, embedder)
    calls: list[tuple[int, int]] = []
    run_ingest(GOOD_FILES, qa.store, embedder, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, GOOD_PAPERS) and calls[-1] == (GOOD_PAPERS, GOOD_PAPERS)
    calls.clear()
    run_ingest(GOOD_FILES, qa.store, embedder, progress=lambda done, total: calls.append((done, total)))
    assert calls == []  # nothing to embed, no bar


# --- updates, rebuild, embedder guard, duplicates --------------------------------------------------------------------


def test_changed_abstract_replaces_that_papers_chunks(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    """An update is a record with the same id (here an explicit one) and a changed abstract."""
    long_abstract = " ".join(f"Observation {i} describes how perovskite solar cells degrade under humid air and "
                             "ultraviolet light over many months of outdoor exposure." for i in range(25))
    other = ("Ocean Wave Height Prediction", "We predict ocean wave heights from buoy records.")
    v1 = write_jsonl(tmp_path / "v1.jsonl", {"id": "pvk-1", "title": "Perovskite Stability Study",
                                             "abstract": long_abstract}, other)
    qa = qa_factory()
    qa.ingest([v1])
    before = by_title(qa)["Perovskite Stability Study"]
    assert before.n_chunks >= 3
    assert qa.store.count_chunks() == before.n_chunks + 1

    new_abstract = "A zeolite coating keeps perovskite cells stable for 1,000 hours."
    v2 = write_jsonl(tmp_path / "v2.jsonl", {"id": "pvk-1", "title": "Perovskite Stability Study",
                                             "abstract": new_abstract}, other)
    report = qa_factory().ingest([v2])
    assert (report.added, report.updated, report.unchanged, report.chunks_written) == (0, 1, 1, 1)
    after = by_title(qa)["Perovskite Stability Study"]
    assert after.paper_id == before.paper_id == "pvk-1" and after.abstract == new_abstract and after.n_chunks == 1
    assert qa.store.count_chunks() == 2  # the old chunks are gone, not shadowed
    texts = qa.store.all_chunks()[2]
    assert not any("Observation 3 " in t for t in texts)
    assert f"Perovskite Stability Study\n{new_abstract}" in texts
    fresh = qa_factory()  # the new text is found by both retrievers
    for fusion in ("bm25", "dense"):
        assert fresh.retriever.retrieve("zeolite coating", k=1, fusion=fusion).hits[0].paper_id == after.paper_id


def test_rebuild_starts_over(settings: Settings, qa_factory: Callable[..., PaperQA]) -> None:
    first = qa_factory()
    first.ingest(GOOD_FILES)
    before = first.store.generation()
    rebuilt = qa_factory(rebuild=True)
    assert (rebuilt.store.count_papers(), rebuilt.store.count_chunks()) == (0, 0)  # the new set starts empty...
    assert qa_factory().store.count_papers() == GOOD_PAPERS  # ...beside the old store, which is live until then
    report = rebuilt.ingest([GOOD / "seed.txt"])
    assert report.added == 2 and report.papers_total == 2 and report.rebuilt
    assert rebuilt.store.generation() > before  # counts on, so no old BM25 index passes for the new store's
    assert {p.title for p in qa_factory().papers()} == {KNOWN, "Sparse Attention for Protein Contact Prediction"}
    # and lexical search no longer knows the dropped papers
    hits = rebuilt.retriever.retrieve("bee colony warehouse robots", k=5, fusion="bm25").hits
    assert all(h.title in {KNOWN, "Sparse Attention for Protein Contact Prediction"} for h in hits)


def test_embedder_mismatch_suggests_rebuild(settings: Settings, qa_factory: Callable[..., PaperQA]) -> None:
    qa_factory().ingest([GOOD / "seed.txt"])
    other = Settings(store=settings.store, embed=EmbedSettings(embed_name="acme/other-embedder"))
    with pytest.raises(EmbedderMismatchError) as info:
        PaperQA(settings=other)
    assert "--rebuild" in str(info.value)
    assert qa_factory().store.count_papers() == 2  # refusing did not touch the store
    switched = PaperQA(settings=other, rebuild=True)  # what the message suggests works
    assert switched.store.count_papers() == 0


def test_duplicates_across_files_are_stored_once(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", ("Attention Is All You Need", "Transformers use attention only."))
    b = tmp_path / "b.csv"
    b.write_text("title,abstract\n\"Attention is all you need!\",Transformers use attention only.\n"
                 "Another Paper,Something else entirely.\n", encoding="utf-8")
    qa = qa_factory()
    report = qa.ingest([a, b])
    # the same title and abstract, written differently: the first file's record is kept, the other merged into it
    assert (report.added, report.duplicates, report.merged, report.papers_total) == (2, 0, 1, 2)
    assert report.notes == [f"merged {b}:2 into {a}:1 (the same title and abstract; the first record is kept)"]
    assert [p.title for p in qa.papers()] == ["Another Paper", "Attention Is All You Need"]  # first file wins


# --- identity: issue 14's cases, each of which lost papers before ----------------------------------------------------


NON_LATIN = [("深度学习在医学影像中的应用", "我们综述深度学习在医学影像分析中的应用。"),
             ("التعلم العميق لتحليل الصور الطبية", "نستعرض تطبيقات التعلم العميق في تحليل الصور الطبية."),
             ("למידה עמוקה לניתוח תמונות רפואיות", "אנו סוקרים יישומים של למידה עמוקה בניתוח תמונות רפואיות."),
             ("🚀🌕", "A rocket to the moon, told in emoji."),
             ("Глубокое обучение", "Обзор методов глубокого обучения.")]


def test_non_latin_titles_are_distinct_papers(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    """Titles with no a-z letters used to share one id: within a file all but the first were dropped, across files
    each replaced the last."""
    qa = qa_factory()
    report = qa.ingest([write_jsonl(tmp_path / "one.jsonl", *NON_LATIN[:3])])
    assert (report.added, report.papers_total) == (3, 3)
    assert (report.duplicates, report.merged) == (0, 0)
    report = qa.ingest([write_jsonl(tmp_path / "two.jsonl", *NON_LATIN[3:])])
    assert (report.added, report.updated, report.papers_total) == (2, 0, 5)
    assert {p.title for p in qa.papers()} == {t for t, _ in NON_LATIN}
    hit = qa.retriever.retrieve("למידה עמוקה", k=1, fusion="dense").hits[0]
    assert hit.title == NON_LATIN[2][0]


def test_same_title_different_abstract_is_two_papers(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    """SciFact stored 5,180 of 5,183 abstracts: papers sharing a title but not an abstract collapsed into one."""
    qa = qa_factory()
    first = write_jsonl(tmp_path / "a.jsonl", ("Summary", "Cholesterol lowering reduces heart attacks."),
                        ("Summary", "Vitamin D does not prevent fractures in older adults."))
    report = qa.ingest([first])
    assert (report.added, report.papers_total) == (2, 2)
    assert (report.merged, report.same_title) == (0, 1)
    assert f"kept {first}:2 and {first}:1 as two papers: same title, different abstracts" in report.summary()
    second = write_jsonl(tmp_path / "b.jsonl", ("Summary", "Statins and memory loss: no link found."))
    report = qa.ingest([second])
    assert (report.added, report.updated, report.same_title, report.papers_total) == (1, 0, 1, 3)
    assert "same title and a different abstract" in report.summary()
    assert sorted(p.abstract for p in qa.papers()) == sorted(
        ["Cholesterol lowering reduces heart attacks.", "Vitamin D does not prevent fractures in older adults.",
         "Statins and memory loss: no link found."])


def test_within_file_duplicates_are_counted_and_named(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    """A repeat inside one file used to vanish with '0 duplicate(s) skipped'."""
    path = write_jsonl(tmp_path / "dups.jsonl", ("Kelp Forest Mapping", "Satellites map kelp canopies."),
                       ("Kelp Forest Mapping", "Satellites map kelp canopies."),
                       {"id": "k2", "title": "Urchin Barrens", "abstract": "Urchins graze kelp."},
                       {"id": "k2", "title": "Urchin Barrens (v2)", "abstract": "Urchins graze kelp forests."})
    qa = qa_factory()
    report = qa.ingest([path])
    assert (report.added, report.duplicates, report.papers_total) == (2, 1, 2)
    assert (report.records, report.merged) == (4, 1)
    assert report.notes == [f"skipped {path}:2: the same record as {path}:1",
                            f"merged {path}:4 into {path}:3 (the same id; the first record is kept)"]
    summary = report.summary()
    assert "1 duplicate(s) skipped, 1 merged" in summary and f"skipped {path}:2" in summary
    assert report.to_dict()["notes"] == report.notes


def test_explicit_id_update_and_title_abstract_match(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    """An update is an id match or the same title and abstract: a paper that gains a DOI keeps its vectors and moves
    to the DOI id; nothing is stored twice."""
    qa = qa_factory()
    qa.ingest([write_jsonl(tmp_path / "a.jsonl", ("Tidal Power", "We forecast tidal power."))])
    [before] = qa.papers()
    later = write_jsonl(tmp_path / "b.jsonl", {"doi": "10.1234/tide", "title": "Tidal power", "abstract":
                                               "We forecast tidal power.", "year": 2024})
    report = qa.ingest([later])
    assert (report.added, report.updated, report.papers_total) == (0, 1, 1)
    [after] = qa.papers()
    assert (after.paper_id, after.year) == ("doi:10.1234/tide", 2024) and before.paper_id.startswith("t:")
    assert f"updated {later}:1: stored as {before.paper_id}, now doi:10.1234/tide" in report.notes


def test_store_from_before_abstract_ids_is_migrated_once(tmp_path: Path, qa_factory: Callable[..., PaperQA],
                                                        embedder: Embedder) -> None:
    """A store whose ids hash the title only (paperqa before issue 14) keeps working and moves to the new ids on
    its next ingest, reusing its vectors; the ingest says so once."""
    from ingest.chunk import chunk_paper
    from ingest.parse import parse_file
    from paperqa.records import legacy_paper_id

    qa = qa_factory()
    legacy = [replace(p, paper_id=legacy_paper_id(p.title)) for p in parse_file(GOOD / "seed.txt")]
    for p in legacy:
        chunks = chunk_paper(p, embedder.count_tokens, 256)
        qa.store.write_papers([(p, chunks, embedder.encode([c.text for c in chunks]))])
    qa.store.bump_generation()
    assert {p.paper_id for p in qa.papers()} == {p.paper_id for p in legacy}  # it opens and reads as it was
    report = qa_factory().ingest([GOOD / "seed.txt"])
    assert (report.added, report.migrated, report.updated, report.papers_total) == (0, 2, 0, 2)
    assert "one-time migration" in report.summary()
    assert report.chunks_written == qa.store.count_chunks()  # moved, not embedded again
    assert {p.paper_id for p in qa.papers()} == {p.paper_id for p in parse_file(GOOD / "seed.txt")}
    again = qa_factory().ingest([GOOD / "seed.txt"])
    assert (again.migrated, again.unchanged, again.chunks_written) == (0, 2, 0)
    assert qa_factory().retriever.retrieve("GlacierGNN glacier melt", k=1).hits[0].title == KNOWN


def test_rebuild_with_a_rejected_file_keeps_the_old_store(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    qa = qa_factory()
    qa.ingest(GOOD_FILES)
    report = qa_factory().ingest([GOOD / "seed.txt", BAD / "bad_line.jsonl"], rebuild=True)
    assert report.rebuild and not report.rebuilt and not report.ok
    assert "--rebuild not applied" in report.summary()
    assert qa_factory().store.count_papers() == GOOD_PAPERS


# --- bad input: the file is rejected whole, the store is untouched, good files still go in ---------------------------


def _binary(tmp: Path) -> Path:
    path = tmp / "figure.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return path


def _empty(tmp: Path) -> Path:
    path = tmp / "empty.jsonl"
    path.write_bytes(b"")
    return path


def _latin1(tmp: Path) -> Path:
    path = tmp / "latin1.csv"
    path.write_bytes("title,abstract\nFine Paper,Fine.\nCaf\xe9 Culture Paper,An abstract.\n".encode("latin-1"))
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "does-not-exist.jsonl"


def _unsupported(tmp: Path) -> Path:
    path = tmp / "notes.md"
    path.write_text("# Title\n\nAbstract.\n", encoding="utf-8")
    return path


BAD_CASES = {
    "title_without_abstract": (lambda tmp: BAD / "title_no_abstract.txt", 4, "no abstract"),
    "bad_jsonl_line": (lambda tmp: BAD / "bad_line.jsonl", 2, "not valid JSON"),
    "csv_without_title_column": (lambda tmp: BAD / "no_title.csv", 1, "'title'"),
    "bibtex_without_abstract": (lambda tmp: BAD / "no_abstract.bib", 7, "no abstract"),
    "binary_file": (_binary, None, "binary"),
    "empty_file": (_empty, None, "no papers"),
    "non_utf8": (_latin1, 3, "UTF-8"),
    "missing_file": (_missing, None, "not found"),
    "unsupported_extension": (_unsupported, None, "unsupported file type"),
}
# good records inside the bad files: none of them may be stored
GOOD_RECORDS_IN_BAD_FILES = {
    "Volcanic Ash Dispersion Nowcasting", "Tidal Energy Site Selection", "Wildfire Smoke Forecasting with Transformers",
    "Avalanche Risk Mapping with Random Forests", "Fine Paper", "Soil Moisture Retrieval from Radar"}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_file_is_rejected_whole(case: str, tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    make, line, words = BAD_CASES[case]
    qa = qa_factory()
    qa.ingest([GOOD / "seed.txt"])
    known_before = by_title(qa)[KNOWN]
    count_before = qa.store.count_papers()

    bad = make(tmp_path)
    extra = write_jsonl(tmp_path / "extra.jsonl", ("Tidal Lagoon Power Forecasting", "We forecast tidal power."))
    report = qa_factory().ingest([bad, extra])

    assert not report.ok
    assert len(report.rejected) == 1
    rej = report.rejected[0]
    assert Path(rej.file) == bad and rej.line == line
    assert words.lower() in rej.reason.lower()
    where = f"{bad}:{line}" if line is not None else str(bad)
    assert f"rejected {where}: " in report.summary()
    assert report.to_dict()["rejected"] == [str(rej)]
    # the good file in the same run went in; nothing from the bad one did; what was there is intact
    assert report.added == 1 and report.papers_total == count_before + 1
    titles = set(by_title(qa))
    assert "Tidal Lagoon Power Forecasting" in titles
    assert not titles & GOOD_RECORDS_IN_BAD_FILES
    assert by_title(qa)[KNOWN] == known_before


def test_all_bad_files_leave_the_store_as_it_was(qa_factory: Callable[..., PaperQA]) -> None:
    qa = qa_factory()
    qa.ingest([GOOD / "seed.txt"])
    gen, chunks = qa.store.generation(), qa.store.count_chunks()
    report = qa_factory().ingest(sorted(BAD.iterdir()))
    assert len(report.rejected) == 4 and report.added == 0
    assert (qa.store.generation(), qa.store.count_chunks(), qa.store.count_papers()) == (gen, chunks, 2)


# --- crash leftovers -------------------------------------------------------------------------------------------------


class CrashOnAdd:
    """Stands in for the papers collection and fails where the paper record (the commit marker) is written."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def add(self, **kwargs: object) -> None:
        raise RuntimeError("simulated crash before the paper record is written")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_orphan_chunks_are_never_served_and_cleaned_up(tmp_path: Path, qa_factory: Callable[..., PaperQA],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    qa = qa_factory()
    qa.ingest([GOOD / "seed.txt"])
    complete_chunks = qa.store.count_chunks()
    crash_file = write_jsonl(tmp_path / "crash.jsonl", (
        "Quokkatron Marsupial Census", "The quokkatron drone counts quokkas on Rottnest Island every night."))

    monkeypatch.setattr(qa.store, "papers", CrashOnAdd(qa.store.papers))
    with pytest.raises(RuntimeError, match="simulated crash"):
        qa.ingest([crash_file])
    monkeypatch.undo()

    reader = qa_factory()  # a fresh process
    assert reader.store.count_chunks() > complete_chunks  # the orphan chunks are there...
    orphan_ids = {h.paper_id for h in reader.store.dense_search(reader.embedder.encode(["quokkatron"])[0], 10)}
    assert orphan_ids - {p.paper_id for p in reader.papers()}
    reader.store.bump_generation()  # make BM25 rebuild from the store as it is now
    for fusion in ("rrf", "dense", "bm25", "weighted"):  # ...but never served
        hits = reader.retriever.retrieve("quokkatron drone counts quokkas on Rottnest Island", k=5, fusion=fusion)
        assert all(h.paper_id not in orphan_ids - {p.paper_id for p in reader.papers()} for h in hits.hits)
        assert all(h.title != "Quokkatron Marsupial Census" for h in hits.hits)

    report = qa_factory().ingest([GOOD / "seed.txt"])  # any ingest removes them
    assert report.unchanged == 2 and report.added == 0
    assert reader.store.count_chunks() == complete_chunks
    assert set(reader.store.all_chunks()[1]) == {p.paper_id for p in reader.papers()}

    report = qa_factory().ingest([crash_file])  # and the interrupted paper goes in whole next time
    assert report.added == 1
    hit = qa_factory().retriever.retrieve("quokkatron", k=1, fusion="bm25").hits[0]
    assert hit.title == "Quokkatron Marsupial Census"


# --- the bundled corpus ----------------------------------------------------------------------------------------------


def test_full_corpus_is_stored(corpus: Corpus) -> None:
    report = corpus.report
    assert report.rejected == [], report.summary()
    assert report.added == CORPUS_PAPERS == report.papers_total == corpus.qa.store.count_papers()
    papers = corpus.qa.papers()
    assert len(papers) == CORPUS_PAPERS
    assert corpus.qa.store.count_chunks() == sum(p.n_chunks for p in papers) == report.chunks_written
    assert all(p.abstract and p.title for p in papers)
    assert lexical_index_dir(corpus.qa.store).is_relative_to(corpus.home)


def test_full_corpus_reingest_is_all_unchanged(corpus: Corpus, embedder: Embedder) -> None:
    gen = corpus.qa.store.generation()
    report = corpus.qa.ingest([CORPUS])
    assert isinstance(report, IngestReport)
    assert (report.added, report.updated, report.unchanged, report.chunks_written) == (0, 0, CORPUS_PAPERS, 0)
    assert corpus.qa.store.generation() == gen


def test_store_settings_home_is_used(tmp_path: Path, embedder: Embedder) -> None:
    home = tmp_path / "custom-home"
    qa = make_qa(default_settings(home), embedder)
    qa.ingest([GOOD / "seed.txt"])
    assert (home / "chroma").is_dir() and lexical_index_dir(qa.store).is_dir()
    assert lexical_index_dir(qa.store).is_relative_to(home)


def test_open_reader_survives_a_rebuild_by_another_process(tmp_path: Path, qa_factory: Callable[..., PaperQA]) -> None:
    """A chat that stays open while `paperqa ingest --rebuild` runs elsewhere: its collections are deleted and
    recreated under it. It must read the new store (not fail with "collection does not exist"), and its cached
    BM25 index must not pass for the new store's, which is why the generation keeps counting up."""
    v1 = write_jsonl(tmp_path / "v1.jsonl",
                     ("Perovskite Stability Study", "A zeolite coating keeps perovskite solar cells stable."),
                     ("Ocean Wave Height Prediction", "We predict ocean wave heights from buoy records."))
    reader = qa_factory()
    reader.ingest([v1])
    assert reader.retriever.retrieve("perovskite solar cells", k=1).hits[0].title == "Perovskite Stability Study"
    gen_before = reader.store.generation()

    v2 = write_jsonl(tmp_path / "v2.jsonl",
                     ("Glacier Melt Forecasting", "We forecast glacier melt in the Alps from weather station data."))
    qa_factory(rebuild=True).ingest([v2])

    assert [p.title for p in reader.papers()] == ["Glacier Melt Forecasting"]
    assert reader.store.generation() > gen_before
    hits = reader.retriever.retrieve("glacier melt", k=5).hits
    assert [h.title for h in hits] == ["Glacier Melt Forecasting"]
    assert reader.retriever.lexical().search("perovskite", 5) == []  # the old BM25 index is not reused


def test_scifact_corpus_is_read_as_given() -> None:
    """SciFact's BEIR corpus: 5,183 records, 5,183 papers, each with its `_id` as paper id (issue 15's benchmark
    joins qrels on these); nothing merged, though some titles repeat."""
    from ingest.pipeline import collect_papers

    corpus = CORPUS.parent.parent.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl"
    if not corpus.exists():
        corpus = Path("/work/shared/benchmarks/scifact/corpus.jsonl")
    if not corpus.exists():
        pytest.skip("the SciFact corpus (shared/benchmarks/scifact) is not on this machine")
    report = IngestReport()
    papers = collect_papers([corpus], report)
    ids = [json.loads(line)["_id"] for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [p.paper_id for p in papers] == ids and len(ids) == 5183
    assert (report.records, report.duplicates, report.merged, report.rejected) == (5183, 0, 0, [])
    assert report.same_title >= 1  # e.g. several abstracts titled "Summary": separate papers, and said so


def test_big_ingests_embed_in_bigger_batches() -> None:
    from ingest.pipeline import MAX_PAPERS_PER_BATCH, PAPERS_PER_BATCH, batch_size

    assert batch_size(10) == batch_size(274) == PAPERS_PER_BATCH  # the bundled corpus: unchanged
    assert batch_size(2000) == 250  # an eighth: the progress bar still moves
    assert batch_size(5183) == batch_size(100_000) == MAX_PAPERS_PER_BATCH
