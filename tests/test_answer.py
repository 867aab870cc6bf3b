"""The answer engine on the bundled corpus.

Unit tests of prompting and attribution script the model with FakeLLM (named `test_fake_*`); the integration tests at
the end use the real default GGUF model and check structure and grounding, never wording.
"""

from __future__ import annotations

import re

import pytest
from conftest import Corpus

from paperqa import prompts
from paperqa.answer import (
    _NAME_Q,
    _NUMERIC_Q,
    Answer,
    AnswerEngine,
    Evidence,
    Progress,
    Token,
    _squash,
    named_papers,
    new_names,
    numbers,
    relevance,
    restates,
    term_in,
)
from paperqa.errors import QuestionError
from paperqa.llm import FakeLLM
from paperqa.sentences import sentence_spans
from paperqa.settings import AnswerSettings

RAR = "Randomized Autoregressive Visual Generation"
RAR_Q = "What FID does RAR reach on ImageNet-256?"
RAR_SENTENCE_START = "On the ImageNet-256 benchmark, RAR achieves an FID score of 1.48"
PIXART_SENTENCE_START = "As a result, PIXART-alpha's training speed markedly surpasses"
TWO_PAPER_Q = ("Compare the training cost of text-to-image diffusion transformers with the FID of autoregressive "
               "image generators.")
PIXART_CLAIM = "PIXART-alpha only takes 10.8% of Stable Diffusion v1.5's training time."
RAR_CLAIM = "RAR achieves an FID score of 1.48 on ImageNet-256."
LIST_Q = "Which papers here apply transformers to music?"
TO_DICT_KEYS = {"question", "answer", "refused", "citations", "sources", "timings_ms", "model", "mode",
                "standalone_question", "unsupported", "draft", "prompt_tokens", "completion_tokens", "closest"}


def run(corpus: Corpus, question: str, fake: FakeLLM, **kw: object) -> tuple[list[Token], Answer]:
    """Every event of one streamed answer: the tokens and the final Answer (which must come last, once)."""
    events = list(corpus.qa.engine.stream(question, llm=fake, **kw))  # type: ignore[arg-type]
    answers = [e for e in events if isinstance(e, Answer)]
    assert len(answers) == 1 and events[-1] is answers[0]
    tokens = [e for e in events if isinstance(e, Token)]
    assert all(isinstance(e, Progress | Token) for e in events[:-1])
    return tokens, answers[0]


def markers(text: str) -> list[int]:
    """Citation numbers in the order they first appear in the answer text."""
    return list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", text)))


def assert_grounded(corpus: Corpus, ans: Answer) -> None:
    """The contract every answer keeps, whatever the model wrote."""
    assert set(ans.to_dict()) == TO_DICT_KEYS
    assert [s.rank for s in ans.sources] == list(range(1, len(ans.sources) + 1))
    source_ids = {s.paper_id for s in ans.sources}
    stored = corpus.qa.store.get_papers([c.paper_id for c in ans.citations])
    for c in ans.citations:
        assert c.paper_id in source_ids
        abstract = stored[c.paper_id].abstract
        assert c.title == stored[c.paper_id].title
        assert abstract[c.start:c.end] == c.quote, "the quote must sit at its offsets in the stored abstract"
        assert (c.start, c.end) in sentence_spans(abstract), "the quote must be one whole sentence"
        assert next(s.abstract for s in ans.sources if s.paper_id == c.paper_id) == abstract
    assert [c.n for c in ans.citations] == list(range(1, len(ans.citations) + 1))
    assert markers(ans.answer) == [c.n for c in ans.citations], "numbered 1..n in order of first use"
    if ans.refused:
        assert ans.citations == [] and ans.mode == "refused"
    else:
        assert ans.citations and ans.mode != "refused"


def without_timings(ans: Answer) -> dict[str, object]:
    d = ans.to_dict()
    d.pop("timings_ms")
    return d


