"""Chunking never truncates: every chunk fits the embedder's 256 word pieces, and together the chunks hold the whole
abstract, sentence by sentence, in order. Counted with the real MiniLM tokenizer."""

from __future__ import annotations

import random

import pytest

from ingest.chunk import chunk_paper
from paperqa.embed import Embedder
from paperqa.records import Chunk, Paper, SourceRef
from paperqa.sentences import sentence_spans

MAX = 256


def full_tokens(embedder: Embedder, text: str) -> int:
    """Word pieces the embedder reads, [CLS] and [SEP] included, without any truncation."""
    return len(embedder.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])


def make_paper(abstract: str, title: str = "A Study of Things") -> Paper:
    return Paper(paper_id="t:test", title=title, abstract=abstract, source=SourceRef("test.txt", 1))


def assert_lossless(paper: Paper, chunks: list[Chunk], embedder: Embedder) -> None:
    """Chunks fit, point into the abstract, follow each other, and between them hold every non-space character."""
    abstract = paper.abstract
    assert chunks, "an abstract must give at least one chunk"
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.paper_id == paper.paper_id and c.title == paper.title
        assert 0 <= c.start < c.end <= len(abstract)
        assert full_tokens(embedder, c.text) <= MAX, (len(c.text), c.text[:80])
        head, sep, body = c.text.partition("\n")
        assert sep and paper.title.startswith(head) and head, "each chunk text starts with the title"
        assert body == abstract[c.start:c.end]
    assert abstract[: chunks[0].start].strip() == ""
    assert abstract[chunks[-1].end:].strip() == ""
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.end <= nxt.start
        assert abstract[prev.end:nxt.start].strip() == "", "nothing between two chunks may be lost"


def test_every_bundled_abstract_chunks_without_loss(corpus_papers: list[Paper], embedder: Embedder) -> None:
    multi = 0
    for paper in corpus_papers:
        chunks = chunk_paper(paper, embedder.count_tokens, MAX)
        assert_lossless(paper, chunks, embedder)
        assert all(c.text.startswith(paper.title + "\n") for c in chunks)
        # sentence-aligned: every sentence lies inside one chunk, and chunks take them in order
        owner = []
        for a, b in sentence_spans(paper.abstract):
            inside = [c.index for c in chunks if c.start <= a and b <= c.end]
            assert len(inside) == 1, paper.abstract[a:b]
            owner.append(inside[0])
        assert owner == sorted(owner) and set(owner) == set(range(len(chunks)))
        multi += len(chunks) > 1
    assert multi > 50  # many bundled abstracts exceed 256 word pieces, so this really exercised the cutting


def test_long_abstract_of_2000_words(embedder: Embedder) -> None:
    rng = random.Random(0)
    vocab = ("diffusion transformer attention benchmark accuracy latency tokenizer ImageNet-256 FID 1.48 "
             "gradient sparse dense retrieval corpus α-decay Schrödinger 10.8% 675 GPU days").split()
    sentences = []
    words = 0
    while words < 2000:
        n = rng.randint(8, 30)
        sentences.append(" ".join(rng.choice(vocab) for _ in range(n)).capitalize() + ".")
        words += n
    paper = make_paper(" ".join(sentences))
    chunks = chunk_paper(paper, embedder.count_tokens, MAX)
    assert_lossless(paper, chunks, embedder)
    assert len(chunks) >= 8
    for a, b in sentence_spans(paper.abstract):  # no sentence is cut: each fits a chunk on its own
        assert sum(1 for c in chunks if c.start <= a and b <= c.end) == 1


def test_600_word_single_sentence(embedder: Embedder) -> None:
    rng = random.Random(1)
    words = [rng.choice(["model", "learns", "representations", "of", "multilingual", "speech", "quickly"])
             for _ in range(600)]
    paper = make_paper(" ".join(words))
    assert len(sentence_spans(paper.abstract)) == 1
    chunks = chunk_paper(paper, embedder.count_tokens, MAX)
    assert_lossless(paper, chunks, embedder)
    assert len(chunks) >= 3
    # cut at word boundaries: re-joining the chunk bodies with spaces gives the words back
    assert " ".join(paper.abstract[c.start:c.end] for c in chunks).split() == words


@pytest.mark.parametrize("word", [
    "x" * 50 + "-" * 500,                     # dense punctuation after sparse letters: uneven token density
    "abcdefghij" * 9 + "-" * 500,
    "中文" * 400,                              # every CJK character is its own word piece
    "-".join(str(i) for i in range(400)),     # a URL-like soup of numbers
])
def test_overlong_single_word_is_cut_to_fit(embedder: Embedder, word: str) -> None:
    paper = make_paper(f"Intro sentence here. {word} Final sentence.")
    chunks = chunk_paper(paper, embedder.count_tokens, MAX)
    assert_lossless(paper, chunks, embedder)
    assert "".join(paper.abstract[c.start:c.end] for c in chunks).replace(" ", "") == \
        paper.abstract.replace(" ", "")


def test_very_long_title_is_shortened_in_the_prefix_only(embedder: Embedder) -> None:
    title = " ".join(["Transformers"] * 300)
    paper = make_paper("A short abstract. It has two sentences.", title=title)
    chunks = chunk_paper(paper, embedder.count_tokens, MAX)
    assert len(chunks) == 1
    assert chunks[0].title == title  # the record keeps the full title
    assert embedder.count_tokens(chunks[0].text.partition("\n")[0]) <= MAX // 2
    assert chunks[0].text.endswith("A short abstract. It has two sentences.")
    assert_lossless(paper, chunks, embedder)


def test_short_abstract_is_one_chunk(embedder: Embedder) -> None:
    paper = make_paper("Only one sentence, well under the limit.")
    chunks = chunk_paper(paper, embedder.count_tokens, MAX)
    assert [(c.start, c.end, c.text) for c in chunks] == [(0, len(paper.abstract), f"{paper.title}\n{paper.abstract}")]
    assert chunks[0].chunk_id == "t:test#0"


def test_smaller_budget_gives_more_chunks(corpus_papers: list[Paper], embedder: Embedder) -> None:
    paper = max(corpus_papers, key=lambda p: len(p.abstract))
    small = chunk_paper(paper, embedder.count_tokens, 64)
    assert len(small) > len(chunk_paper(paper, embedder.count_tokens, MAX))
    for c in small:
        assert full_tokens(embedder, c.text) <= 64
