"""Tests for eval/check_questions.py: the real question set is valid, and broken sets are caught."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
CHECKER_PATH = REPO / "eval" / "check_questions.py"


def _load_checker() -> ModuleType:
    """Load by path: eval/ need not be an installed package for the checker to be testable."""
    spec = importlib.util.spec_from_file_location("check_questions_under_test", CHECKER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cq = _load_checker()
FALLBACK = cq.read_corpus_fallback(cq.DEFAULT_CORPUS)
RAR = "Randomized Autoregressive Visual Generation"


def _real_rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in cq.DEFAULT_QUESTIONS.read_text(encoding="utf-8").splitlines() if line]


def _good_fact(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "q001", "split": "dev", "type": "fact",
        "question": "What FID does RAR achieve on ImageNet-256?",
        "gold_titles": [RAR], "answer": "1.48", "must_include": ["1.48"],
    }
    row.update(changes)
    return row


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _has(problems: list[str], *fragments: str) -> bool:
    return any(all(f in p for f in fragments) for p in problems)


# ---- the real file ----

def test_real_question_file_has_no_problems() -> None:
    assert cq.check(cq.DEFAULT_QUESTIONS) == []


@pytest.mark.parametrize("name", ["blind", "blind2", "blind3", "blind4", "blind5", "blind6", "blind7"])
def test_blind_question_files_have_no_problems(name: str) -> None:
    """The blind sets are validated like the project's own: a wrong gold title or must_include string would
    silently punish a correct answer."""
    path = cq.REPO / "eval" / name / "questions.jsonl"
    assert cq.check(path) == []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    assert len(rows) >= cq.BLIND_MIN_TOTAL and {r["split"] for r in rows} == {"blind"}


def test_real_file_meets_type_minimums_in_both_splits() -> None:
    rows = _real_rows()
    table = cq.count_table(rows)
    assert len(rows) >= 90
    for qtype, minimum in cq.MIN_COUNTS.items():
        assert table[qtype]["total"] >= minimum, qtype
        assert table[qtype]["dev"] > 0 and table[qtype]["test"] > 0, qtype


def test_real_file_gold_titles_match_fallback_reader_too() -> None:
    """Whatever reader the checker picked, the gold titles must also be exact cleaned corpus titles."""
    for row in _real_rows():
        for title in row["gold_titles"]:  # type: ignore[union-attr]
            assert title in FALLBACK, title


def test_real_file_covers_beginning_middle_and_end_of_corpus() -> None:
    order = list(FALLBACK)
    positions = [order.index(t) for r in _real_rows() for t in r["gold_titles"]]  # type: ignore[union-attr]
    assert min(positions) < 10 and max(positions) > 264
    assert sum(1 for p in positions if 100 <= p < 180) >= 10


def test_cli_exits_zero_on_real_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert cq.main([str(cq.DEFAULT_QUESTIONS)]) == 0
    out = capsys.readouterr().out
    assert "paraphrase" in out and "OK" in out


# ---- the corpus reader ----

def test_fallback_reader_cleans_titles_and_abstracts() -> None:
    titles = list(FALLBACK)
    assert len(titles) == 274
    assert titles[0] == "Learnings from Scaling Visual Tokenizers for Reconstruction and Generation"
    assert "PixArt-α: Fast Training of Diffusion Transformer for Photorealistic Text-to-Image Synthesis" in FALLBACK
    assert not any("$" in t for t in titles)
    assert not any("\\%" in a for a in FALLBACK.values())
    pixart = "PixArt-α: Fast Training of Diffusion Transformer for Photorealistic Text-to-Image Synthesis"
    assert "10.8%" in FALLBACK[pixart]


def test_load_corpus_prefers_ingest_parse_when_it_works(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_parse_file(path: Path) -> list[types.SimpleNamespace]:
        return [types.SimpleNamespace(title="Only Paper", abstract="Says 42.")]

    fake_module = types.ModuleType("ingest.parse")
    fake_module.parse_file = fake_parse_file  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ingest.parse", fake_module)
    papers, reader = cq.load_corpus(cq.DEFAULT_CORPUS)
    assert reader == "ingest.parse.parse_file"
    assert papers == {"Only Paper": "Says 42."}


def test_load_corpus_falls_back_when_ingest_parse_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_broken_parse_file(path: Path) -> list[object]:
        raise RuntimeError("half-written parser")

    fake_module = types.ModuleType("ingest.parse")
    fake_module.parse_file = fake_broken_parse_file  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ingest.parse", fake_module)
    papers, reader = cq.load_corpus(cq.DEFAULT_CORPUS)
    assert reader.startswith("fallback reader") and "half-written parser" in reader
    assert len(papers) == 274


# ---- broken files ----

def test_good_single_row_has_no_row_level_problems(tmp_path: Path) -> None:
    problems = cq.check(_write(tmp_path, [_good_fact()]))
    assert not any(p.startswith("line ") for p in problems), problems
    assert _has(problems, "need at least")  # only the count minimums fail for a one-row file


def test_missing_title_is_reported(tmp_path: Path) -> None:
    problems = cq.check(_write(tmp_path, [_good_fact(gold_titles=["A Paper That Does Not Exist"])]))
    assert _has(problems, "gold title not in corpus", "A Paper That Does Not Exist")


def test_title_with_latex_dollars_is_not_accepted(tmp_path: Path) -> None:
    raw = "PixArt-$α$: Fast Training of Diffusion Transformer for Photorealistic Text-to-Image Synthesis"
    problems = cq.check(_write(tmp_path, [_good_fact(gold_titles=[raw], must_include=["10.8%"])]))
    assert _has(problems, "gold title not in corpus")


def test_bad_type_is_reported(tmp_path: Path) -> None:
    problems = cq.check(_write(tmp_path, [_good_fact(type="trivia")]))
    assert _has(problems, "bad type 'trivia'")


def test_bad_split_and_missing_key_are_reported(tmp_path: Path) -> None:
    row = _good_fact(split="train")
    other = _good_fact(id="q002", question="Another?")
    del other["answer"]
    problems = cq.check(_write(tmp_path, [row, other]))
    assert _has(problems, "bad split 'train'")
    assert _has(problems, "missing key 'answer'")


def test_must_include_not_in_abstract_is_reported(tmp_path: Path) -> None:
    problems = cq.check(_write(tmp_path, [_good_fact(must_include=["1.48", "9999.99"])]))
    assert _has(problems, "must_include '9999.99' not in any gold abstract")
    assert not _has(problems, "'1.48' not in")


def test_must_include_is_case_insensitive(tmp_path: Path) -> None:
    problems = cq.check(_write(tmp_path, [_good_fact(must_include=["imagenet-256"])]))
    assert not _has(problems, "must_include")


def test_paraphrase_overlap_is_reported(tmp_path: Path) -> None:
    row = _good_fact(type="paraphrase", question="Which randomized generation approach sets a new image FID record?")
    problems = cq.check(_write(tmp_path, [row]))
    assert _has(problems, "paraphrase shares words", "randomized")


def test_paraphrase_overlap_catches_word_forms() -> None:
    shared = cq.paraphrase_overlap("Which image generators permute their token order?", RAR)
    assert shared == ["generators"]
    assert cq.paraphrase_overlap("Which image model permutes token order during training?", RAR) == []


def test_unanswerable_with_gold_and_duplicate_ids_are_reported(tmp_path: Path) -> None:
    rows = [_good_fact(), _good_fact(type="unanswerable", question="Something else?")]
    problems = cq.check(_write(tmp_path, rows))
    assert _has(problems, "unanswerable question must have no gold titles")
    assert _has(problems, "duplicate id 'q001'")


def test_multi_gold_count_and_invalid_json_are_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, [_good_fact(type="multi")])
    path.write_text(path.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    problems = cq.check(path)
    assert _has(problems, "multi question needs 2-6 gold titles, has 1")
    assert _has(problems, "line 2", "not valid JSON")


def test_cli_exits_one_and_lists_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [_good_fact(type="trivia")])
    assert cq.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "bad type 'trivia'" in out and "total" in out