# --- FakeLLM: attribution --------------------------------------------------------------------------------------------


def refused_but_control_answered(corpus: Corpus, question: str, draft: str, control_q: str,
                                 control_draft: str) -> Answer:
    """A guard test's two halves: the draft is refused for `question`, and the control (another question or
    draft) is answered, so the guard, not something else, makes the refusal. Returns the control's answer."""
    _, ans = run(corpus, question, FakeLLM([draft]))
    assert_grounded(corpus, ans)
    assert ans.refused and ans.citations == []
    _, ok = run(corpus, control_q, FakeLLM([control_draft]))
    assert_grounded(corpus, ok)
    assert not ok.refused
    return ok


def test_fake_supported_sentence_is_cited_with_the_right_quote(corpus: Corpus) -> None:
    fake = FakeLLM(["RAR achieves an FID score of 1.48 on the ImageNet-256 benchmark."])
    _, ans = run(corpus, RAR_Q, fake)
    assert_grounded(corpus, ans)
    assert not ans.refused and ans.mode == "generated"
    assert ans.answer == "RAR achieves an FID score of 1.48 on the ImageNet-256 benchmark [1]."
    [c] = ans.citations
    assert c.title == RAR and c.quote.startswith(RAR_SENTENCE_START)
    assert ans.unsupported == []
    assert RAR_SENTENCE_START in ans.to_markdown() and "[1]" in ans.to_markdown()


def test_fake_sentence_with_a_number_not_in_evidence_is_dropped(corpus: Corpus) -> None:
    fake = FakeLLM([f"{RAR_CLAIM} It was trained on 4096 TPUs."])
    _, ans = run(corpus, RAR_Q, fake)
    assert_grounded(corpus, ans)
    assert ans.unsupported == ["It was trained on 4096 TPUs."]
    assert "4096" not in ans.answer and "1.48" in ans.answer
    assert ans.draft == f"{RAR_CLAIM} It was trained on 4096 TPUs."


def test_fake_wrong_number_alone_is_never_cited(corpus: Corpus) -> None:
    fake = FakeLLM(["RAR achieves an FID score of 1.52 on ImageNet-256."])
    _, ans = run(corpus, RAR_Q, fake)
    assert_grounded(corpus, ans)
    assert ans.unsupported == ["RAR achieves an FID score of 1.52 on ImageNet-256."]
    assert "1.52" not in ans.answer
    assert ans.mode in ("extractive", "refused")  # the engine may quote the evidence itself, never the bad claim


@pytest.mark.parametrize(("reply", "first"), [
    (f"{PIXART_CLAIM} {RAR_CLAIM}", "PixArt"),
    (f"{RAR_CLAIM} {PIXART_CLAIM}", RAR),
])
def test_fake_citations_are_numbered_by_first_use(corpus: Corpus, reply: str, first: str) -> None:
    fake = FakeLLM([reply + " PIXART-alpha needs 675 A100 GPU days of training."])
    # k=8: this is about numbering, and the default (convex) fusion ranks RAR 7th for this question (rrf: 4th).
    _, ans = run(corpus, TWO_PAPER_Q, fake, k=8)
    assert_grounded(corpus, ans)
    assert [c.n for c in ans.citations] == [1, 2]
    assert ans.citations[0].title.startswith(first)
    assert re.findall(r"\[(\d+)\]", ans.answer) == (["1", "2", "1"] if first == "PixArt" else ["1", "2", "2"])
    by_title = {c.title.split(":")[0]: c for c in ans.citations}
    assert by_title["PixArt-α"].quote.startswith(PIXART_SENTENCE_START)
    assert by_title[RAR].quote.startswith(RAR_SENTENCE_START)


def test_fake_model_written_markers_are_stripped(corpus: Corpus) -> None:
    fake = FakeLLM([f"{RAR_CLAIM[:-1]} [7]. Also [3, 4] nothing."])
    _, ans = run(corpus, RAR_Q, fake)
    assert_grounded(corpus, ans)
    assert "[7]" not in ans.answer and "[3" not in ans.answer
    assert markers(ans.answer) == [1]


