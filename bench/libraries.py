"""Hand-written code against the libraries that replaced it (issue 14), measured on the same inputs.

    python -m bench.libraries [--before REV] [--scifact DIR] [--queries N]

- BM25: the scipy implementation at REV (default 2bdefac, before bm25s) against paperqa.lexical (bm25s), over the
  bundled corpus's chunks with the eval's dev questions, and over SciFact's 5,183 abstracts with its BEIR test
  claims: largest score difference, identical top-10 chunk lists, paper hit@1/5/10 and nDCG@10, build and query
  time.
- LaTeX: pylatexenc's latex_to_text against ingest.parse.clean_latex on every line of the bundled corpus: lines
  whose text differs, words lost, time.
- BibTeX: the hand-written parser at REV against the bibtexparser-based one on 16,000 generated entries.

Times are printed with their ratio; figures are noisy on a shared machine (the load average is printed too).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "trending-papers-274-abstracts.txt"
QUESTIONS = REPO / "eval" / "questions.jsonl"


def old_module(rev: str, path: str, name: str) -> ModuleType:
    """A module as it was at git revision `rev`, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="paperqa-before-"))
    file = folder / f"{name}.py"
    file.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def chunk_texts(papers: list) -> tuple[list[str], list[str], list[str]]:  # type: ignore[type-arg]
    from ingest.chunk import chunk_paper
    from paperqa.embed import Embedder
    from paperqa.settings import EmbedSettings

    emb = Embedder(EmbedSettings())
    ids, pids, texts = [], [], []
    for p in papers:
        for c in chunk_paper(p, emb.count_tokens, emb.settings.embed_max_tokens):
            ids.append(c.chunk_id)
            pids.append(p.paper_id)
            texts.append(c.text)
    return ids, pids, texts


def paper_ranking(hits: list) -> list[str]:  # type: ignore[type-arg]
    return list(dict.fromkeys(h.paper_id for h in hits))


def metrics(rankings: list[list[str]], gold: list[set[str]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in (1, 5, 10):
        out[f"hit@{k}"] = sum(bool(set(r[:k]) & g) for r, g in zip(rankings, gold, strict=True)) / len(gold)
    ndcg = 0.0
    for r, g in zip(rankings, gold, strict=True):
        dcg = sum(1 / math.log2(i + 2) for i, pid in enumerate(r[:10]) if pid in g)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(g), 10)))
        ndcg += dcg / ideal
    out["nDCG@10"] = ndcg / len(gold)
    return out


def compare_bm25(label: str, old: ModuleType, chunks: tuple[list[str], list[str], list[str]], queries: list[str],
                 gold: list[set[str]]) -> None:
    from paperqa.lexical import BM25Index

    results = {}
    for name, cls in (("before (scipy)", old.BM25Index), ("after (bm25s)", BM25Index)):
        t0 = time.perf_counter()
        index = cls.build(*chunks, generation=1)
        t1 = time.perf_counter()
        hits = [index.search(q, 40) for q in queries]
        t2 = time.perf_counter()
        results[name] = (hits, t1 - t0, t2 - t1)
    (before, b_build, b_query), (after, a_build, a_query) = results.values()
    diff, same_top = 0.0, 0
    for hb, ha in zip(before, after, strict=True):
        sb, sa = {h.chunk_id: h.score for h in hb}, {h.chunk_id: h.score for h in ha}
        diff = max([diff] + [abs(sb[c] - sa[c]) for c in sb.keys() & sa.keys()])
        same_top += [h.chunk_id for h in hb[:10]] == [h.chunk_id for h in ha[:10]]
    print(f"\nBM25 on {label}: {len(chunks[0])} chunks, {len(queries)} queries")
    print(f"  largest |score difference| {diff:.2e}; identical top-10 chunks for {same_top}/{len(queries)} queries")
    print(f"  build  before {b_build:.2f}s  after {a_build:.2f}s  (after/before {a_build / b_build:.2f})")
    print(f"  query  before {1000 * b_query / len(queries):.2f} ms  after {1000 * a_query / len(queries):.2f} ms "
          f"(after/before {a_query / b_query:.2f})")
    for name, (hits, _, _) in results.items():
        m = metrics([paper_ranking(h) for h in hits], gold)
        print(f"  {name:15} " + "  ".join(f"{k} {v:.3f}" for k, v in m.items()))


