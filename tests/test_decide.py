"""The fitted decisions: the shipped models load, read the features the engine computes, and say what they mean."""

from __future__ import annotations

import json

from paperqa.decide import (
    ANSWERABLE_FEATURES,
    DECISIONS_PATH,
    MEMBER_FEATURES,
    PAPER_FEATURES,
    VERDICT_FEATURES,
    LinearModel,
    load_decisions,
    metric_carried,
    verdict_features,
)
from paperqa.evidence import FEATURES, Sentence


def test_shipped_decisions_are_fitted_with_cross_validated_figures() -> None:
    data = json.loads(DECISIONS_PATH.read_text(encoding="utf-8"))
    assert set(data["models"]) == {"sentence", "answerable", "member", "verdict", "paper"}
    cv = data["cross_validation"]
    assert cv["answerable"]["false_refusal_dev"] <= cv["answerable"]["target_false_refusal"]
    assert data["training_data"]["dev_questions"] > 0
    d = load_decisions()
    assert d.sentence.features == FEATURES and d.answerable.features == ANSWERABLE_FEATURES
    assert d.member.features == MEMBER_FEATURES and d.verdict.features == VERDICT_FEATURES
    assert d.paper.features == PAPER_FEATURES
    # the fitted paper choice is no worse than taking retrieval's first paper, out of fold, on each source
    paper = cv["paper"]
    assert paper["top1_dev"] >= paper["retrieval_first_dev"]
    assert paper["top1_scifact"] >= paper["retrieval_first_scifact"]
    assert 0 < d.answerable.threshold < 1


def test_linear_model_is_a_standardised_logistic() -> None:
    m = LinearModel("t", ("a", "b"), (2.0, -1.0), 0.5, (1.0, 0.0), (2.0, 1.0))
    assert abs(m.prob({"a": 1.0, "b": 0.0}) - 0.6225) < 1e-3  # sigmoid(0.5)
    assert m.prob({"a": 5.0, "b": 0.0}) > m.prob({"a": 1.0, "b": 0.0})
    assert LinearModel.from_dict("t", m.to_dict()) == m


def _s(text: str) -> Sentence:
    return Sentence("p", "T", text, 0, len(text), 0, 1, 0.7, {"cover": 0.5})


def test_verdict_features_see_negation_in_scope() -> None:
    claim = "DragView need to explicitly estimate camera poses"
    said_no = _s("Crucially, our framework does not rely on either 2D prior models or the explicit estimation of "
                 "camera poses.")
    said_yes = _s("DragView explicitly estimates camera poses for every support image.")
    assert verdict_features(claim, said_no)["neg_mismatch"] == 1.0
    assert verdict_features(claim, said_yes)["neg_mismatch"] == 0.0
    # a negation in another clause says nothing about the claim
    other = _s("Without any 3D supervision, DragView explicitly estimates camera poses.")
    assert verdict_features(claim, other)["neg_mismatch"] == 0.0


def test_a_word_the_sentence_also_affirms_is_not_negated() -> None:
    s = _s("We use reversible residual layers instead of the standard residuals.")
    assert verdict_features("Reformer uses reversible residual layers", s)["neg_mismatch"] == 0.0
    assert verdict_features("Reformer uses standard residual layers", s)["neg_mismatch"] == 1.0


def test_what_a_sentence_replaces_is_not_used() -> None:
    claim = "ViTok is built on a convolutional backbone"
    replaced = _s("We replace the typical convolutional backbone with an enhanced Vision Transformer.")
    assert verdict_features(claim, replaced)["neg_mismatch"] == 1.0
    # what replaces it is used, and "replaced" as an adjective negates nothing
    assert verdict_features("ViTok uses an enhanced Vision Transformer", replaced)["neg_mismatch"] == 0.0
    adjective = _s("We train it with the pre-training task of replaced token detection.")
    assert verdict_features("It is trained with a replaced token detection task", adjective)["neg_mismatch"] == 0.0


def test_falling_short_and_non_prefixes_negate() -> None:
    short = _s("T5 outperforms all other models, but still falls short of the human baseline.")
    assert verdict_features("T5 matches the human baseline", short)["neg_mismatch"] == 1.0
    non = _s("Frieren is a non-autoregressive generator of spectrogram latents.")
    assert verdict_features("Frieren is an autoregressive audio generator", non)["neg_mismatch"] == 1.0
    assert verdict_features("Frieren generates spectrogram latents", non)["neg_mismatch"] == 0.0


def test_verdict_features_see_opposite_directions() -> None:
    assert verdict_features("Aspirin increases bleeding risk", _s("Aspirin reduced bleeding risk."))[
        "direction_mismatch"] == 1.0
    assert verdict_features("Aspirin increases bleeding risk", _s("Aspirin increased bleeding risk."))[
        "direction_mismatch"] == 0.0


def test_a_quantity_is_carried_by_its_words_or_initials_beside_a_number() -> None:
    metric = ["word", "error"]
    assert metric_carried(metric, "Conformer reaches a word error rate of 2.1% on LibriSpeech.") == 1.0
    assert metric_carried(metric, "Conformer reaches WER of 2.1%/4.3% without a language model.") == 1.0
    # the words elsewhere than beside the number, or initials that spell something else, carry nothing
    far = "Word errors fall sharply in every setting we tried, while the model keeps 30M parameters."
    assert metric_carried(metric, far) == 0.0
    assert metric_carried(metric, "It reaches a BLEU of 27.3 on WMT.") == 0.0
    assert metric_carried([], "Anything at all.") == 1.0


def test_a_model_without_a_sure_cut_off_uses_its_threshold() -> None:
    """Decision files written before the stricter cut-off existed (and models that have none) use the threshold."""
    d = {"features": ["a"], "coef": [1.0], "intercept": 0.0, "mean": [0.0], "scale": [1.0], "threshold": 0.4}
    assert LinearModel.from_dict("answerable", d).sure_cut == 0.4
    model = LinearModel.from_dict("answerable", {**d, "sure": 0.7})
    assert model.sure_cut == 0.7 and LinearModel.from_dict("answerable", model.to_dict()) == model