def test_fake_nothing_supported_with_weak_evidence_is_refused(corpus: Corpus) -> None:
    fake = FakeLLM(["The authors say climate change is accelerating."])
    tokens, ans = run(corpus, "What do the authors say about climate change?", fake)
    assert_grounded(corpus, ans)
    assert ans.refused and ans.citations == []
    assert fake.calls == []  # weak evidence is refused before spending time on generation
    for s in ans.sources[:3]:
        assert s.title in ans.answer  # the refusal names the closest papers
    assert "".join(t.text for t in tokens) == ans.answer


def test_fake_attribution_refuses_when_nothing_is_supported_and_evidence_is_weak(corpus: Corpus) -> None:
    engine = corpus.qa.engine
    weak = [Evidence(1, "t:x", "Some Paper", "Glaciers melt faster in warm summers.", 0, 37, score=0.2)]
    text, citations, unsupported, mode = engine.attribute("I don't know. Cats are great pets.", "q", weak, weak)
    assert (text, citations, mode) == ("", [], "refused")
    assert unsupported == ["I don't know.", "Cats are great pets."]


def test_fake_nothing_supported_with_strong_evidence_quotes_it(corpus: Corpus) -> None:
    fake = FakeLLM(["It is a very good model."])
    _, ans = run(corpus, RAR_Q, fake)
    assert_grounded(corpus, ans)
    assert ans.mode == "extractive" and ans.unsupported == ["It is a very good model."]
    assert ans.citations[0].title == RAR and ans.citations[0].quote in ans.answer


def test_fake_i_dont_know_is_a_refusal_listing_the_closest_papers(corpus: Corpus) -> None:
    fake = FakeLLM(["I don't know."])
    _, ans = run(corpus, "What is the best programming language for beginners?", fake)
    assert len(fake.calls) == 1  # the question got past the pre-check: the model's answer decides
    assert ans.refused and ans.mode == "refused" and ans.citations == []
    assert ans.unsupported == ["I don't know."]
    assert any(s.title in ans.answer for s in ans.sources[:3])


def test_fake_claim_that_inverts_its_source_is_not_cited(corpus: Corpus) -> None:
    fake = FakeLLM(["PIXART-alpha's training speed is 10.8% faster than Stable Diffusion."])
    _, ans = run(corpus, "How much faster is PixArt-alpha training than Stable Diffusion?", fake)
    assert "10.8% faster" not in ans.answer


def test_fake_i_dont_know_never_becomes_a_claim(corpus: Corpus) -> None:
    fake = FakeLLM(["I don't know."])
    _, ans = run(corpus, RAR_Q, fake)
    assert_grounded(corpus, ans)
    assert "know" not in ans.answer.lower()
    assert ans.unsupported == ["I don't know."]


# --- FakeLLM: prompting, lists, streaming, questions, determinism, chat ----------------------------------------------