def bundled_case() -> tuple[tuple[list[str], list[str], list[str]], list[str], list[set[str]]]:
    from ingest.parse import parse_file

    papers = parse_file(CORPUS)
    by_title = {p.title: p.paper_id for p in papers}
    rows = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r.get("split") == "dev" and r.get("gold_titles")]
    return chunk_texts(papers), [r["question"] for r in rows], [{by_title[t] for t in r["gold_titles"]} for r in rows]


def scifact_case(folder: Path, n: int) -> tuple[tuple[list[str], list[str], list[str]], list[str], list[set[str]]]:
    from ingest.parse import parse_file

    papers = parse_file(folder / "corpus.jsonl")
    queries = {str(q["_id"]): q["text"] for q in map(json.loads, (folder / "queries.jsonl").open(encoding="utf-8"))}
    gold: dict[str, set[str]] = {}
    for line in (folder / "qrels_test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, cid, score = line.split("\t")
        if int(score) > 0:
            gold.setdefault(qid, set()).add(cid)
    qids = sorted(gold, key=int)[:n]
    return chunk_texts(papers), [queries[q] for q in qids], [gold[q] for q in qids]


def compare_latex() -> None:
    from pylatexenc.latex2text import LatexNodes2Text

    from ingest.parse import clean_latex, normalise_space

    lines = [ln for ln in CORPUS.read_text(encoding="utf-8").split("\n") if ln.strip()]
    converter = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
    timings, outputs = [], []
    for fn in (lambda t: clean_latex(t, drop_braces=False), converter.latex_to_text):
        t0 = time.perf_counter()
        outputs.append([normalise_space(fn(t)) for t in lines])
        timings.append(time.perf_counter() - t0)
    ours, lib = outputs
    differ = sum(a != b for a, b in zip(ours, lib, strict=True))
    lost = sum(len(set(re.findall(r"[^\W\d_]+", a)) - set(re.findall(r"[^\W\d_]+", b)))
               for a, b in zip(ours, lib, strict=True))
    print(f"\nLaTeX -> Unicode on the bundled corpus ({len(lines)} lines): pylatexenc's output differs on {differ} "
          f"lines and drops {lost} words ours keeps; time ours {timings[0] * 1000:.0f} ms, pylatexenc "
          f"{timings[1] * 1000:.0f} ms ({timings[1] / timings[0]:.0f}x)")


def compare_bibtex(rev: str) -> None:
    from ingest.parse import parse_bytes

    old = old_module(rev, "ingest/parse.py", "parse_before")
    data = "".join(f"@misc{{k{i},\n title = {{Paper {i} on $\\alpha$}},\n author = {{Doe, Jane and Roe, R.}},\n"
                   f" abstract = {{Abstract {i} with {{braces}} \\& 10\\%.}}}}\n" for i in range(16_000)).encode()
    timings: list[float] = []
    results = []
    fn: Callable[[bytes, str], list]  # type: ignore[type-arg]
    for fn in (old.parse_bytes, parse_bytes):
        t0 = time.perf_counter()
        results.append(fn(data, "gen.bib"))
        timings.append(time.perf_counter() - t0)
    same = [(p.title, p.abstract, p.authors) for p in results[0]] == [(p.title, p.abstract, p.authors)
                                                                       for p in results[1]]
    print(f"\nBibTeX, 16,000 entries: same papers {same}; hand-written {timings[0]:.2f}s, bibtexparser "
          f"{timings[1]:.2f}s (after/before {timings[1] / timings[0]:.2f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.libraries", description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="2bdefac", help="git revision of the hand-written code (default 2bdefac)")
    ap.add_argument("--scifact", default=str(REPO.parent / "shared" / "benchmarks" / "scifact"),
                    help="folder with SciFact's BEIR files (default ../shared/benchmarks/scifact)")
    ap.add_argument("--queries", type=int, default=300, help="SciFact test claims to search (default all 300)")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    old_lexical = old_module(args.before, "paperqa/lexical.py", "lexical_before")
    compare_bm25("the bundled corpus, dev questions", old_lexical, *bundled_case())
    scifact = Path(args.scifact)
    if (scifact / "corpus.jsonl").exists():
        compare_bm25(f"SciFact (first {args.queries} BEIR test claims)", old_lexical,
                     *scifact_case(scifact, args.queries))
    else:
        print(f"\n(SciFact not found at {scifact}; skipped)")
    compare_latex()
    compare_bibtex(args.before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
