"""The answer engine on the bundled corpus: the pipeline's contract, each intent's composer, the model's summary
line and its verification, refusals, streaming and chat.

Unit tests of the model's part script it with FakeLLM (named `test_fake_*`); the integration tests at the end use the
real default GGUF model and check structure and grounding, never wording.
"""

from __future__ import annotations

import re

import pytest
from conftest import Corpus

from paperqa.answer import Answer, AnswerEngine, Progress, Token
from paperqa.compose import _rest_of_question
from paperqa.errors import QuestionError
from paperqa.evidence import Sentence
from paperqa.llm import FakeLLM
from paperqa.sentences import sentence_spans

RAR = "Randomized Autoregressive Visual Generation"
RAR_Q = "What FID does RAR reach on ImageNet-256?"
RAR_CLAIM = "RAR achieves an FID score of 1.48 on ImageNet-256."
LIST_Q = "Which papers here apply transformers to music?"
TO_DICT_KEYS = {"question", "answer", "refused", "citations", "sources", "timings_ms", "model", "mode",
                "standalone_question", "intent", "subject", "confidence", "unsupported", "draft", "prompt_tokens",
                "completion_tokens", "closest"}


def run(corpus: Corpus, question: str, fake: FakeLLM, **kw: object) -> tuple[list[Token], Answer]:
    """Every event of one streamed answer: the tokens and the final Answer (which must come last, once)."""
    events = list(corpus.qa.engine.stream(question, llm=fake, **kw))  # type: ignore[arg-type]
    answers = [e for e in events if isinstance(e, Answer)]
    assert len(answers) == 1 and events[-1] is answers[0]
    assert all(isinstance(e, Progress | Token) for e in events[:-1])
    return [e for e in events if isinstance(e, Token)], answers[0]


def markers(text: str) -> list[int]:
    """Citation numbers in the order they first appear in the answer text."""
    return list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", text)))