def test_fake_prompt_holds_numbered_evidence_and_the_question(corpus: Corpus) -> None:
    fake = FakeLLM([RAR_CLAIM])
    run(corpus, RAR_Q, fake)
    [call] = fake.calls
    messages = call["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert RAR_Q in user
    lines = [ln for ln in user.splitlines() if re.match(r"\[\d+\] ", ln)]
    assert 1 <= len(lines) <= corpus.qa.settings.answer.evidence_sentences
    assert [int(ln[1:ln.index("]")]) for ln in lines] == list(range(1, len(lines) + 1))
    assert any(RAR_SENTENCE_START in ln for ln in lines)
    llm = corpus.qa.settings.llm
    assert (call["temperature"], call["seed"], call["max_tokens"]) == (llm.temperature, llm.seed, llm.max_tokens)


def test_fake_per_call_temperature_override(corpus: Corpus) -> None:
    fake = FakeLLM([RAR_CLAIM])
    run(corpus, RAR_Q, fake, temperature=0.7)
    assert fake.calls[0]["temperature"] == 0.7


def test_fake_list_question_cites_one_item_per_paper_without_the_model(corpus: Corpus) -> None:
    fake = FakeLLM([])
    tokens, ans = run(corpus, LIST_Q, fake)
    assert fake.calls == []
    assert_grounded(corpus, ans)
    assert ans.mode == "list" and not ans.refused
    assert len(ans.citations) >= 2
    assert len({c.paper_id for c in ans.citations}) == len(ans.citations)
    items = [ln for ln in ans.answer.splitlines() if re.search(r"\[\d+\]\s*$", ln)]
    assert len(items) == len(ans.citations)
    for line, c in zip(items, ans.citations, strict=True):
        assert line.rstrip().endswith(f"[{c.n}]") and c.title in line
    assert any("Pop2Piano" in c.title for c in ans.citations)
    assert "".join(t.text for t in tokens) == ans.answer


def test_fake_list_keeps_papers_close_to_the_best_one(corpus: Corpus) -> None:
    """Items are the papers within `list_margin` of the most relevant one; a wide margin lists more of the tail."""
    qa = corpus.qa
    q = "Which papers here are about transformers for time series?"
    engines = {m: AnswerEngine(qa.retriever, qa.embedder, FakeLLM([]), AnswerSettings(list_margin=m),
                               qa.settings.llm, qa.settings.retrieval) for m in (0.05, 0.15, 1.0)}
    answers = {m: e.ask(q) for m, e in engines.items()}
    for a in answers.values():
        assert_grounded(corpus, a)
        assert a.mode == "list"
    retrieval = qa.retriever.retrieve(q, k=qa.settings.retrieval.list_k)
    evidence = qa.engine.rank_evidence(retrieval)
    rel = {h.paper_id: relevance(h, evidence) for h in retrieval.hits}
    for m, a in answers.items():
        assert all(rel[c.paper_id] >= max(rel.values()) - m - 1e-9 for c in a.citations)
    counts = [len(answers[m].citations) for m in (0.05, 0.15, 1.0)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_fake_list_items_hold_enough_of_the_question_terms(corpus: Corpus) -> None:
    """A paper close in meaning but about a neighbouring topic (few of the question's terms) is left off the list."""
    qa = corpus.qa
    q = "Which papers generate computer-aided design (CAD) models?"
    def engine(cov: float) -> AnswerEngine:
        return AnswerEngine(qa.retriever, qa.embedder, FakeLLM([]), AnswerSettings(list_margin=1.0,
                            list_min_coverage=cov), qa.settings.llm, qa.settings.retrieval)
    strict, lax = engine(0.3).ask(q), engine(0.0).ask(q)
    for a in (strict, lax):
        assert_grounded(corpus, a)
    assert all("CAD" in c.title for c in strict.citations) and len(strict.citations) >= 2
    assert len(lax.citations) > len(strict.citations)
    retrieval = qa.retriever.retrieve(q, k=qa.settings.retrieval.list_k)
    evidence = qa.engine.rank_evidence(retrieval)
    cov = {h.paper_id: qa.engine.focus(q, h, evidence)[0] for h in retrieval.hits}
    assert all(cov[c.paper_id] >= 0.3 for c in strict.citations)


def test_fake_streaming_shows_only_verified_text(corpus: Corpus) -> None:
    reply = f"{RAR_CLAIM} It beats diffusion models by 7.77 FID."  # the second sentence is not in any abstract
    fake = FakeLLM([reply])
    tokens, ans = run(corpus, RAR_Q, fake)
    assert ans.draft == reply
    streamed = "".join(t.text for t in tokens)
    assert streamed == ans.answer and "7.77" not in streamed  # the unchecked draft never reaches the reader
    assert ans.timings_ms["first_token"] <= ans.timings_ms["total"]
    assert {"retrieve", "evidence", "generate", "attribute", "first_token", "total"} <= set(ans.timings_ms)
    assert ans.model == "fake"


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001])
def test_fake_unusable_question_raises(corpus: Corpus, question: str) -> None:
    fake = FakeLLM([])
    with pytest.raises(QuestionError):
        next(iter(corpus.qa.engine.stream(question, llm=fake)))
    with pytest.raises(QuestionError):
        corpus.qa.ask(question)
    assert fake.calls == []


