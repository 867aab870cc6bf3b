"""Validate the evaluation question set against the bundled corpus.

The question set is only useful if it is right: a gold title that does not exist, or a must_include string
that no gold abstract contains, would silently punish a correct system. This script catches such slips.

Usage: python eval/check_questions.py [QUESTIONS_FILE] [--corpus CORPUS_FILE]
Importable: check(path) -> list[str] of problems (empty when the file is valid).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUESTIONS = REPO / "eval" / "questions.jsonl"
DEFAULT_CORPUS = REPO / "data" / "trending-papers-274-abstracts.txt"

REQUIRED_KEYS: dict[str, type] = {
    "id": str,
    "split": str,
    "type": str,
    "question": str,
    "gold_titles": list,
    "answer": str,
    "must_include": list,
}
SPLITS = ("dev", "test", "blind")
# The project's own set (dev/test halves) and a blind set (split "blind", written without seeing the engine) have
# their own floors: the blind set must cover every kind a researcher asks.
MIN_COUNTS: dict[str, int] = {"fact": 25, "identify": 15, "multi": 12, "unanswerable": 12, "paraphrase": 12}
BLIND_MIN_COUNTS: dict[str, int] = {"fact": 15, "identify": 10, "multi": 10, "unanswerable": 20, "paraphrase": 12,
                                    "explain": 15, "compare": 12, "yesno": 12}
TYPES = ("fact", "identify", "multi", "unanswerable", "paraphrase", "explain", "compare", "yesno")
MIN_TOTAL = 90
BLIND_MIN_TOTAL = 120
SINGLE_GOLD_TYPES = ("fact", "identify", "paraphrase", "explain")
MULTI_GOLD_RANGE = (2, 6)
COMPARE_GOLD_RANGE = (1, 2)  # two papers, or one paper that sets its method against another
YES_NO = ("Yes", "No")
ID_RE = re.compile(r"^[qb]\d{3,}$")
HEADER_LINES = 2

# Words too common to count as "keyword overlap" between a paraphrase question and its gold title.
STOPWORDS = frozenset((
    "about", "above", "after", "again", "against", "also", "among", "and", "any", "are", "been", "before", "being",
    "below", "between", "both", "but", "can", "could", "did", "does", "doing", "down", "during", "each", "else",
    "even", "ever", "every", "few", "for", "from", "further", "had", "has", "have", "having", "here", "how",
    "however", "into", "its", "itself", "just", "many", "more", "most", "much", "must", "near", "only", "other",
    "ought", "our", "ours", "over", "same", "should", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "then", "there", "these", "they", "this", "those", "through", "thus", "too", "under", "until", "upon",
    "very", "was", "were", "what", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why",
    "will", "with", "within", "without", "would", "your", "yours", "using", "used", "use", "via", "one", "two",
    "three", "paper", "papers", "work", "works", "study", "method", "methods", "approach", "make", "made",
))


def clean_text(text: str) -> str:
    r"""The cleaning every reader of the corpus applies: drop LaTeX `$`, turn `\%` into `%`."""
    return text.replace("\\%", "%").replace("$", "").strip()


def read_corpus_fallback(path: Path) -> dict[str, str]:
    """Tiny self-contained reader: two header lines, then title line / abstract line alternating."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()]
    body = lines[HEADER_LINES:]
    while body and not body[-1].strip():
        body.pop()
    papers: dict[str, str] = {}
    for i in range(0, len(body) - 1, 2):
        title = body[i].strip()
        if i == 0:
            title = title.removeprefix("Subscribe")
        papers[clean_text(title)] = clean_text(body[i + 1])
    return papers


def _from_records(records: Iterable[object]) -> dict[str, str]:
    papers: dict[str, str] = {}
    for rec in records:
        if isinstance(rec, dict):
            title, abstract = rec["title"], rec["abstract"]
        else:
            title, abstract = rec.title, rec.abstract  # type: ignore[attr-defined]
        papers[str(title)] = str(abstract)
    return papers


