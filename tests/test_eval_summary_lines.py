"""eval/summary_lines.py: a model line above the quote counts, a quote-first answer, a refusal or a list does not."""

from __future__ import annotations

from eval.summary_lines import summary_lines

QUOTE = "On ImageNet-256, RAR achieves an FID of 1.48."


def _row(answer: str, mode: str = "fact", refused: bool = False, system: str = "paperqa") -> dict:  # type: ignore[type-arg]
    return {"system": system, "mode": mode, "refused": refused, "answer": answer,
            "citations": [{"title": "RAR: Randomized Autoregressive Visual Generation", "quote": QUOTE}]}


def test_counts_only_model_lines_above_quotes() -> None:
    rows = [
        _row(f"RAR reaches an FID of 1.48 [1].\n\nRandomized Autoregressive Visual Generation: {QUOTE} [1]"),
        _row(f"Randomized Autoregressive Visual Generation: {QUOTE} [1]"),        # quote only: no model line
        _row("The papers here don't report that.", refused=True),                  # refusals are not counted
        _row("- RAR: …", mode="list"),                                             # nor lists
        _row("RAR reaches 1.48 [1].", system="bm25"),                              # nor other systems
    ]
    got = summary_lines(rows)
    assert got["answers"] == 2 and got["kept"] == 1 and got["share"] == 0.5 and got["median_words"] == 7