def assert_grounded(corpus: Corpus, ans: Answer) -> None:
    """The contract every answer keeps, whatever the model wrote."""
    assert set(ans.to_dict()) == TO_DICT_KEYS
    assert [s.rank for s in ans.sources] == list(range(1, len(ans.sources) + 1))
    source_ids = {s.paper_id for s in ans.sources}
    stored = corpus.qa.store.get_papers([c.paper_id for c in ans.citations + ans.closest])
    for c in ans.citations + ans.closest:
        assert c.paper_id in source_ids
        abstract = stored[c.paper_id].abstract
        assert c.title == stored[c.paper_id].title
        assert abstract[c.start:c.end] == c.quote, "the quote must sit at its offsets in the stored abstract"
        assert (c.start, c.end) in sentence_spans(abstract), "the quote must be one whole sentence"
    assert [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
    assert markers(ans.answer) == [c.n for c in ans.citations], "numbered 1..n in order of first use"
    if ans.refused:
        assert ans.citations == [] and ans.mode == "refused" and ans.closest
    else:
        assert ans.citations and ans.mode != "refused" and ans.closest == []


def quotes(ans: Answer) -> str:
    return " ".join(c.quote for c in ans.citations)


def without_timings(ans: Answer) -> dict[str, object]:
    d = ans.to_dict()
    d.pop("timings_ms")
    return d


# --- each intent's composer (no model involved) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def quiet(corpus: Corpus) -> AnswerEngine:
    """The engine with the model's summary line off: answers are the composers' alone."""
    qa = corpus.qa
    return AnswerEngine(qa.retriever, qa.embedder, FakeLLM([]), qa.settings.answer.model_copy(
        update={"model_summary": False}), qa.settings.llm, qa.settings.retrieval, qa.sentence_vectors)


def test_fact_quotes_the_sentence_that_states_the_number(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask(RAR_Q)
    assert_grounded(corpus, ans)
    assert ans.intent == "fact" and ans.mode == "fact" and not ans.refused
    assert ans.citations[0].title.endswith(RAR) and "1.48" in ans.answer
    assert ans.draft == "" and ans.timings_ms["generate"] == 0.0  # nothing waited for the model


def test_multi_part_fact_answers_each_part(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("What FID does MaskBit reach on ImageNet 256x256, and how large is its generator?")
    assert_grounded(corpus, ans)
    assert "1.52" in ans.answer and "305M" in ans.answer


def test_each_part_gets_the_sentence_for_its_own_words(corpus: Corpus, quiet: AnswerEngine) -> None:
    """The second part asks how fast inference is: its sentence is the one about inference, though the sentence
    model (which reads the whole question) rates the 'more humanlike' sentence higher."""
    ans = quiet.ask("Which work trains a neural policy on expert esports match recordings so that bots in a "
                    "tactical first-person shooter behave more humanlike, and how fast is its inference?")
    assert_grounded(corpus, ans)
    assert "0.5 ms" in ans.answer


def test_own_words_are_what_only_that_part_asks() -> None:
    from paperqa.compose import _own_words
    from paperqa.plan import make_plan

    plan = make_plan("What FID does MaskBit reach on ImageNet, and how large is its generator?")
    assert len(plan.parts) == 2
    assert "generator" in _own_words(plan.parts[1], plan.parts) and "FID" not in _own_words(plan.parts[1], plan.parts)
    assert "FID" in _own_words(plan.parts[0], plan.parts)
    single = make_plan("What FID does MaskBit reach on ImageNet?")
    assert _own_words(single.parts[0], single.parts) == ""


def test_part_the_papers_dont_report_is_named_not_refused(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("What FID does RAR reach on ImageNet-256, and how many GPU hours did its training take?")
    assert_grounded(corpus, ans)
    assert not ans.refused and "1.48" in ans.answer
    assert "don't report this part: how many GPU hours" in ans.answer


def test_fact_about_a_named_thing_is_answered_from_its_paper_only(corpus: Corpus, quiet: AnswerEngine) -> None:
    """RAR's paper reports no BLEU; another paper's BLEU on WMT14 must not answer for it."""
    ans = quiet.ask("What BLEU score does RAR reach on WMT14 English-German translation?")
    assert_grounded(corpus, ans)
    assert ans.refused and "17.79" not in ans.answer


def test_answerable_reads_whether_the_paper_holds_the_asked_setting(corpus: Corpus, quiet: AnswerEngine) -> None:
    """The gate's name features: the answering paper holds the thing asked about and the setting it is asked on
    (the dataset Speechformer's abstract reports), or not (a benchmark it never mentions); the quantity's own name
    ("BLEU") is not a setting."""
    from paperqa.decide import answerable_features, score_sentences
    from paperqa.evidence import gather

    def features(question: str) -> dict[str, float]:
        plan = quiet.plan(question)
        ev = gather(plan, quiet.retriever, quiet.sentence_vectors, quiet.retrieval_settings.top_k)
        score_sentences(ev, quiet.decisions.sentence)
        paper = next(p for p in ev.papers if "Speechformer" in p.title)
        return answerable_features(ev, paper.sentences)

    held = features("What BLEU gain does Speechformer report on MuST-C?")
    absent = features("What BLEU gain does Speechformer report on WMT14 English-French?")
    assert held["head_held"] == absent["head_held"] == 1.0
    assert held["setting_cover"] == 1.0 and absent["setting_cover"] == 0.0
    assert quiet.decisions.answerable.prob(held) > quiet.decisions.answerable.prob(absent)


def test_a_paper_the_question_names_in_its_title_answers_for_itself(corpus: Corpus, quiet: AnswerEngine) -> None:
    """PixArt-α's abstract gives no MS-COCO FID; Parti's does. The question names PixArt-α (its title's head), so
    Parti's number must not answer it."""
    ans = quiet.ask("What FID does PixArt-α obtain on MS-COCO zero-shot?")
    assert_grounded(corpus, ans)
    assert ans.refused and "7.23" not in ans.answer
    assert not any(c.title.startswith("Scaling Autoregressive Models") for c in ans.citations)


def test_identify_adds_the_sentence_that_names_the_method(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("What programming language was proposed as a computational model of the transformer encoder?")
    assert_grounded(corpus, ans)
    assert ans.mode == "identify" and "RASP" in ans.answer


def test_identify_adds_what_the_paper_proposes(corpus: Corpus, quiet: AnswerEngine) -> None:
    """A "which paper" answer quotes the sentence that matches the question and, when that is not it, the
    sentence in which the paper states what it proposes."""
    ans = quiet.ask("Which paper studies step patterns for rhythm games generated from music audio?")
    assert_grounded(corpus, ans)
    assert ans.mode == "identify" and len(ans.citations) >= 2
    assert any(re.search(r"\bwe (newly )?(propose|present|introduce|formulate)", c.quote, re.IGNORECASE)
               for c in ans.citations)


def test_identify_quotes_where_the_rest_of_the_description_is_found(corpus: Corpus, quiet: AnswerEngine) -> None:
    """The walls and roofs of the question are in the abstract's last sentence, not in the ones that match best."""
    ans = quiet.ask("Which paper generates house wireframes split into walls and roofs?")
    assert_grounded(corpus, ans)
    assert ans.mode == "identify" and ans.citations[0].title.startswith("Generating 3D House Wireframes")
    assert any("roofs" in c.quote for c in ans.citations)


def _sentence(text: str, index: int, score: float = 0.5) -> Sentence:
    return Sentence("p", "A Wireframe Model", text, 0, len(text), index, 1, 0.5, {}, score=score)


def test_the_rest_of_the_question_is_the_sentence_holding_most_unmatched_words() -> None:
    chosen = [_sentence("We generate house wireframes.", 0)]
    rest = [_sentence("Results improve on all benchmarks.", 1, score=0.9),
            _sentence("Outputs split into walls, roofs and rooms.", 2, score=0.1),
            _sentence("The walls are thin.", 3, score=0.8)]
    topic = ("generat", "house", "wall", "roof", "wireframe")
    assert _rest_of_question(topic, "A Wireframe Model", chosen, rest) is rest[1]
    assert _rest_of_question(("house", "wireframe"), "A Wireframe Model", chosen, rest) is None  # all matched
    assert _rest_of_question(("turkish",), "A Wireframe Model", chosen, rest) is None  # no sentence holds it


def test_a_verdict_reads_the_runner_up_sentence_too(corpus: Corpus, quiet: AnswerEngine) -> None:
    """Small-E's best-matching sentence says decoder-only transformers dominate its field; the next one says it
    replaces them with recurrent architectures. The answer is No, quoting that one."""
    ans = quiet.ask("Is Small-E built on a decoder-only transformer backbone?")
    assert_grounded(corpus, ans)
    assert ans.mode == "yesno" and ans.answer.startswith("No.")
    assert any("recurrent architectures" in c.quote for c in ans.citations)


def test_is_there_a_paper_is_answered_yes_with_the_paper(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("Is there a paper that turns pop songs into piano covers?")
    assert_grounded(corpus, ans)
    assert not ans.refused and ans.answer.startswith("Yes.")
    assert ans.citations[0].title.startswith("Pop2Piano")


def test_is_there_a_paper_on_an_absent_topic_is_refused_without_a_yes(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("Are there papers on cooking recipes?")
    assert ans.refused and not ans.answer.startswith("Yes")


def test_a_list_does_not_drop_papers_for_lacking_an_example_name(corpus: Corpus, quiet: AnswerEngine) -> None:
    """FiffDepth repurposes diffusion generators for depth without naming Stable Diffusion, the question's example."""
    ans = quiet.ask("Which papers turn a pretrained image diffusion model, e.g. Stable Diffusion, into a depth "
                    "estimator?")
    assert_grounded(corpus, ans)
    assert ans.mode == "list" and any(c.title.startswith("FiffDepth") for c in ans.citations)


def test_explain_tells_the_idea_in_the_papers_order(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("How does Reformer make Transformers cheaper on long sequences?")
    assert_grounded(corpus, ans)
    assert ans.mode == "explain" and 2 <= len(ans.citations) <= 4
    assert {c.title for c in ans.citations} == {ans.citations[0].title}  # one paper's story
    assert [c.start for c in ans.citations] == sorted(c.start for c in ans.citations)
    assert "locality-sensitive hashing" in ans.answer and "reversible residual layers" in ans.answer


def test_explain_starts_from_the_sentence_that_states_the_idea(corpus: Corpus, quiet: AnswerEngine) -> None:
    """'Transformer is a new kind of neural architecture…' opens the TNT abstract; the story starts at 'In this
    paper, we … explore a new architecture', whose next sentence says how (visual sentences and visual words)."""
    ans = quiet.ask("Summarize the Transformer in Transformer (TNT) architecture.")
    assert_grounded(corpus, ans)
    assert ans.mode == "explain" and ans.citations[0].title == "Transformer in Transformer"
    assert "visual sentences" in ans.answer and "visual words" in ans.answer
    assert "Transformer is a new kind of neural architecture" not in ans.answer


def test_compare_puts_each_side_beside_the_other(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("How do Speechformer and DASpeech differ?")
    assert_grounded(corpus, ans)
    assert ans.mode == "compare"
    titles = {c.title.split(":")[0] for c in ans.citations}
    assert {"Speechformer", "DASpeech"} <= titles
    assert ans.answer.index("**Speechformer**") < ans.answer.index("**DASpeech**")


def test_compare_side_named_by_its_titles_initials(corpus: Corpus, quiet: AnswerEngine) -> None:
    """DeiT's abstract never writes "DeiT"; its title spells it ("Data-efficient image Transformers"). Papers that
    mention DeiT as a baseline must not stand for it."""
    ans = quiet.ask("DeiT versus HAT: what does each one propose?")
    assert_grounded(corpus, ans)
    assert ans.mode == "compare"
    assert any(c.title.startswith("Training data-efficient image transformers") for c in ans.citations)


def test_compare_tells_each_side_from_its_idea_sentence(corpus: Corpus, quiet: AnswerEngine) -> None:
    """Each side is told as an explanation is: the sentence stating its idea and the ones after it, in order."""
    ans = quiet.ask("How do Handwriting Transformers (HWT) and the visual-archetypes handwriting generator differ "
                    "in how they represent the text content to be written?")
    assert_grounded(corpus, ans)
    assert ans.mode == "compare" and len({c.paper_id for c in ans.citations}) == 2
    for pid in {c.paper_id for c in ans.citations}:
        mine = [c for c in ans.citations if c.paper_id == pid]
        assert 2 <= len(mine) <= 4 and [c.start for c in mine] == sorted(c.start for c in mine)
    assert "encoder-decoder attention" in ans.answer and "GNU Unifont glyphs" in ans.answer


def test_compare_says_when_a_side_is_not_in_the_papers(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("How do Speechformer and Zorblaxian Transducers differ?")
    assert_grounded(corpus, ans)
    assert not ans.refused and "Zorblaxian Transducers**: the papers here don't describe it" in ans.answer


@pytest.mark.parametrize(("question", "verdict"), [
    ("Does W.A.L.T use classifier-free guidance to get its results?", "No"),
    ("Does MeshGPT use graph convolutions when learning its vocabulary?", "Yes"),
])
def test_yes_no_verdict_comes_with_the_settling_sentence(corpus: Corpus, quiet: AnswerEngine, question: str,
                                                         verdict: str) -> None:
    ans = quiet.ask(question)
    assert_grounded(corpus, ans)
    assert ans.mode == "yesno" and ans.answer.startswith(verdict + ".")
    # the settling sentence, and at most one more: where the rest of the question's words are
    assert 1 <= len(ans.citations) <= 2 and {c.paper_id for c in ans.citations} == {ans.citations[0].paper_id}


def test_a_choice_question_gets_the_sentence_not_a_yes_or_no(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("Does MeshGPT learn its vocabulary with graph convolutions or with a diffusion model?")
    assert_grounded(corpus, ans)
    assert ans.mode == "yesno" and len(ans.citations) == 1
    assert not ans.answer.startswith(("Yes", "No")) and ans.answer.startswith("MeshGPT")


def test_a_name_that_adds_nothing_is_not_an_identify_answer() -> None:
    from paperqa.compose import _new_names

    q = "Which method picks the tokens to hide in masked image modeling from a teacher's attention?"
    assert _new_names("A teacher guides distillation-based MIM.", q) == []  # the question's own words, as initials
    assert _new_names("We replace attention in Transformers.", q, frozenset({"transformers"})) == []  # a field word
    assert _new_names("We call this strategy AttMask.", q) == ["AttMask"]


def test_identify_names_the_paper(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("Which paper generates piano covers from pop audio?")
    assert_grounded(corpus, ans)
    assert ans.mode == "identify" and ans.citations[0].title.startswith("Pop2Piano")
    assert ans.answer.startswith(ans.citations[0].title)


def test_list_cites_one_sentence_per_paper(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask(LIST_Q)
    assert_grounded(corpus, ans)
    assert ans.mode == "list" and len(ans.citations) >= 2
    assert len({c.paper_id for c in ans.citations}) == len(ans.citations)
    music = [c for c in ans.citations if "music" in (c.title + c.quote).lower()]
    assert len(music) >= 3 and len(music) >= 0.6 * len(ans.citations)  # recall first, most items on topic


def test_list_item_names_the_method_its_title_lacks(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("Which papers here apply transformers to solving partial differential equations?")
    assert_grounded(corpus, ans)
    assert "- Scalable Transformer for PDE Surrogate Modeling (FactFormer): " in ans.answer
    assert "- GNOT: A General Neural Operator Transformer for Operator Learning: " in ans.answer  # title has it


@pytest.mark.parametrize("question", [
    "What FID does StyleSwin obtain on FFHQ-1024?",                 # the paper gives no such number
    "Which paper here forecasts earthquakes from seismograph recordings?",  # a topic the papers lack
    "What BLEU score does the Zorblax-9 model reach?",               # a name no paper mentions
])
def test_unanswerable_is_refused_with_the_closest_evidence(corpus: Corpus, quiet: AnswerEngine,
                                                           question: str) -> None:
    ans = quiet.ask(question)
    assert_grounded(corpus, ans)
    assert ans.refused and "The closest papers are:" in ans.answer
    assert 1 <= len(ans.closest) <= 3


def test_evidence_measures_the_words_the_store_has_never_seen(quiet: AnswerEngine) -> None:
    from paperqa.evidence import gather

    def unseen(question: str) -> float:
        return gather(quiet.plan(question), quiet.retriever, quiet.sentence_vectors, 5).unseen

    assert unseen("What FID does RAR reach on ImageNet?") == 0.0
    assert 0.2 < unseen("Which transformer paper forecasts earthquakes from seismograph recordings?") < 1.0


def test_name_no_paper_mentions_is_said(corpus: Corpus, quiet: AnswerEngine) -> None:
    ans = quiet.ask("What BLEU score does the Zorblax-9 model reach?")
    assert ans.refused and "'Zorblax-9'" in ans.answer


def test_same_question_twice_gives_the_same_answer(corpus: Corpus, quiet: AnswerEngine) -> None:
    assert without_timings(quiet.ask(LIST_Q)) == without_timings(quiet.ask(LIST_Q))


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001])
def test_unusable_question_raises(quiet: AnswerEngine, question: str) -> None:
    with pytest.raises(QuestionError):
        quiet.ask(question)


# --- the model's summary line (FakeLLM) ----------------------------------------------------------------------------


def test_fake_supported_summary_is_cited_above_the_quote(corpus: Corpus) -> None:
    tokens, ans = run(corpus, RAR_Q, FakeLLM([RAR_CLAIM]))
    assert_grounded(corpus, ans)
    first, rest = ans.answer.split("\n\n", 1)
    assert first == RAR_CLAIM[:-1] + " [1]."
    assert "1.48" in rest and ans.unsupported == []
    assert "".join(t.text for t in tokens) == ans.answer  # only checked text was streamed


def test_fake_summary_with_a_wrong_number_is_dropped_and_never_shown(corpus: Corpus) -> None:
    draft = "RAR achieves an FID score of 1.52 on ImageNet-256."  # MaskBit's number, not RAR's
    tokens, ans = run(corpus, RAR_Q, FakeLLM([draft]))
    assert_grounded(corpus, ans)
    assert ans.unsupported == [draft] and "1.52" not in ans.answer
    assert not any("1.52" in t.text for t in tokens)
    assert "1.48" in ans.answer  # the quote still answers


def test_fake_i_dont_know_never_becomes_a_claim(corpus: Corpus) -> None:
    _, ans = run(corpus, RAR_Q, FakeLLM(["I don't know."]))
    assert_grounded(corpus, ans)
    assert "know" not in ans.answer and "1.48" in ans.answer


def test_fake_model_written_markers_and_repeats_are_cleaned(corpus: Corpus) -> None:
    _, ans = run(corpus, RAR_Q, FakeLLM([f"[3] {RAR_CLAIM} [2] {RAR_CLAIM}"]))
    assert_grounded(corpus, ans)
    assert ans.answer.count("1.48 on ImageNet-256 [1]") == 1


def test_fake_prompt_holds_the_quoted_evidence_and_the_question(corpus: Corpus) -> None:
    fake = FakeLLM([RAR_CLAIM])
    run(corpus, RAR_Q, fake)
    system, user = fake.messages[0]
    assert system["role"] == "system" and user["content"].endswith(f"Question: {RAR_Q}")
    assert f"[1] ({RAR}) On the ImageNet-256 benchmark" in user["content"]


def test_fake_per_call_temperature_override(corpus: Corpus) -> None:
    fake = FakeLLM([RAR_CLAIM])
    run(corpus, RAR_Q, fake, temperature=0.7)
    assert fake.calls[0]["temperature"] == 0.7


def test_fake_refusal_and_list_never_ask_the_model(corpus: Corpus) -> None:
    fake = FakeLLM([])
    for q in (LIST_Q, "What BLEU score does the Zorblax-9 model reach?"):
        _, ans = run(corpus, q, fake)
        assert ans.draft == "" and ans.prompt_tokens == 0
    assert fake.messages == []


# --- chat ----------------------------------------------------------------------------------------------------------


def test_fake_chat_follow_up_is_made_standalone(corpus: Corpus) -> None:
    chat = corpus.qa.chat()
    chat.engine = AnswerEngine(corpus.qa.retriever, corpus.qa.embedder, FakeLLM([RAR_CLAIM, "It uses ImageNet."]),
                               corpus.qa.settings.answer, corpus.qa.settings.llm, corpus.qa.settings.retrieval,
                               corpus.qa.sentence_vectors)
    chat.ask(RAR_Q)
    second = chat.ask("What benchmark did it use?")
    assert "RAR" in second.standalone_question and second.question == "What benchmark did it use?"
    assert second.citations and second.citations[0].title.endswith(RAR)


# --- the real default model ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_answers(corpus: Corpus) -> dict[str, Answer]:
    """A few questions answered once by the real GGUF model (generation is the slow part of the suite)."""
    questions = {
        "number": RAR_Q,
        "which_paper": "Which paper generates piano covers from pop audio?",
        "explain": "What is MaskGIT and how does it generate an image?",
        "near_miss": "What BLEU score does RAR reach on WMT14 English-German translation?",
    }
    return {name: corpus.qa.ask(q) for name, q in questions.items()}


@pytest.mark.parametrize("name", ["number", "which_paper", "explain", "near_miss"])
def test_real_model_answers_are_grounded(corpus: Corpus, real_answers: dict[str, Answer], name: str) -> None:
    ans = real_answers[name]
    assert_grounded(corpus, ans)
    assert ans.model.startswith("llamacpp:") and ans.model.endswith(".gguf")


def test_real_model_fact_is_answered_from_the_right_sentence(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["number"]
    assert not ans.refused and ans.citations[0].title.endswith(RAR) and "1.48" in quotes(ans)
    assert ans.completion_tokens > 0 and ans.prompt_tokens > 0  # the model was asked for a summary line
    for sentence in ans.unsupported:
        assert sentence not in ans.answer


def test_real_model_near_miss_is_refused(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["near_miss"]
    assert ans.refused and ans.closest


def test_real_model_is_deterministic(corpus: Corpus, real_answers: dict[str, Answer]) -> None:
    assert without_timings(corpus.qa.ask(RAR_Q)) == without_timings(real_answers["number"])