def load_corpus(path: Path = DEFAULT_CORPUS) -> tuple[dict[str, str], str]:
    """Title -> abstract, preferring the project's own parser so gold titles match what ingest stores.

    Returns the mapping and the name of the reader used. Falls back to the local reader when
    ingest/parse.py is absent, has no parse_file, or fails on the file.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from ingest.parse import parse_file  # type: ignore[import-not-found]

        papers = _from_records(parse_file(path))
    except Exception as exc:  # noqa: BLE001 - any failure of a parser still being written means: use ours
        why = f"{type(exc).__name__}: {exc}"
    else:
        if papers:
            return papers, "ingest.parse.parse_file"
        why = "it returned no papers"
    return read_corpus_fallback(path), f"fallback reader (ingest.parse not used: {why})"


def content_words(text: str) -> set[str]:
    """Lower-cased words of 4+ letters that are not stopwords."""
    words = re.findall(r"[a-z0-9α-ω]+", text.lower())
    return {w for w in words if len(w) >= 4 and w not in STOPWORDS and not w.isdigit()}


def _same_word(a: str, b: str) -> bool:
    """Equal up to a plural 's' or sharing a 6-letter stem (generators/generation, buildings/building)."""
    a1, b1 = a.removesuffix("s"), b.removesuffix("s")
    if a1 == b1:
        return True
    return len(a) >= 6 and len(b) >= 6 and a[:6] == b[:6]


def paraphrase_overlap(question: str, title: str) -> list[str]:
    """Question words that (nearly) repeat a content word of the title."""
    title_words = content_words(title)
    return sorted(w for w in content_words(question) if any(_same_word(w, t) for t in title_words))


def _load_rows(path: Path) -> tuple[list[dict[str, object]], list[str]]:
    rows: list[dict[str, object]] = []
    problems: list[str] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"line {n}: not a JSON object")
            continue
        obj["_line"] = n
        rows.append(obj)
    return rows, problems


def _check_schema(row: dict[str, object], where: str) -> list[str]:
    problems: list[str] = []
    for key, typ in REQUIRED_KEYS.items():
        if key not in row:
            problems.append(f"{where}: missing key '{key}'")
        elif not isinstance(row[key], typ):
            problems.append(f"{where}: key '{key}' should be {typ.__name__}")
    extra = set(row) - set(REQUIRED_KEYS) - {"_line"}
    if extra:
        problems.append(f"{where}: unknown keys {sorted(extra)}")
    if problems:
        return problems
    if not ID_RE.match(str(row["id"])):
        problems.append(f"{where}: id '{row['id']}' should look like q001")
    if row["split"] not in SPLITS:
        problems.append(f"{where}: bad split '{row['split']}' (allowed: {', '.join(SPLITS)})")
    if row["type"] not in TYPES:
        problems.append(f"{where}: bad type '{row['type']}' (allowed: {', '.join(TYPES)})")
    if not str(row["question"]).strip():
        problems.append(f"{where}: empty question")
    if not str(row["answer"]).strip():
        problems.append(f"{where}: empty answer")
    for key in ("gold_titles", "must_include"):
        values = row[key]
        assert isinstance(values, list)
        if not all(isinstance(v, str) and v.strip() for v in values):
            problems.append(f"{where}: every entry of '{key}' must be a non-empty string")
        elif len(set(values)) != len(values):
            problems.append(f"{where}: duplicate entries in '{key}'")
    return problems


def _check_content(row: dict[str, object], where: str, corpus: dict[str, str]) -> list[str]:
    problems: list[str] = []
    qtype = row["type"]
    gold = [str(t) for t in row["gold_titles"]]  # type: ignore[union-attr]
    must = [str(m) for m in row["must_include"]]  # type: ignore[union-attr]
    for title in gold:
        if title not in corpus:
            problems.append(f"{where}: gold title not in corpus: {title!r}")
    if qtype == "unanswerable":
        if gold:
            problems.append(f"{where}: unanswerable question must have no gold titles")
        return problems
    if qtype in SINGLE_GOLD_TYPES and len(gold) != 1:
        problems.append(f"{where}: {qtype} question needs exactly 1 gold title, has {len(gold)}")
    if qtype == "multi" and not MULTI_GOLD_RANGE[0] <= len(gold) <= MULTI_GOLD_RANGE[1]:
        problems.append(f"{where}: multi question needs {MULTI_GOLD_RANGE[0]}-{MULTI_GOLD_RANGE[1]} gold titles, "
                        f"has {len(gold)}")
    if qtype == "compare" and not COMPARE_GOLD_RANGE[0] <= len(gold) <= COMPARE_GOLD_RANGE[1]:
        problems.append(f"{where}: compare question needs 1-2 gold titles, has {len(gold)}")
    if qtype == "yesno" and not 1 <= len(gold) <= 2:
        problems.append(f"{where}: yesno question needs 1-2 gold titles, has {len(gold)}")
    if qtype in ("fact", "identify", "paraphrase", "explain", "yesno") and not must:
        problems.append(f"{where}: {qtype} question needs at least one must_include string")
    if qtype == "compare" and len(must) < 2:
        problems.append(f"{where}: compare question needs a must_include string for each side")
    if qtype == "yesno":
        if not must or must[0] not in YES_NO:
            problems.append(f"{where}: a yesno question's first must_include must be 'Yes' or 'No'")
        must = must[1:]
    abstracts = [corpus[t].lower() for t in gold if t in corpus]
    if abstracts:
        for m in must:
            if not any(m.lower() in a for a in abstracts):
                problems.append(f"{where}: must_include {m!r} not in any gold abstract")
    if qtype == "paraphrase":
        for title in gold:
            shared = paraphrase_overlap(str(row["question"]), title)
            if shared:
                problems.append(f"{where}: paraphrase shares words with its gold title: {', '.join(shared)}")
    return problems


def count_table(rows: list[dict[str, object]]) -> dict[str, Counter[str]]:
    """type -> Counter of split (plus 'total')."""
    table: dict[str, Counter[str]] = {t: Counter() for t in TYPES}
    for row in rows:
        qtype, split = row.get("type"), row.get("split")
        if qtype in table and split in SPLITS:
            table[str(qtype)][str(split)] += 1
            table[str(qtype)]["total"] += 1
    return table


def check(path: str | Path = DEFAULT_QUESTIONS, corpus_path: str | Path = DEFAULT_CORPUS) -> list[str]:
    """Every problem found in the question file; an empty list means it is valid."""
    path = Path(path)
    if not path.exists():
        return [f"{path}: no such file"]
    corpus, _ = load_corpus(Path(corpus_path))
    rows, problems = _load_rows(path)
    ids = Counter(str(r.get("id")) for r in rows)
    problems += [f"duplicate id '{i}' ({n} times)" for i, n in ids.items() if n > 1]
    questions = Counter(str(r.get("question", "")).strip().lower() for r in rows)
    problems += [f"duplicate question: {q!r}" for q, n in questions.items() if n > 1 and q]
    for row in rows:
        where = f"line {row['_line']} ({row.get('id', '?')})"
        schema_problems = _check_schema(row, where)
        problems += schema_problems
        if not schema_problems:
            problems += _check_content(row, where, corpus)
    table = count_table(rows)
    blind = bool(rows) and all(r.get("split") == "blind" for r in rows)
    if not blind and any(r.get("split") == "blind" for r in rows):
        problems.append("a blind set is a file of its own: do not mix split 'blind' with dev/test rows")
    minimum_total, minimums = (BLIND_MIN_TOTAL, BLIND_MIN_COUNTS) if blind else (MIN_TOTAL, MIN_COUNTS)
    if len(rows) < minimum_total:
        problems.append(f"only {len(rows)} questions, need at least {minimum_total}")
    for qtype, minimum in minimums.items():
        if table[qtype]["total"] < minimum:
            problems.append(f"type '{qtype}' has {table[qtype]['total']} questions, need at least {minimum}")
        for split in (("blind",) if blind else ("dev", "test")):
            if table[qtype][split] == 0:
                problems.append(f"split '{split}' has no '{qtype}' question")
    return problems


def format_table(rows: list[dict[str, object]]) -> str:
    table = count_table(rows)
    lines = [f"{'type':<14}{'dev':>6}{'test':>6}{'blind':>7}{'total':>7}"]
    for qtype in TYPES:
        c = table[qtype]
        lines.append(f"{qtype:<14}{c['dev']:>6}{c['test']:>6}{c['blind']:>7}{c['total']:>7}")
    lines.append(f"{'all':<14}" + "".join(f"{sum(table[t][s] for t in TYPES):>{w}}"
                                            for s, w in (("dev", 6), ("test", 6), ("blind", 7), ("total", 7))))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate eval/questions.jsonl against the corpus.")
    parser.add_argument("file", nargs="?", default=str(DEFAULT_QUESTIONS))
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    args = parser.parse_args(argv)
    problems = check(args.file, args.corpus)
    _, reader = load_corpus(Path(args.corpus))
    rows, _ = _load_rows(Path(args.file)) if Path(args.file).exists() else ([], [])
    print(f"corpus read with: {reader}")
    print(format_table(rows))
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nOK: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