def test_fake_question_at_the_limit_is_accepted(corpus: Corpus) -> None:
    q = ("What FID does RAR reach? " * 60)[:1000]
    assert corpus.qa.engine.check_question(q) == " ".join(q.split())


def test_fake_same_question_twice_gives_the_same_answer(corpus: Corpus) -> None:
    reply = f"{RAR_CLAIM} It was trained on 4096 TPUs."
    fake = FakeLLM([reply, reply])
    _, first = run(corpus, RAR_Q, fake)
    _, second = run(corpus, RAR_Q, fake)
    assert without_timings(first) == without_timings(second)


def test_fake_chat_follow_up_is_made_standalone(corpus: Corpus) -> None:
    fake = FakeLLM(responder=lambda messages: RAR_CLAIM)
    chat = corpus.qa.chat()
    first = chat.ask(RAR_Q, llm=fake)
    assert first.standalone_question == RAR_Q
    follow = chat.ask("What dataset did it use?", llm=fake)
    assert follow.question == "What dataset did it use?"
    assert follow.standalone_question != follow.question
    assert " it " not in f" {follow.standalone_question} "
    assert any(term in follow.standalone_question for term in ("RAR", "FID", "ImageNet-256"))
    assert len(chat.history) == 2 and chat.history[-1] is follow
    assert_grounded(corpus, follow)


def test_fake_chat_follow_up_names_the_method(corpus: Corpus) -> None:
    fake = FakeLLM(responder=lambda messages: RAR_CLAIM)
    chat = corpus.qa.chat()
    chat.ask(RAR_Q, llm=fake)
    follow = chat.ask("What dataset did it use?", llm=fake)
    assert "RAR" in follow.standalone_question


def test_fake_chat_self_contained_question_is_left_alone(corpus: Corpus) -> None:
    fake = FakeLLM(responder=lambda messages: RAR_CLAIM)
    chat = corpus.qa.chat()
    chat.ask(RAR_Q, llm=fake)
    q = "Which papers here apply transformers to music?"
    assert chat.ask(q, llm=fake).standalone_question == q


def test_fake_refusal_settings_are_honoured(corpus: Corpus) -> None:
    """min_relevance is the gate: at 1.0 nothing is relevant enough and the engine refuses without the model."""
    qa = corpus.qa
    strict = AnswerEngine(qa.retriever, qa.embedder, FakeLLM([]), AnswerSettings(min_relevance=1.0),
                          qa.settings.llm, qa.settings.retrieval)
    ans = strict.ask(RAR_Q)
    assert ans.refused and ans.mode == "refused" and prompts.REFUSAL_CLOSEST.split("{")[0] in ans.answer


SIGN_Q = "What BLEU score does the sign-language translation transformer in this collection achieve?"
BLEU_CLAIM = "The model reports BLEU scores of 17.79 and 28.33 on the Turkish-English and Portuguese-English tasks."


def test_fake_focus_measures_whether_a_paper_is_about_the_question(corpus: Corpus) -> None:
    engine = corpus.qa.engine
    retrieval = engine.retriever.retrieve(RAR_Q, k=5)
    evidence = engine.rank_evidence(retrieval)
    rar = next(h for h in retrieval.hits if h.title == RAR)
    cov, sim = engine.focus(RAR_Q, rar, evidence)
    assert cov > 0.8  # all the question's terms but "reach" are in the RAR abstract
    assert sim == pytest.approx(relevance(rar, evidence))
    cov_off, _ = engine.focus("How do penguins regulate body heat in Antarctic winters?", rar, evidence)
    assert cov_off < 0.1


