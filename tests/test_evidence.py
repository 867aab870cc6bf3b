"""Evidence gathering helpers that need no store: how a name is matched to a paper's title."""

from __future__ import annotations

from paperqa.evidence import acronym_in_title, defines, names_in_head


def test_a_short_name_may_be_spelt_by_title_initials() -> None:
    assert acronym_in_title("DeiT", "Training data-efficient image transformers & distillation through attention")
    assert acronym_in_title("EET", "Easy and Efficient Transformer : Scalable Inference Solution For large NLP model")
    # initials that are not consecutive, a lower-case word, or a long phrase are not such a name
    assert not acronym_in_title("GPT", "Generative Pretraining in Multimodality")
    assert not acronym_in_title("deit", "Training data-efficient image transformers")
    assert not acronym_in_title("Vision Transformer", "Vision Transformer")


def test_a_name_in_a_title_head_names_the_paper() -> None:
    assert names_in_head(["RAR"], "RAR: Randomized Autoregressive Visual Generation")
    assert not names_in_head(["Transformer"], "Scaling Autoregressive Models for Content-Rich Text-to-Image Generation")


def test_an_abstract_defines_its_own_name() -> None:
    assert defines("RAR", "This paper presents Randomized AutoRegressive modeling (RAR) for visual generation.")
    assert defines("PoolFormer", "the derived model, termed as PoolFormer, achieves competitive performance")
    # a baseline the abstract compares with is mentioned, not defined
    assert not defines("DeiT", "surpassing well-tuned baselines DeiT-B/ResMLP-B24 by 0.3%/1.1% accuracy")


def test_names_given_as_examples_are_examples() -> None:
    from paperqa.evidence import _example

    q = "Which papers turn a diffusion model such as Stable Diffusion into a depth estimator (e.g. Marigold or X)?"
    assert _example("Stable Diffusion", q) and _example("Marigold", q)
    assert not _example("Stable Diffusion", "Which papers fine-tune Stable Diffusion for depth?")
