"""Scale: retrieval latency, build time, disk and memory on synthetic corpora of 1k, 10k and 100k papers.

    python -m bench.scale [--sizes 1000,10000,100000] [--real 1000] [--queries 40]

Papers are made by recombining sentences of the bundled corpus (abstract lengths drawn from the real ones; titles
are real titles with a serial number). They are chunked by paperqa's chunker, written with PaperStore.write_papers
into a temp embedded Chroma, and the BM25 index is built with paperqa's build_lexical_index. Chunk vectors are real
embeddings (computed once, cached under ~/.cache/paperqa/bench-scale) for the sizes in --real, and random unit
vectors for the others (the output says which). Each size runs in its own process, so its peak RSS is its own.
Latency goes through paperqa.retrieve.Retriever: embed query + dense + BM25 + fusion (+ paper records).
Targets: p95 <= 50 ms at 10k and <= 150 ms at 100k.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import ROOT, dir_size_mb, load_questions, machine, machine_line, p50, pct, rss_peak_mb, save, table

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "paperqa" / "bench-scale"
SEED = 13


def synthetic_papers(n: int, seed: int = SEED) -> list[object]:
    """`n` papers recombined from the bundled corpus's sentences; deterministic for a seed."""
    from bench.common import corpus_papers
    from paperqa.records import Paper, SourceRef, make_paper_id
    from paperqa.sentences import split_sentences

    real = corpus_papers()
    pool = [s for _, a in real for s in split_sentences(a)]
    lengths = [len(split_sentences(a)) for _, a in real]
    titles = [t for t, _ in real]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        title = f"{rng.choice(titles)} ({i})"
        abstract = " ".join(rng.sample(pool, rng.choice(lengths)))
        out.append(Paper(paper_id=make_paper_id(title), title=title, abstract=abstract,
                         source=SourceRef("synthetic", i + 1)))
    return out


def _token_counter(embedder: object) -> object:
    """Exact word-piece counts, memoised: synthetic abstracts reuse the same sentences over and over."""
    cache: dict[str, int] = {}
    count = embedder.count_tokens  # type: ignore[attr-defined]

    def counted(text: str) -> int:
        v = cache.get(text)
        if v is None:
            v = cache[text] = count(text)
        return v

    return counted