def test_fake_answer_from_a_paper_about_something_else_is_refused(corpus: Corpus) -> None:
    """The evidence states BLEU scores, but of text-translation papers; the question asks about sign language."""
    _, ans = run(corpus, SIGN_Q, FakeLLM([BLEU_CLAIM]))
    assert_grounded(corpus, ans)
    assert ans.refused and prompts.REFUSAL_OFF_FOCUS in ans.answer
    # the guard is what refuses it: with the thresholds at 0 the same draft is cited
    qa = corpus.qa
    lax = AnswerEngine(qa.retriever, qa.embedder, FakeLLM([BLEU_CLAIM]),
                       AnswerSettings(min_focus_coverage=0.0, min_focus_sim=0.0), qa.settings.llm,
                       qa.settings.retrieval)
    cited = lax.ask(SIGN_Q)
    assert_grounded(corpus, cited)
    assert not cited.refused and "BLEU" in cited.citations[0].quote


def test_fake_numeric_question_answered_without_a_new_number_is_refused(corpus: Corpus) -> None:
    """'What FID…' answered with only the question's own numbers ('256') states no FID: refused, not cited."""
    _, ans = run(corpus, RAR_Q, FakeLLM(["RAR reaches a state-of-the-art FID score on the ImageNet-256 benchmark."]))
    assert_grounded(corpus, ans)
    assert ans.refused and ans.mode == "refused"
    _, ok = run(corpus, RAR_Q, FakeLLM(["RAR achieves an FID score of 1.48 on the ImageNet-256 benchmark."]))
    assert not ok.refused and "1.48" in ok.answer


@pytest.mark.parametrize(("question", "numeric"), [
    ("What FID does RAR achieve on ImageNet-256?", True),
    ("What ImageNet top-1 accuracy does the original Vision Transformer report?", True),
    ("What bits-per-character does Reformer achieve on enwik8?", True),
    ("What word error rate does Conformer achieve on Switchboard?", True),
    ("How many parameters does CogView2 have?", True),
    ("What does RAR do to improve accuracy?", False),
    ("What kind of error analysis is done?", False),
    ("Which paper applies transformers to music?", False),
])
def test_numeric_question_pattern(question: str, numeric: bool) -> None:
    """A metric may follow up to three modifiers ('ImageNet top-1 accuracy') when the question's verb comes next."""
    assert bool(_NUMERIC_Q.search(question)) is numeric


def test_hyphenated_term_needs_a_name_like_part() -> None:
    """'BERT-style' is found where 'BERT' is; 'top-5' is not found by any '5' (an abstract giving only top-1)."""
    text = "TNT reaches 81.5% top-1 accuracy on ImageNet, 1.7% higher than DeiT-S with similar cost."
    assert not term_in("top-5", _squash(text), text)
    assert term_in("top-1", _squash(text), text)
    bert = "We pre-train BERT models on Polish text."
    assert term_in("BERT-style", _squash(bert), bert)


@pytest.mark.parametrize(("sentence", "echo"), [
    ("What FID does RAR reach on ImageNet-256?", True),
    ("RAR reaches FID on ImageNet-256.", True),
    ("RAR reaches an FID of 1.48 on ImageNet-256.", False),
    ("RAR reaches a state-of-the-art FID on ImageNet-256.", False),
])
def test_restates_spots_an_echoed_question(sentence: str, echo: bool) -> None:
    assert restates(sentence, RAR_Q) is echo


def test_fake_echoed_question_is_not_cited(corpus: Corpus) -> None:
    """The small model often repeats the question; the echo shares every word with RAR's abstract, yet says nothing."""
    _, ans = run(corpus, RAR_Q, FakeLLM([RAR_Q]))
    assert_grounded(corpus, ans)
    assert ans.mode != "generated" and ans.unsupported == [RAR_Q]
    assert RAR_Q not in ans.answer


