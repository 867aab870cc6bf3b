"""How often the model's one-line answer survived verification in an eval run (the figure that tells the model
profiles apart, since the quotes below it are the engine's whatever the model).

    python eval/summary_lines.py eval/results/<run>/rows.jsonl [...]

Counts paperqa's fact and "which paper" answers (the only ones the model writes for) that were not refused, and
those whose first paragraph is the model's line: it quotes none of the cited sentences, which follow it.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def summary_lines(rows: list[dict]) -> dict[str, float]:  # type: ignore[type-arg]
    cand = [r for r in rows if r["system"] == "paperqa" and r["mode"] in ("fact", "identify") and not r["refused"]]
    kept = []
    for r in cand:
        first = r["answer"].split("\n\n")[0]
        quotes = [c["quote"].strip() for c in r["citations"]]
        if "\n\n" in r["answer"] and quotes and not any(q[:60] in first for q in quotes):
            kept.append(len(first.split()))
    return {"answers": len(cand), "kept": len(kept), "share": round(len(kept) / max(len(cand), 1), 2),
            "median_words": statistics.median(kept) if kept else 0}


def main(argv: list[str] | None = None) -> int:
    for path in argv if argv is not None else sys.argv[1:]:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
        print(path, summary_lines(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
