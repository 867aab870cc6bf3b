"""Matching names, words and numbers between questions and abstracts."""

from __future__ import annotations

import pytest

from paperqa.terms import entity_phrases, key_terms, numbers, squash, term_in, word_root


@pytest.mark.parametrize(("term", "text", "found"), [
    ("GPUs", "trained on 8 GPU nodes", True),             # plural in the question only
    ("BERT-style", "a BERT model for Polish", True),      # a suffix the abstract doesn't use
    ("LLMs", "large language models are costly", True),  # an acronym spelled out
    ("Emu", "we simulate physics", False),                # a short name is a whole word, not a substring
    ("Emu", "We present Emu, a model", True),
    ("top-5", "top-1 accuracy of 5 percent", False),      # a bare number is not a name
    ("Polish BERT-style", "Polish language models based on BERT", True),  # every word of a name, anywhere
    ("TransTIC", "we propose TransTIC", True),
    ("TransTIC", "a transformer codec", False),
])
def test_term_in(term: str, text: str, found: bool) -> None:
    assert term_in(term, squash(text), text) is found


@pytest.mark.parametrize(("a", "b"), [("achieves", "achieved"), ("estimate", "estimation"),
                                      ("fine-tune", "fine-tuning"), ("image", "images")])
def test_word_root_folds_inflections(a: str, b: str) -> None:
    assert word_root(a) == word_root(b)


def test_numbers_skip_links_and_digits_inside_names() -> None:
    assert numbers("FID 1.48 on ImageNet-256, code at https://x.io/v2") == {"1.48", "256"}
    assert numbers("trained on 12,041 GPUs") == {"12041"}
    assert "33" not in numbers("the sh33 model")


def test_entity_phrases_keep_numbers_inside_names_and_skip_first_person() -> None:
    assert entity_phrases("What is System 2 Attention?") == ["System 2 Attention"]
    assert entity_phrases("Does Llama 2 help?") == ["Llama"]  # a number closing a run is not part of the name
    assert entity_phrases("I'm looking for work on Marigold") == ["Marigold"]


def test_entity_phrases_join_names_and_skip_openers() -> None:
    assert entity_phrases("Both Emu and JetFormer generate images") == ["Emu", "JetFormer"]
    assert entity_phrases("How does the Attention Free Transformer work?") == ["Attention Free Transformer"]
    assert "ViTok" in key_terms("What does ViTok do?")