BERTOPIC_Q = "Which clustering algorithm does BERTopic use?"
BERTOPIC_CLAIM = "BERTopic clusters document embeddings generated with pre-trained transformer-based language models."


def test_fake_question_asking_for_a_name_answered_without_one_is_refused(corpus: Corpus) -> None:
    """'Which clustering algorithm…' answered by a true sentence that names no algorithm is a refusal; the same
    sentence answers a question that asks for no name."""
    assert _NAME_Q.search(BERTOPIC_Q) and not new_names(BERTOPIC_CLAIM, BERTOPIC_Q)
    ok = refused_but_control_answered(corpus, BERTOPIC_Q, BERTOPIC_CLAIM, "How does BERTopic find topics?",
                                      BERTOPIC_CLAIM)
    assert "BERTopic" in ok.citations[0].title
    assert new_names("BERTopic clusters embeddings with HDBSCAN.", BERTOPIC_Q) == ["HDBSCAN"]


PRUNING_Q = ("In the study asking whether pruning can make large language models more efficient, which pruning method "
             "performed best?")


def test_fake_superlative_claim_needs_a_superlative_source(corpus: Corpus) -> None:
    """'Weight pruning performed best' is not what the abstract says (it studies weight pruning); the claim without
    the ranking is."""
    best = "Weight pruning performed best as an optimization strategy for Transformer architectures."
    plain = "The paper investigates weight pruning as an optimization strategy for Transformer architectures."
    _, ans = run(corpus, PRUNING_Q, FakeLLM([best]))
    assert_grounded(corpus, ans)
    assert best in ans.unsupported and "performed best" not in ans.answer
    assert ans.refused  # and no quote stands in for it: none of the abstract's sentences ranks a method first
    _, ok = run(corpus, "What does the pruning study investigate as an optimization strategy?", FakeLLM([plain]))
    assert_grounded(corpus, ok)
    assert not ok.refused and ok.unsupported == []


def test_fake_close_sentence_overrides_weak_chunk_relevance(corpus: Corpus) -> None:
    """One fact in a long abstract dilutes the chunk's cosine; a retrieved sentence that close to the question keeps
    it from the weak-retrieval refusal. With every chunk below min_relevance, only the sentence gate decides."""
    qa = corpus.qa
    question = "On the ImageNet-256 benchmark, what FID score does RAR achieve?"
    evidence = qa.engine.rank_evidence(qa.retriever.retrieve(question, k=5))
    assert max(e.sim for e in evidence) >= 0.7

    def engine(sentence_relevance: float) -> AnswerEngine:
        return AnswerEngine(qa.retriever, qa.embedder, FakeLLM([RAR_CLAIM]),
                            AnswerSettings(min_relevance=0.99, sentence_relevance=sentence_relevance), qa.settings.llm,
                            qa.settings.retrieval)

    kept = engine(0.7).ask(question)
    assert_grounded(corpus, kept)
    assert not kept.refused and "1.48" in kept.answer
    refused = engine(1.0).ask(question)
    assert refused.refused and refused.citations == []


def test_numbers_skip_links_and_digits_inside_names() -> None:
    assert numbers("The code is available at: https://github.com/sajjad-sh33/ViT-P.") == set()
    assert numbers("54.0 PQ on ADE20K, 1,000 steps, GPT-4 and ImageNet-256") == {"54.0", "1000", "4", "256"}


VITP_Q = "What PQ does ViT-P achieve on ADE20K panoptic segmentation?"


def test_fake_numeric_question_answered_by_a_link_is_refused(corpus: Corpus) -> None:
    """A code-release sentence is true and on topic, but the digits in its URL are not the PQ asked for."""
    assert _NUMERIC_Q.search(VITP_Q)
    ok = refused_but_control_answered(corpus, VITP_Q, "The code and pretrained models are available at: "
                                      "https://github.com/sajjad-sh33/ViT-P.", VITP_Q,
                                      "ViT-P achieves 54.0 PQ on ADE20K panoptic segmentation.")
    assert "54.0" in ok.answer


