"""Sentence splitting: citations quote these spans, so they must be real sentences with exact offsets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperqa.records import Paper
from paperqa.sentences import sentence_spans, split_sentences


@pytest.mark.parametrize(("text", "expected"), [
    ("As shown by Vaswani et al. (2017), attention works. Fig. 2 shows the results.",
     ["As shown by Vaswani et al. (2017), attention works.", "Fig. 2 shows the results."]),
    ("Prior work [Smith et al., 2020] fails. Our method wins.",
     ["Prior work [Smith et al., 2020] fails.", "Our method wins."]),
    ("Other methods, e.g. DiT, are slower. Ours, i.e. RAR, is not.",
     ["Other methods, e.g. DiT, are slower.", "Ours, i.e. RAR, is not."]),
    ("See Sec. 4.2 and Eq. (3) for details. Tab. 1 lists costs.",
     ["See Sec. 4.2 and Eq. (3) for details.", "Tab. 1 lists costs."]),
    ("We use approx. 5 GPUs vs. 8 GPUs. This is cheap.", ["We use approx. 5 GPUs vs. 8 GPUs.", "This is cheap."]),
    ("The U.S. Army uses it. It works.", ["The U.S. Army uses it.", "It works."]),
    ("As J. Smith noted, it works. We agree.", ["As J. Smith noted, it works.", "We agree."]),
])
def test_abbreviations_do_not_end_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("On ImageNet-256, RAR achieves an FID score of 1.48. It beats diffusion models.",
     ["On ImageNet-256, RAR achieves an FID score of 1.48.", "It beats diffusion models."]),
    ("Accuracy is 95.3%. Latency drops by 2.5x. Version 1.5.2 is out.",
     ["Accuracy is 95.3%.", "Latency drops by 2.5x.", "Version 1.5.2 is out."]),
    ("Values end a sentence: 1.48. 2.5 starts the next.", ["Values end a sentence: 1.48.", "2.5 starts the next."]),
    ("It saves 26,000 vs. 320,000 dollars. Good.", ["It saves 26,000 vs. 320,000 dollars.", "Good."]),
])
def test_decimals_do_not_end_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Is it fast? Yes! It is.", ["Is it fast?", "Yes!", "It is."]),
    ("Results improve (see Fig. 3). The end.", ["Results improve (see Fig. 3).", "The end."]),
    ('He said "it works." Then he left.', ['He said "it works."', "Then he left."]),
    ("Code is at https://github.com/x/y. We thank all.", ["Code is at https://github.com/x/y.", "We thank all."]),
    ("α-decay is modelled. Β-sheets form. 中文 follows.", ["α-decay is modelled.", "Β-sheets form.", "中文 follows."]),
    ("no final stop", ["no final stop"]),
    ("lower case after a stop. does not split.", ["lower case after a stop. does not split."]),
    ("", []),
    ("   \n ", []),
])
def test_sentence_boundaries(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_offsets_are_exact_and_trimmed() -> None:
    text = "  Leading space. We reach 1.48 FID (Fig. 2).\tTrailing tab.   "
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["Leading space.", "We reach 1.48 FID (Fig. 2).", "Trailing tab."]
    assert spans[0][0] == 2
    assert spans[-1][1] == len(text.rstrip())


_ALPHABET = "abcXYZ19 .!?()\"'-,α\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=200))
def test_spans_partition_the_text(text: str) -> None:
    """Spans are ordered, disjoint, trimmed, and together hold every non-space character exactly once."""
    spans = sentence_spans(text)
    prev_end = 0
    for a, b in spans:
        assert prev_end <= a < b <= len(text)
        piece = text[a:b]
        assert piece == piece.strip() and piece
        assert text[prev_end:a].strip() == ""
        prev_end = b
    assert text[prev_end:].strip() == ""
    assert "".join("".join(text[a:b].split()) for a, b in spans) == "".join(text.split())


def test_bundled_corpus_never_splits_after_an_abbreviation(corpus_papers: list[Paper]) -> None:
    endings = (" al.", "e.g.", "i.e.", "Fig.", "Eq.", "vs.", "etc.)")
    n_sentences = 0
    for paper in corpus_papers:
        spans = sentence_spans(paper.abstract)
        n_sentences += len(spans)
        for a, b in spans[:-1]:
            assert not paper.abstract[a:b].endswith(endings), paper.abstract[a:b]
    assert n_sentences > 5 * len(corpus_papers)  # abstracts really are cut into sentences
