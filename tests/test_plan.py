"""The question plan: intent, names, parts, sides and claims read from the question's form, once."""

from __future__ import annotations

import pytest

from paperqa.plan import Asks, Intent, make_plan


@pytest.mark.parametrize(("question", "intent"), [
    ("What FID does RAR reach on ImageNet-256?", Intent.FACT),
    ("How many parameters does CogView2's transformer have?", Intent.FACT),
    ("How much faster is FlashAttention compared to the PyTorch baseline?", Intent.FACT),  # "compared" asks a number
    ("Which dataset does RAR use?", Intent.FACT),  # asks a name of a named thing
    ("What is Vcc and how does it work?", Intent.EXPLAIN),
    ("How does Reformer make Transformers cheaper on long sequences?", Intent.EXPLAIN),
    ("Explain the idea behind Tokens-to-Token ViT.", Intent.EXPLAIN),
    ("Can you explain what DenseFormer changes in the transformer?", Intent.EXPLAIN),
    ("What problem does LazyDiffusion solve, and how?", Intent.EXPLAIN),
    ("How was Searchformer trained to search with fewer steps than A*?", Intent.EXPLAIN),
    ("Why does PoolFormer replace attention with pooling?", Intent.EXPLAIN),
    ("What does iTransformer change about the Transformer for forecasting?", Intent.EXPLAIN),
    ("Which benchmark was built to compare efficient attention variants?", Intent.IDENTIFY),
    ("How do Speechformer and DASpeech differ?", Intent.COMPARE),
    ("What is the difference between Instant3D and Flex3D in how many views they use?", Intent.COMPARE),
    ("HAT vs TurboViT: how do they search for architectures?", Intent.COMPARE),
    ("PoolFormer and Decision ConvFormer both build on MetaFormer: what token mixer does each use?", Intent.COMPARE),
    ("Compare StyleSwin with ViTGAN.", Intent.COMPARE),
    ("Does MeshGPT use graph convolutions?", Intent.YESNO),
    ("Is DevFormer equipped with relative positional embeddings?", Intent.YESNO),
    ("To move its codec to machine tasks, does TransTIC fine-tune the codec?", Intent.YESNO),
    ("Is it true that ALDH1 expression is associated with poor prognosis?", Intent.YESNO),
    ("Which method turns a language model into a tabular data generator?", Intent.IDENTIFY),
    ("What is the name of the framework that pairs LLM and vision agents?", Intent.IDENTIFY),
    ("Is there a paper that pre-trains a transformer for Arabic?", Intent.IDENTIFY),
    ("Which papers here apply transformers to music?", Intent.LIST),
    ("List the papers about speech synthesis.", Intent.LIST),
    ("What work is there on generating graphic-design layouts?", Intent.LIST),
    # a capitalised head noun is part of a name ("System"), a possessive or ", and why?" asks for the idea
    ("What is Stable Cascade Network and how does it work?", Intent.EXPLAIN),
    ("What is MeshPad's key idea for editing meshes?", Intent.EXPLAIN),
    ("What does PoolFormer remove, and why?", Intent.EXPLAIN),
    ("Which project fine-tunes GPT-2 on recipes?", Intent.IDENTIFY),
    ("MaskBit and RAR both generate ImageNet images - what does each change?", Intent.COMPARE),
    ("I'm looking for surveys on transformers for time series - which ones are there?", Intent.LIST),
    ("I'm looking for a paper that writes piano covers from pop songs.", Intent.IDENTIFY),
    ("I'm looking for survey papers on graph transformers. Which ones are here?", Intent.LIST),
    ("What do 'Attention Is All You Need' and 'Reformer: The Efficient Transformer' report?", Intent.COMPARE),
    ("Are there surveys on speeding up transformers? List them.", Intent.LIST),
    ("I care about music generation. Which papers cover that?", Intent.LIST),
    ("Which speech models are in the collection?", Intent.LIST),
    ("What's here on graph transformers?", Intent.LIST),
    ("How does GenCAD relate to DeepCAD?", Intent.COMPARE),
    ("What does LazyDiffusion actually do to the image?", Intent.EXPLAIN),
    ("How does MaskGIT decide how many tokens to keep at each step?", Intent.EXPLAIN),  # "how many" is inside
    # one "how" put to two names, and a paper set against the work it builds on
    ("How do FastSpeech and AlignTTS get phoneme durations?", Intent.COMPARE),
    ("How does Decision ConvFormer build on PoolFormer?", Intent.COMPARE),
    ("How does RAR improve on raster-order autoregressive models?", Intent.EXPLAIN),  # one name: how it does it
    # whether the library holds such a thing: one paper, or all of them
    ("Is there a transformer for protein design here?", Intent.IDENTIFY),
    ("Does any paper here train a transformer to play Go?", Intent.IDENTIFY),
    ("Has anyone made transformers do arithmetic?", Intent.IDENTIFY),
    ("Are there surveys on graph transformers?", Intent.LIST),
    ("Do any of these papers use transformers for weather forecasting?", Intent.LIST),
])
def test_intent_from_the_question_form(question: str, intent: Intent) -> None:
    assert make_plan(question).intent is intent


