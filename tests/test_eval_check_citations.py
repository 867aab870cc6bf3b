"""eval/check_citations.py on the real corpus: it must catch a quote that is not a sentence of the cited abstract
and a citation of a paper that was not retrieved, and pass real ones."""

from __future__ import annotations

import json
from pathlib import Path

from eval.check_citations import abstract_sentences, check_rows, main
from ingest.parse import parse_file
from paperqa.sentences import sentence_spans

CORPUS = Path(__file__).resolve().parents[1] / "data" / "trending-papers-274-abstracts.txt"


def rows() -> list[dict]:
    papers = parse_file(CORPUS)
    a, b = papers[0], papers[1]
    s, e = sentence_spans(a.abstract)[0]
    first = a.abstract[s:e]
    src = [{"rank": 1, "paper_id": a.paper_id, "title": a.title, "score": 1.0}]
    cite = {"n": 1, "paper_id": a.paper_id, "title": a.title, "quote": first}
    return [
        {"system": "paperqa", "sources": src, "citations": [cite]},
        {"system": "paperqa", "sources": src, "citations": [{**cite, "quote": first[: len(first) // 2]}]},
        {"system": "bm25", "sources": src, "citations": [{**cite, "paper_id": b.paper_id, "title": b.title}]},
        {"system": "llamaindex", "sources": src, "citations": [{**cite, "quote": a.abstract}]},
    ]


def test_check_rows_counts_each_kind_of_bad_citation() -> None:
    counts = check_rows(rows(), abstract_sentences(CORPUS))
    assert counts["paperqa"] == {"citations": 2, "not_retrieved": 0, "not_a_sentence": 1}  # half a sentence
    assert counts["bm25"] == {"citations": 1, "not_retrieved": 1, "not_a_sentence": 1}  # b was not retrieved
    assert counts["llamaindex"] == {"citations": 1, "not_retrieved": 0, "not_a_sentence": 0}  # chunks are fine


def test_main_fails_on_a_bad_run_and_passes_a_clean_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    good = tmp_path / "good"
    for folder, items in ((bad, rows()), (good, [rows()[0], rows()[3]])):
        folder.mkdir()
        (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    assert main([str(bad)]) == 1
    assert main([str(good)]) == 0