def test_fake_named_papers_are_found_by_title(corpus: Corpus) -> None:
    retrieve = corpus.qa.retriever.retrieve
    tnt_q = "What top-1 ImageNet accuracy does Transformer iN Transformer (TNT) achieve?"
    named = named_papers(tnt_q, retrieve(tnt_q).hits)
    assert [h.title for h in retrieve(tnt_q).hits if h.paper_id in named] == ["Transformer in Transformer"]
    assert named_papers(RAR_Q, retrieve(RAR_Q).hits) == set()
    bert_q = "Which clustering algorithm does BERTopic use?"  # a one-word title head is a method name, not a title
    assert named_papers(bert_q, retrieve(bert_q).hits) == set()


def test_fake_question_naming_a_paper_is_answered_from_that_paper_only(corpus: Corpus) -> None:
    """The named paper's abstract gives no parameter count; a sibling paper's '20B parameters' must not answer it."""
    claim = "The transformer is scaled up to 20B parameters."
    named_q = "How many parameters does the autoregressive transformer in Zero-Shot Text-to-Image Generation have?"
    other = refused_but_control_answered(corpus, named_q, claim,
                                         "How many parameters does the Parti text-to-image transformer have?", claim)
    assert "20B" in other.citations[0].quote


# --- the real default model ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_answers(corpus: Corpus) -> dict[str, Answer]:
    """A few questions answered once by the real GGUF model (generation is the slow part of the suite)."""
    questions = {
        "number": RAR_Q,
        "which_paper": "Which paper generates piano covers from pop audio?",
        "list": LIST_Q,
        "near_miss": "What BLEU score does RAR reach on WMT14 English-German translation?",
        "generated": "How much faster is PixArt-alpha training than Stable Diffusion?",
    }
    return {name: corpus.qa.ask(q) for name, q in questions.items()}


@pytest.mark.parametrize("name", ["number", "which_paper", "list", "near_miss", "generated"])
def test_real_model_answers_are_grounded(corpus: Corpus, real_answers: dict[str, Answer], name: str) -> None:
    ans = real_answers[name]
    assert_grounded(corpus, ans)
    assert ans.model.startswith("llamacpp:") and ans.model.endswith(".gguf")
    assert ans.timings_ms["total"] > 0


def test_real_model_fact_with_a_number(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["number"]
    assert not ans.refused
    assert RAR in {c.title for c in ans.citations}
    assert "1.48" in " ".join(c.quote for c in ans.citations)
    assert ans.draft or ans.mode == "extractive"  # the model was asked
    assert ans.completion_tokens > 0 and ans.prompt_tokens > 0


def test_real_model_which_paper(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["which_paper"]
    assert not ans.refused
    assert ans.citations[0].title.startswith("Pop2Piano")
    assert ans.citations[0].title in ans.answer  # a "which paper" answer names the paper


def test_real_model_list_question(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["list"]
    assert ans.mode == "list" and len(ans.citations) >= 2 and ans.draft == ""


def test_real_model_near_miss_is_refused(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["near_miss"]
    assert ans.refused and ans.citations == []
    assert ans.sources  # the closest papers are still shown


def test_real_model_generated_answer_cites_the_paper(real_answers: dict[str, Answer]) -> None:
    ans = real_answers["generated"]
    assert not ans.refused and ans.draft and ans.completion_tokens > 0
    assert ans.citations[0].title.startswith("PixArt-α")


def test_real_model_is_deterministic(corpus: Corpus, real_answers: dict[str, Answer]) -> None:
    again = corpus.qa.ask(RAR_Q)
    assert without_timings(again) == without_timings(real_answers["number"])
