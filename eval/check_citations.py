"""Check the citations of an evaluation run against the corpus: the guarantee paperqa makes, counted.

Every citation of a paperqa-engine system must point to a paper among that answer's retrieved sources, and its
quote must be one whole sentence of that paper's abstract (as paperqa splits it). The LlamaIndex baseline cites
chunks, not sentences, so only the first rule applies to it.

Usage: python eval/check_citations.py RUN_DIR [--corpus CORPUS_FILE]
Importable: check_rows(rows, corpus) -> {system: {"citations", "not_retrieved", "not_a_sentence"}}.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingest.parse import parse_file  # noqa: E402
from paperqa.sentences import sentence_spans  # noqa: E402

DEFAULT_CORPUS = REPO / "data" / "trending-papers-274-abstracts.txt"
SENTENCE_CITING = ("paperqa", "bm25", "dense")


def abstract_sentences(corpus: Path = DEFAULT_CORPUS) -> dict[str, set[str]]:
    """paper_id -> the sentences of its abstract, as the engine quotes them."""
    out: dict[str, set[str]] = {}
    for paper in parse_file(corpus):
        out[paper.paper_id] = {paper.abstract[a:b].strip() for a, b in sentence_spans(paper.abstract)}
    return out


def check_rows(rows: Iterable[Mapping[str, Any]], sentences: Mapping[str, set[str]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        c = counts.setdefault(row["system"], {"citations": 0, "not_retrieved": 0, "not_a_sentence": 0})
        retrieved = {s["paper_id"] for s in row.get("sources", [])}
        for cite in row.get("citations", []):
            c["citations"] += 1
            if cite["paper_id"] not in retrieved:
                c["not_retrieved"] += 1
            if row["system"] in SENTENCE_CITING and cite["quote"].strip() not in sentences.get(cite["paper_id"], ()):
                c["not_a_sentence"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="an eval/results/<date>-<label> folder (reads its rows.jsonl)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args(argv)
    rows = [json.loads(line) for line in (args.run_dir / "rows.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    counts = check_rows(rows, abstract_sentences(args.corpus))
    bad = False
    for system, c in counts.items():
        rule = "quote a sentence" if system in SENTENCE_CITING else "(cites chunks)"
        print(f"{system:12s} {c['citations']:4d} citations; not a retrieved paper: {c['not_retrieved']}; "
              f"{rule}: {c['not_a_sentence']} failures")
        bad |= system in SENTENCE_CITING and c["not_retrieved"] + c["not_a_sentence"] > 0
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
