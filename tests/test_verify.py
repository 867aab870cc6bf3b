"""Verification of model-written sentences against abstract sentences."""

from __future__ import annotations

from paperqa.evidence import Sentence
from paperqa.verify import attached, degenerate, draft_sentences, support, verify_draft

RAR = ("On the ImageNet-256 benchmark, RAR achieves an FID score of 1.48, not only surpassing prior state-of-the-art "
       "autoregressive image generators but also outperforming leading diffusion-based methods.")
MASKBIT = "MaskBit reaches an FID of 1.52 on ImageNet 256x256 with a 305M-parameter generator."


def sentence(text: str, title: str = "RAR: Randomized Autoregressive Visual Generation") -> Sentence:
    return Sentence("p1", title, text, 0, len(text), 0, 1, 0.8, {})


def test_a_number_must_stand_next_to_the_same_quantity() -> None:
    assert attached("RAR reaches an FID of 1.48.", RAR)
    # right digits, wrong quantity: 305 is the generator's size, not an FID
    assert not attached("MaskBit reaches an FID of 305.", MASKBIT)


def test_support_needs_numbers_names_and_words() -> None:
    assert support("RAR achieves an FID score of 1.48 on ImageNet-256.", sentence(RAR)) >= 0.5
    assert support("RAR achieves an FID score of 1.52 on ImageNet-256.", sentence(RAR)) == 0.0  # number absent
    assert support("MaskGIT achieves an FID score of 1.48.", sentence(RAR)) == 0.0  # name absent
    assert support("RAR is the fastest generator.", sentence(RAR)) == 0.0  # a relation the source lacks


def test_degenerate_drafts_never_pass() -> None:
    title = "RAR: Randomized Autoregressive Visual Generation"
    q = "What FID does RAR reach on ImageNet-256?"
    assert degenerate("What FID does RAR reach on ImageNet-256?", q, [title])  # the question, echoed
    assert degenerate("RAR: Randomized Autoregressive Visual Generation.", q, [title])  # the title, echoed
    assert degenerate("I don't know.", q, [title])
    assert not degenerate("RAR reaches an FID of 1.48 on ImageNet-256.", q, [title])


def test_repeated_sentences_count_once_and_cut_off_tail_is_dropped() -> None:
    draft = "RAR reaches 1.48. RAR reaches 1.48. And then it"
    assert draft_sentences(draft) == ["RAR reaches 1.48."]


def test_verify_draft_keeps_supported_and_drops_the_rest() -> None:
    draft = "RAR achieves an FID score of 1.48 on ImageNet-256. It also beats GPT-4 by 7.7 points."
    kept, dropped = verify_draft(draft, "What FID does RAR reach on ImageNet-256?", [sentence(RAR)], 0.5)
    assert [k.text for k in kept] == ["RAR achieves an FID score of 1.48 on ImageNet-256."]
    assert dropped == ["It also beats GPT-4 by 7.7 points."]
