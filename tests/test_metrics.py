"""Tests for eval/metrics.py: each metric on hand-made cases whose value was worked out by hand."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    aggregate,
    answer_correct,
    answer_sentences,
    citation_precision,
    citation_recall,
    citation_support,
    claim_entities,
    claim_grounding,
    claim_numbers,
    dcg,
    hit_at_k,
    marker_numbers,
    metrics_from_rows,
    ndcg_at_k,
    norm_title,
    percentile,
    question_scores,
    recall_at_k,
    reciprocal_rank,
    sentence_supported,
)

RANKED = ["Paper X", "Gold A", "Paper Y", "Gold B", "Paper Z", "Paper W"]
GOLD = ["Gold A", "Gold B", "Gold C"]


def test_titles_match_ignoring_case_and_punctuation() -> None:
    assert norm_title("TunesFormer: Forming Tunes!") == norm_title("tunesformer forming  tunes")
    assert hit_at_k(["GOLD-a"], ["Gold A"], 1) == 1.0


def test_hit_at_k() -> None:
    assert hit_at_k(RANKED, GOLD, 1) == 0.0
    assert hit_at_k(RANKED, GOLD, 2) == 1.0
    assert hit_at_k(RANKED, GOLD, 5) == 1.0
    assert hit_at_k(["P", "Q"], GOLD, 5) == 0.0
    assert hit_at_k([], GOLD, 5) == 0.0


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(RANKED, GOLD) == 0.5
    assert reciprocal_rank(["Gold B"], GOLD) == 1.0
    assert reciprocal_rank(["a", "b", "c", "Gold C"], GOLD) == 0.25
    assert reciprocal_rank(["a"], GOLD) == 0.0


def test_recall_at_k() -> None:
    assert recall_at_k(RANKED, GOLD, 10) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, GOLD, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["Gold A", "Gold A"], GOLD, 10) == pytest.approx(1 / 3)  # a duplicate is one paper
    with pytest.raises(ValueError):
        recall_at_k(RANKED, [], 10)


def test_dcg_by_hand() -> None:
    # gains 3, 2, 0, 1 at ranks 1..4: 3/1 + 2/log2(3) + 0 + 1/log2(5)
    assert dcg([3, 2, 0, 1]) == pytest.approx(3 + 2 / 1.5849625007 + 1 / 2.3219280949)


def test_ndcg_binary_counts_unretrieved_gold_in_the_ideal() -> None:
    # Gold at ranks 2 and 4; a third gold paper never retrieved.
    # DCG = 1/log2(3) + 1/log2(5) = 0.630930 + 0.430677 = 1.061606
    # IDCG (all three relevant, best first) = 1 + 0.630930 + 0.5 = 2.130930 -> nDCG = 0.498189
    assert ndcg_at_k(RANKED, {g: 1 for g in GOLD}, 10) == pytest.approx(0.498189, abs=1e-6)
    # The mistake this guards against: an ideal built from the retrieved relevant items only (2 of them) would give
    # 1.061606 / 1.630930 = 0.650915.
    assert ndcg_at_k(RANKED, {g: 1 for g in GOLD}, 10) != pytest.approx(0.650915, abs=1e-3)


def test_ndcg_ideal_is_capped_at_k() -> None:
    # k = 2, five relevant items, both top-2 slots relevant: DCG = IDCG = 1 + 1/log2(3) -> 1.0
    rel = {f"g{i}": 1 for i in range(5)}
    assert ndcg_at_k(["g3", "g0", "x"], rel, 2) == pytest.approx(1.0)
    # Only rank 2 relevant at k = 2: 0.630930 / 1.630930 = 0.386853
    assert ndcg_at_k(["x", "g1"], rel, 2) == pytest.approx(0.386853, abs=1e-6)


def test_ndcg_graded_by_hand() -> None:
    rel = {"A": 3, "B": 2, "C": 1}
    # ranking C, x, A: DCG = 1/1 + 0 + 3/log2(4) = 1 + 1.5 = 2.5
    # IDCG = 3 + 2/log2(3) + 1/log2(4) = 3 + 1.261860 + 0.5 = 4.761860 -> 0.525006
    assert ndcg_at_k(["C", "x", "A"], rel, 10) == pytest.approx(2.5 / 4.761860, abs=1e-6)
    assert ndcg_at_k(["A", "B", "C"], rel, 10) == pytest.approx(1.0)
    # k = 1: DCG = 1 (C), IDCG = 3 -> 1/3
    assert ndcg_at_k(["C", "A", "B"], rel, 1) == pytest.approx(1 / 3)


def test_ndcg_counts_a_repeated_title_once() -> None:
    # Without dedup "A A" would give 1 + 0.63 > IDCG of a single relevant item and nDCG > 1.
    assert ndcg_at_k(["A", "A"], {"A": 1}, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "A", "A"], {"A": 1}, 10) == pytest.approx(1 / math.log2(3))


def test_answer_correct() -> None:
    assert answer_correct("ViTok needs 2-5X fewer FLOPs.", ["2-5x"]) is True
    assert answer_correct("It reaches 10.8% of the time, 675 days", ["10.8%", "675"]) is True
    assert answer_correct("It reaches 10.8% of the time", ["10.8%", "675"]) is False
    assert answer_correct("anything", []) is None
    assert answer_correct("The closest papers are: GReaT", ["GReaT"], refused=True) is False


def test_citation_precision_and_recall() -> None:
    cited = ["Gold A", "Paper X", "Gold A", "Gold B"]
    assert citation_precision(cited, GOLD) == pytest.approx(3 / 4)  # every citation counts
    assert citation_recall(cited, GOLD) == pytest.approx(2 / 3)  # distinct gold papers
    assert citation_precision([], GOLD) is None
    assert citation_recall([], GOLD) == 0.0


def test_marker_numbers() -> None:
    assert marker_numbers("1") == [1]
    assert marker_numbers("1, 3-5") == [1, 3, 4, 5]
    assert marker_numbers("2–3") == [2, 3]


def test_answer_sentences_split_lines_and_sentences() -> None:
    text = ("Papers here that bear on this:\n- A: does x [1]\n- B: does y [2]\n"
            "RAR reaches 1.48 FID [3]. It beats others. [4]")
    got = answer_sentences(text)
    assert got == [("- A: does x", [1]), ("- B: does y", [2]), ("RAR reaches 1.48 FID.", [3]),
                   ("It beats others.", [4])]


def test_claim_terms() -> None:
    assert claim_numbers("trained on 178,238 models with 2-5x fewer FLOPs and 1.48 FID") == {"178238", "2", "5",
                                                                                            "1.48"}
    ents = claim_entities("The model RAR beats Stable Diffusion on ImageNet-256 with GReaT.")
    assert ents == ["RAR", "Stable", "Diffusion", "ImageNet-256", "GReaT"]
    assert claim_entities("Transformers are good.") == []  # sentence-initial capital is not a name


def test_sentence_supported() -> None:
    quote = "On the ImageNet-256 benchmark, RAR achieves an FID score of 1.48."
    assert sentence_supported("RAR reaches an FID of 1.48 on ImageNet-256.", [quote])
    assert not sentence_supported("RAR reaches an FID of 1.52 on ImageNet-256.", [quote])  # wrong number
    assert not sentence_supported("MaskBit reaches an FID of 1.48.", [quote])  # wrong name
    assert not sentence_supported("RAR reaches 1.4 FID.", [quote])  # 1.4 is not 1.48
    assert sentence_supported("It is better.", [quote])  # nothing to check


def test_citation_support_and_grounding_by_hand() -> None:
    cites = [{"n": 1, "title": "Randomized Autoregressive Visual Generation", "quote": "RAR achieves an FID of 1.48."},
             {"n": 2, "title": "MaskBit", "quote": "MaskBit reaches 1.52 FID with 305M parameters."}]
    # sentence 1 supported by [1]; sentence 2 cites [1] but its numbers are in [2]; sentence 3 has no citation.
    answer = "RAR achieves an FID of 1.48 [1]. MaskBit uses 305M parameters [1]. MaskBit reaches 1.52 FID."
    assert citation_support(answer, cites) == pytest.approx(1 / 3)
    # grounding ignores which marker: all three sentences' terms appear somewhere in the cited texts
    assert claim_grounding(answer, cites) == pytest.approx(1.0)
    assert claim_grounding("RAR reaches 9.99.", cites) == 0.0
    assert citation_support("", cites) is None
    assert claim_grounding("Anything [1].", []) == 0.0


def test_percentile_linear_interpolation() -> None:
    xs = [10.0, 20.0, 30.0, 40.0]
    assert percentile(xs, 50) == pytest.approx(25.0)  # position 1.5
    assert percentile(xs, 95) == pytest.approx(38.5)  # position 2.85 -> 30 + 0.85 * 10
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 50) is None


def _row(system: str, qid: str, qtype: str, split: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {"system": system, "id": qid, "type": qtype, "split": split, "answer": "",
                               "refused": False, "citations": [], "sources": [], "gold_titles": [],
                               "must_include": [], "timings_ms": {"total": 100.0, "first_token": 50.0}}
    base.update(kw)
    return base


def test_question_scores_and_aggregate_by_hand() -> None:
    rows = [
        _row("s", "q1", "fact", "dev", answer="RAR reaches 1.48 [1].", gold_titles=["RAR paper"],
             must_include=["1.48"], sources=[{"title": "RAR paper"}, {"title": "Other"}],
             citations=[{"n": 1, "title": "RAR paper", "quote": "RAR gets 1.48."}],
             timings_ms={"total": 1000.0, "first_token": 400.0}),
        _row("s", "q2", "fact", "test", answer="No idea.", refused=True, gold_titles=["B paper"],
             must_include=["7"], sources=[{"title": "Other"}, {"title": "B paper"}],
             timings_ms={"total": 3000.0, "first_token": 800.0}),
        _row("s", "q3", "unanswerable", "test", answer="Refused.", refused=True, sources=[{"title": "Other"}],
             timings_ms={"total": 2000.0, "first_token": 600.0}),
    ]
    s1 = question_scores(rows[0])
    assert (s1["hit@1"], s1["mrr"], s1["correct"], s1["citation_precision"], s1["citation_support"]) == \
        (1.0, 1.0, True, 1.0, 1.0)
    s2 = question_scores(rows[1])
    assert (s2["hit@1"], s2["hit@5"], s2["mrr"], s2["correct"], s2["citation_recall"]) == (0.0, 1.0, 0.5, False, 0.0)
    assert s2["citation_precision"] is None and s2["citation_support"] is None
    assert question_scores(rows[2])["hit@1"] is None

    agg = aggregate(rows)
    assert agg["n"] == 3 and agg["n_answerable"] == 2
    assert agg["hit@1"] == pytest.approx(0.5)
    assert agg["mrr"] == pytest.approx(0.75)
    assert agg["ndcg@10"] == pytest.approx((1.0 + 1 / math.log2(3)) / 2)
    assert agg["correct"] == pytest.approx(0.5)
    assert agg["citation_precision"] == pytest.approx(1.0)  # only q1 cited anything
    assert agg["citation_recall"] == pytest.approx(0.5)
    assert agg["refusal_rate"] == pytest.approx(1.0)
    assert agg["false_refusal_rate"] == pytest.approx(0.5)
    assert agg["latency_total_p50_ms"] == pytest.approx(2000.0)
    assert agg["latency_first_token_p95_ms"] == pytest.approx(780.0)  # 600 + 0.9 * 200

    m = metrics_from_rows(rows + [_row("t", "q1", "fact", "dev", gold_titles=["RAR paper"])])
    assert list(m) == ["s", "t"]
    assert m["s"]["by_split"]["test"]["n"] == 2
    assert m["s"]["by_type"]["unanswerable"]["refusal_rate"] == 1.0
    assert m["s"]["by_split_type"]["dev"]["fact"]["hit@1"] == 1.0
    assert m["t"]["all"]["hit@5"] == 0.0