def test_a_quantity_asked_in_a_clause_of_its_own_counts() -> None:
    assert make_plan("How does MaskGIT decide how many tokens to keep?").parts[0].asks is Asks.STATEMENT
    assert make_plan("How many parameters does MaskGIT have?").parts[0].asks is Asks.QUANTITY
    assert make_plan("How does MeshPad differ from MeshGPT, and what improvements does each report?").asks_number
    assert make_plan("Do Reformer and Combiner both cut attention cost?").sides == ("Reformer", "Combiner")


def test_a_number_inside_a_name_joins_it() -> None:
    plan = make_plan("What is System 2 Attention and how does it work?")
    assert plan.intent is Intent.EXPLAIN and plan.subject == "System 2 Attention"
    assert make_plan("MaskBit and RAR both generate images - how does each do it?").sides == ("MaskBit", "RAR")


def test_names_join_adjacent_capitalised_words() -> None:
    plan = make_plan("How does the Attention Free Transformer get rid of dot product attention?")
    assert plan.entities[0] == "Attention Free Transformer"
    assert plan.subject == "Attention Free Transformer"


@pytest.mark.parametrize(("question", "sides"), [
    ("How do Speechformer and DASpeech differ in the task they tackle?", ("Speechformer", "DASpeech")),
    ("What's the difference between Instant3D and Flex3D?", ("Instant3D", "Flex3D")),
    ("HAT vs TurboViT: how do they search?", ("HAT", "TurboViT")),
    ("Emu and JetFormer both generate images. How do they represent images differently?", ("Emu", "JetFormer")),
    ("According to Greenformers, when is the Low-Rank Transformer preferable to Linformer and vice versa?",
     ("Low-Rank Transformer", "Linformer")),
])
def test_compare_sides(question: str, sides: tuple[str, str]) -> None:
    plan = make_plan(question)
    assert plan.intent is Intent.COMPARE
    assert plan.sides[:2] == sides


def test_compare_keeps_the_aspect() -> None:
    plan = make_plan("How do Speechformer and DASpeech differ in the translation task they tackle?")
    assert "translation task" in plan.aspect


def test_two_questions_in_one_are_two_parts() -> None:
    plan = make_plan("What FID does MaskBit reach on ImageNet 256x256, and how large is its generator?")
    assert plan.intent is Intent.FACT
    assert [p.asks for p in plan.parts] == [Asks.QUANTITY, Asks.QUANTITY]
    assert plan.parts[0].metric == "fid"
    assert "MaskBit" in plan.parts[1].text  # the second part's "its" is the first part's subject