def run_one(size: int, real: bool, queries: int, backend: str, home: Path | None = None) -> dict[str, object]:
    """Build a store of `size` synthetic papers in a temp folder and time retrieval on it (this process only)."""
    from ingest.chunk import chunk_paper
    from paperqa.embed import Embedder
    from paperqa.retrieve import Retriever, build_lexical_index
    from paperqa.settings import EmbedSettings, RetrievalSettings, StoreSettings
    from paperqa.store import PaperStore

    home = home or Path(tempfile.mkdtemp(prefix=f"pqbench-scale-{size}-"))
    try:
        embedder = Embedder(EmbedSettings(), backend=backend)  # type: ignore[arg-type]
        t = time.perf_counter()
        papers = synthetic_papers(size)
        count = _token_counter(embedder)
        chunked = [(p, chunk_paper(p, count, embedder.settings.embed_max_tokens)) for p in papers]  # type: ignore[arg-type,attr-defined]
        n_chunks = sum(len(cs) for _, cs in chunked)
        make_s = time.perf_counter() - t

        t = time.perf_counter()
        kind = "random unit vectors"
        vec_file = CACHE / f"{size}-{SEED}-{backend}-{n_chunks}.npy"
        if real:
            kind = f"real ({backend}, cached)" if vec_file.exists() else f"real ({backend}, computed now)"
            if vec_file.exists():
                vecs = np.load(vec_file)
            else:
                vecs = embedder.encode([c.text for _, cs in chunked for c in cs])
                CACHE.mkdir(parents=True, exist_ok=True)
                np.save(vec_file, vecs)
        else:
            rng = np.random.default_rng(SEED)
            vecs = rng.standard_normal((n_chunks, embedder.dim), dtype=np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        vec_s = time.perf_counter() - t

        store = PaperStore(StoreSettings(home=home), embedder.name, embedder.dim)
        t = time.perf_counter()
        pos = 0
        batch = 1000
        for i in range(0, len(chunked), batch):
            items = []
            for p, cs in chunked[i:i + batch]:
                items.append((p, cs, vecs[pos:pos + len(cs)]))
                pos += len(cs)
            store.write_papers(items)
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        build_lexical_index(store, store.bump_generation())
        bm25_s = time.perf_counter() - t
        disk = dir_size_mb(home)

        retriever = Retriever(store, embedder, RetrievalSettings())
        qs = [str(q["question"]) for q in load_questions("all")][:queries]
        retriever.retrieve(qs[0])  # warm: loads the embedder and the BM25 index
        lat: dict[str, list[float]] = {}
        stages: dict[str, list[float]] = {}
        for q in qs:
            for fusion in ("dense", "bm25", "rrf"):
                r = retriever.retrieve(q, fusion=fusion)
                lat.setdefault(fusion, []).append(r.timings_ms["retrieve"])
                if fusion == "rrf":
                    for k, v in r.timings_ms.items():
                        stages.setdefault(k, []).append(v)
        return {
            "size": size, "chunks": n_chunks, "vectors": kind, "make_s": round(make_s, 2), "vectors_s": round(vec_s, 2),
            "chroma_write_s": round(write_s, 2), "bm25_build_s": round(bm25_s, 2),
            "build_s": round(write_s + bm25_s, 2), "disk_mb": round(disk, 1), "peak_rss_mb": round(rss_peak_mb(), 1),
            "queries": len(qs),
            "latency_ms": {f: {"p50": round(p50(v), 2), "p95": round(pct(v, 95), 2)} for f, v in lat.items()},
            "rrf_stages_ms": {k: {"p50": round(p50(v), 2), "p95": round(pct(v, 95), 2)} for k, v in stages.items()},
        }
    finally:
        shutil.rmtree(home, ignore_errors=True)


def loglog_exponent(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Slope of log(y) against log(x): how the measure grows with corpus size (1 = linear)."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    a = np.array(pts)
    return float(np.polyfit(a[:, 0], a[:, 1], 1)[0])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--real", default="1000", help="sizes that get real embeddings (comma list; others random)")
    ap.add_argument("--queries", type=int, default=40, help="questions timed per size (eval questions)")
    ap.add_argument("--backend", default="onnx-int8", help="embedder backend for real vectors and queries")
    ap.add_argument("--timeout", type=int, default=2400, help="seconds allowed per size")
    ap.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)  # child mode: one size, JSON out
    ap.add_argument("--home", default="", help=argparse.SUPPRESS)  # child mode: the parent's temp folder
    args = ap.parse_args(argv)
    real_sizes = {int(x) for x in args.real.split(",") if x}
    if args.one:
        res = run_one(args.one, args.one in real_sizes, args.queries, args.backend,
                      Path(args.home) if args.home else None)
        print("@@" + json.dumps(res))
        return 0

    m0 = machine()
    print(machine_line(m0))
    results: list[dict[str, object]] = []
    failures: dict[str, str] = {}
    t_all = time.perf_counter()
    for size in [int(x) for x in args.sizes.split(",") if x]:
        t = time.perf_counter()
        home = Path(tempfile.mkdtemp(prefix=f"pqbench-scale-{size}-"))  # ours, so a killed child leaves nothing
        try:
            proc = subprocess.run([sys.executable, "-m", "bench.scale", "--one", str(size), "--real", args.real,
                                   "--queries", str(args.queries), "--backend", args.backend, "--home", str(home)],
                                  cwd=str(ROOT), capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            failures[str(size)] = f"did not finish within {args.timeout}s"
            print(f"{size}: did not finish within {args.timeout}s")
            continue
        finally:
            shutil.rmtree(home, ignore_errors=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("@@")), None)
        if line is None:
            failures[str(size)] = proc.stderr[-2000:]
            print(f"{size}: failed\n{proc.stderr[-2000:]}")
            continue
        res = json.loads(line[2:])
        res["wall_s"] = round(time.perf_counter() - t, 1)
        results.append(res)
        lat = res["latency_ms"]
        print(f"{size} papers: {res['chunks']} chunks, {res['vectors']}, build {res['build_s']}s, "
              f"rrf p95 {lat['rrf']['p95']} ms, wall {res['wall_s']}s", flush=True)

    rows = []
    for r in results:
        lat = r["latency_ms"]
        st = r["rrf_stages_ms"]
        rows.append([r["size"], r["chunks"], r["vectors"], f"{lat['dense']['p50']:.1f}/{lat['dense']['p95']:.1f}",
                     f"{lat['bm25']['p50']:.1f}/{lat['bm25']['p95']:.1f}",
                     f"{lat['rrf']['p50']:.1f}/{lat['rrf']['p95']:.1f}",
                     f"{st['embed_query']['p50']:.1f}", f"{st['dense']['p50']:.1f}", f"{st['bm25']['p50']:.1f}",
                     f"{st['fuse']['p50']:.1f}", r["build_s"], r["disk_mb"], r["peak_rss_mb"]])
    print("\nRetrieval through paperqa.retrieve.Retriever (ms, p50/p95 per question; each includes embedding the "
          "query); rrf stages p50")
    print(table(["papers", "chunks", "vectors", "dense", "bm25", "rrf (fused)", "embed", "dense st", "bm25 st",
                 "fuse st", "build s", "disk MB", "peak RSS MB"], rows))
    sizes = [float(r["size"]) for r in results]
    fits: dict[str, float | None] = {}
    for name, getter in {
        "dense_p50": lambda r: r["latency_ms"]["dense"]["p50"], "dense_p95": lambda r: r["latency_ms"]["dense"]["p95"],
        "bm25_p50": lambda r: r["latency_ms"]["bm25"]["p50"], "bm25_p95": lambda r: r["latency_ms"]["bm25"]["p95"],
        "rrf_p50": lambda r: r["latency_ms"]["rrf"]["p50"], "rrf_p95": lambda r: r["latency_ms"]["rrf"]["p95"],
        "dense_stage_p50": lambda r: r["rrf_stages_ms"]["dense"]["p50"],
        "bm25_stage_p50": lambda r: r["rrf_stages_ms"]["bm25"]["p50"],
        "build_s": lambda r: r["build_s"], "disk_mb": lambda r: r["disk_mb"], "peak_rss_mb": lambda r: r["peak_rss_mb"],
    }.items():
        fits[name] = loglog_exponent(sizes, [float(getter(r)) for r in results])  # type: ignore[no-untyped-call]
    print("\nlog-log exponents vs corpus size (1.0 = linear): "
          + ", ".join(f"{k} {v:.2f}" for k, v in fits.items() if v is not None))
    targets = {}
    for r in results:
        if r["size"] == 10000:
            targets["rrf_p95_10k<=50ms"] = r["latency_ms"]["rrf"]["p95"] <= 50
        if r["size"] == 100000:
            targets["rrf_p95_100k<=150ms"] = r["latency_ms"]["rrf"]["p95"] <= 150
    print(f"targets: {targets}; failures: {failures or 'none'}; total {time.perf_counter() - t_all:.0f}s")
    m1 = machine()
    print(machine_line(m1))
    path = save("scale", {"results": results, "loglog_exponents": fits, "targets": targets, "failures": failures,
                          "total_s": round(time.perf_counter() - t_all, 1), "loadavg_start": m0["loadavg"],
                          "loadavg_end": m1["loadavg"]})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