def test_one_question_is_one_part() -> None:
    plan = make_plan("What FID does RAR reach on ImageNet-256?")
    assert len(plan.parts) == 1 and plan.parts[0].asks is Asks.QUANTITY and plan.parts[0].metric == "fid"


@pytest.mark.parametrize(("question", "metric"), [
    ("How many languages does MiniMax-Speech support?", "languages"),
    ("What ImageNet top-1 accuracy does Bamboo reach?", "top-1 accuracy"),
    ("How many GPU hours does HAT take?", "gpu hours"),
    ("What scores does AVESFormer report on S4?", ""),  # "scores" names no quantity in particular
    ("How much faster is FastSpeech than a Transformer TTS?", ""),  # a comparative: "speeds up … by 270x"
    ("What fraction of the training time does PixArt need?", ""),  # a ratio: "10.8% of …"
])
def test_metric_words(question: str, metric: str) -> None:
    assert make_plan(question).parts[0].metric == metric
    assert make_plan(question).parts[0].asks is Asks.QUANTITY


@pytest.mark.parametrize("question", [
    "What mean opinion score (MOS) does FastSpeech obtain on LJSpeech?",  # a generic word after its qualifier
    "What FID (lower is better) does RAR reach?",                          # a parenthesis before the verb
])
def test_a_quantity_is_asked_whatever_follows_its_name(question: str) -> None:
    assert make_plan(question).parts[0].asks is Asks.QUANTITY


def test_a_name_ask_is_not_a_quantity() -> None:
    assert make_plan("What dataset does RAR use?").parts[0].asks is Asks.NAME


def test_yes_no_claim_and_subject() -> None:
    plan = make_plan("Does DragView need to explicitly estimate camera poses?")
    assert plan.subject == "DragView"
    assert plan.claim == "DragView need to explicitly estimate camera poses"
    assert make_plan("Is it true that aspirin reduces fever?").claim == "aspirin reduces fever"


@pytest.mark.parametrize(("question", "choice"), [
    ("Does BERTopic cluster with HDBSCAN or k-means?", True),
    ("When the tokenizer is scaled, does enlarging its encoder or its decoder help more?", True),
    ("Does DragView need to explicitly estimate camera poses?", False),
    ("Is it true that aspirin or ibuprofen reduces fever?", False),  # a statement put to the test keeps its verdict
    ("Does the method work whether or not labels exist?", False),
    ("Does the model rely on melody or chord extraction?", False),  # after a verb of need: any of them?
    ("Do I need a GPU or special software to run it?", False),
])
def test_a_yes_no_form_offering_alternatives_is_a_choice(question: str, choice: bool) -> None:
    assert make_plan(question).choice is choice


def test_follow_up_takes_the_previous_subject() -> None:
    assert make_plan("What dataset did it use?", previous_subject="RAR").query == "What dataset did RAR use?"
    assert make_plan("And the FID?", previous_subject="RAR").query == "And the FID in RAR?"
    # a question that names its own subject is left alone
    plan = make_plan("What FID does MaskBit reach?", previous_subject="RAR")
    assert plan.query == "What FID does MaskBit reach?" and not plan.follow_up


def test_link_questions_are_marked() -> None:
    assert make_plan("Where is the code for HAT released?").asks_link
    assert not make_plan("What FID does RAR reach?").asks_link


@pytest.mark.parametrize(("question", "exists"), [
    ("Is there a paper that writes piano covers from pop songs?", True),
    ("Are there surveys on graph transformers?", True),
    ("Has anyone made transformers do arithmetic?", True),
    ("Which paper writes piano covers from pop songs?", False),
    ("Does Pop2Piano use melody extraction?", False),
    ("Is there a difference between MaskGIT and RAR in decoding order?", False),  # a comparison, not existence
])
def test_a_question_that_asks_whether_the_library_holds_something(question: str, exists: bool) -> None:
    assert make_plan(question).exists is exists
