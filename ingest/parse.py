"""Turn a source file (seed text, JSON lines, CSV/TSV, BibTeX) into `Paper` records, or refuse it whole.

A file is all-or-nothing: any bad record raises `SourceError(file, line, message)` naming the line to fix, and no
papers are returned, so the caller never stores half a file. Everything here is linear in the input size (no
backtracking-prone regexes, no per-character Python loops over unbounded text), so a 10 MB line cannot hang ingest.

Cleaning depends on where the text was written: the seed file, BibTeX and arXiv metadata are TeX-flavoured, so their
LaTeX is turned into plain Unicode (`$α$` -> `α`, `\\%` -> `%`, `{\\"o}` -> `ö`); generic JSON/CSV rows are plain text
(a `$` there may be a price), so they only get whitespace normalised. Zero-width and bidi controls go everywhere.

Every record is returned, repeats included: deciding which records are the same paper, and saying so, is the
pipeline's job (ingest/pipeline.py). BibTeX is split into entries by bibtexparser 2; BEIR corpora (`_id`, `title`,
`text`) read like any JSON lines, `_id` becoming the paper id.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from paperqa.errors import SourceError
from paperqa.records import Paper, SourceRef, arxiv_id, make_paper_id, normalise_doi, strip_invisible

if TYPE_CHECKING:
    import _csv

SUPPORTED_SUFFIXES: tuple[str, ...] = (".txt", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".bib", ".bibtex")

TITLE_MAX = 1_000
ABSTRACT_MAX = 20_000
AUTHORS_MAX = 100_000
URL_MAX = 2_000
ID_MAX = 200
# Raw text this many times over a cap is rejected before cleaning, so garbage never reaches the (linear) cleaner.
_RAW_SLACK = 4

_SEED_HEADER = "get trending papers in your email inbox"
_SEED_JUNK_PREFIX = "Subscribe"


# ---------------------------------------------------------------------------------------------------------------------
# Public entry points


def parse_file(path: str | Path) -> list[Paper]:
    """Read and parse one source file; any problem (including not being readable) is a SourceError."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise SourceError(name, None, "is a directory, not a file") from None
    except FileNotFoundError:
        raise SourceError(name, None, "file not found") from None
    except PermissionError:
        raise SourceError(name, None, "permission denied: cannot read this file") from None
    except OSError as e:
        raise SourceError(name, None, f"cannot read this file: {e.strerror or e}") from None
    return parse_bytes(data, name)


def parse_bytes(data: bytes, name: str) -> list[Paper]:
    """Parse in-memory file content (an upload, say); `name` picks the format by extension and labels errors."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise SourceError(name, None, f"unsupported file type ({shown}); use one of {', '.join(SUPPORTED_SUFFIXES)}")
    text = decode(data, name)
    if suffix == ".txt":
        papers = _parse_seed(text, name)
    elif suffix in (".jsonl", ".ndjson"):
        papers = _parse_jsonl(text, name)
    elif suffix == ".json":
        papers = _parse_json(text, name)
    elif suffix in (".csv", ".tsv"):
        papers = _parse_csv(text, name, "\t" if suffix == ".tsv" else ",")
    else:
        papers = _parse_bib(text, name)
    if not papers:
        raise SourceError(name, None, "no papers found (the file has no title/abstract records)")
    return papers


def decode(data: bytes, name: str) -> str:
    """Bytes -> text with `\\n` line ends. UTF-8 (BOM optional) or UTF-16/32 with a BOM; never a guessed codec."""
    encoding = "utf-8"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if encoding == "utf-8":
        kind = _binary_kind(data)
        if kind:
            raise SourceError(name, None, f"looks like a binary file ({kind}), not text; paperqa reads "
                                          f"{', '.join(SUPPORTED_SUFFIXES)} text files")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        if encoding == "utf-8":
            line, col = _byte_line_col(data, e.start)
            raise SourceError(name, line, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at column {col}); "
                                          "re-save the file as UTF-8") from None
        line = _text_line_count(data[:e.start].decode(encoding, errors="ignore")) + 1
        raise SourceError(name, line, f"not valid {encoding.upper()} despite its byte-order mark; "
                                      "re-save the file as UTF-8") from None
    if "\x00" in text or _mostly_control(text):
        raise SourceError(name, None, "looks like a binary file (it contains NUL or control bytes), not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _binary_kind(data: bytes) -> str | None:
    for magic, kind in ((b"%PDF-", "a PDF"), (b"PK\x03\x04", "a zip archive or Office document"),
                        (b"\x1f\x8b", "a gzip archive"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG")):
        if data.startswith(magic):
            return kind
    if b"\x00" in data:
        return "it contains NUL bytes; if it is UTF-16, save it with a byte-order mark or as UTF-8"
    return None


_CONTROL_CHARS = "".join(chr(c) for c in (*range(9), 0x0B, *range(0x0E, 0x20), 0x7F))


_DROP_CONTROL = {ord(c): None for c in _CONTROL_CHARS}


def _mostly_control(text: str) -> bool:
    sample = text[:65536]
    n_control = len(sample) - len(sample.translate(_DROP_CONTROL))
    return n_control > 8 and n_control * 10 > len(sample)


def _byte_line_col(data: bytes, pos: int) -> tuple[int, int]:
    """1-based line/column of byte `pos`, counting CRLF, CR and LF as line ends like the decoded text does."""
    head = data[:pos]
    line = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
    start = max(head.rfind(b"\n"), head.rfind(b"\r")) + 1
    return line, pos - start + 1


def _text_line_count(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class _Lines:
    """Offset -> 1-based line number for formats parsed over the whole text (JSON documents, BibTeX). Parsers ask
    in increasing order, so counting on from the last answer keeps this linear without an index of every line."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line = 1

    def at(self, pos: int) -> int:
        if pos < self._pos:
            self._pos, self._line = 0, 1
        self._line += self._text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line


# ---------------------------------------------------------------------------------------------------------------------
# Text cleaning

# Symbol names -> characters: pylatexenc's table (hundreds of names), with ours where we choose differently or it has
# no entry. Not pylatexenc's whole LaTeX-to-text conversion: on the bundled corpus it read the scraped abstracts' bare
# '%' as comments (dropping the rest of 9 abstracts), changed titles ('--' -> '–', which eval matches on), was ~370x
# slower than this linear pass, and fails on deeply nested braces (RecursionError); bench/libraries.py measures it.
_SYMBOL_OVERRIDES = {
    "epsilon": "ε", "phi": "φ", "sim": "~", "sqrt": "√", "ne": "≠", "degree": "°", "deg": "deg", "arg": "arg",
    "textunderscore": "_", "textbar": "|", "euro": "€", "copyright": "©", "S": "§", "P": "¶", "LaTeX": "LaTeX",
    "TeX": "TeX", "BibTeX": "BibTeX", "quad": " ", "qquad": " ", "newline": " ", "par": " ",
}


@functools.cache
def _symbol(name: str) -> str | None:
    """The character(s) a symbol command stands for, or None when it is not a plain symbol."""
    if name in _SYMBOL_OVERRIDES:
        return _SYMBOL_OVERRIDES[name]
    spec = _latex_table().get_macro_spec(name)
    repl = getattr(spec, "simplify_repl", None)
    return repl if isinstance(repl, str) and "%" not in repl and "\\" not in repl else None


@functools.cache
def _latex_table():  # type: ignore[no-untyped-def]
    from pylatexenc.latex2text import get_default_latex_context_db

    return get_default_latex_context_db()


# Commands that only format their argument: drop the name, keep the argument (and drop that group's braces).
_FORMAT_COMMANDS = frozenset({
    "textbf", "textit", "texttt", "textsc", "textrm", "textsf", "textsl", "textup", "textnormal", "emph", "em", "bf",
    "it", "tt", "sc", "rm", "sf", "sl", "underline", "mbox", "text", "mathrm", "mathbf", "mathit", "mathsf",
    "mathtt", "mathcal", "mathbb", "mathfrak", "mathnormal", "boldsymbol", "bm", "operatorname", "displaystyle",
    "textstyle", "scriptstyle", "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr",
    "biggl", "biggr", "middle", "noindent", "xspace", "protect", "relax", "ensuremath", "hbox", "vbox",
    "footnotesize", "small", "large", "Large", "tiny", "normalsize", "huge",
})

_ACCENTS = {'"': "\u0308", "'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", "=": "\u0304", ".": "\u0307",
            "c": "\u0327", "v": "\u030c", "u": "\u0306", "H": "\u030b", "r": "\u030a", "k": "\u0328"}
_LETTER = r"(\\[ij](?![A-Za-z])|[A-Za-z])"
_ACCENT_RE = re.compile(
    r"""\\(["'`^~=.])[ ]{0,2}(?:\{[ ]{0,2}""" + _LETTER + r"[ ]{0,2}\}|" + _LETTER + ")"
    + r"|\\([cvuHrk])(?:[ ]{0,2}\{[ ]{0,2}" + _LETTER + r"[ ]{0,2}\}|[ ]{1,2}" + _LETTER + r"(?![A-Za-z]))")
_TOKEN_RE = re.compile(r"\\(?:[A-Za-z]+|.)?|\$|\{\}|[{}]|``|''|~", re.DOTALL)
_ESCAPED_LITERAL = frozenset("%&_#${}")
_SPACE_ESCAPES = frozenset(",;:! \n\t\\")
# Control characters, and byte-order marks left inside the text by concatenated files.
_NON_SPACE_CONTROL = {c: None for c in range(0x20) if chr(c) not in "\t\n\x0b\x0c\r"} | {0x7F: None, 0xFEFF: None} | {
    c: None for c in range(0x80, 0xA0)}


def normalise_space(text: str) -> str:
    """One space between words, no control characters, no zero-width or bidi controls (a title must not display
    reordered, and an invisible character must not split a word for search)."""
    return " ".join(strip_invisible(text.translate(_NON_SPACE_CONTROL)).split())


def _accent(m: re.Match[str]) -> str:
    mark = _ACCENTS[m.group(1) or m.group(4)]
    base = next(g for g in (m.group(2), m.group(3), m.group(5), m.group(6)) if g)
    if base.startswith("\\"):
        base = base[1]  # \i, \j: the dotless letter, which takes the accent in place of its dot
    return unicodedata.normalize("NFC", base + mark)


def clean_latex(text: str, *, drop_braces: bool) -> str:
    """LaTeX -> readable Unicode without losing words: known symbols become characters, unknown commands keep their
    name (`\\method` -> `method`), math keeps its text without the `$`. `drop_braces` is for BibTeX, where braces
    only protect case; in plain text a `{a, b}` set is content and stays.
    """
    if "\\" not in text and "$" not in text and "{" not in text and "~" not in text and "`" not in text \
            and "''" not in text:
        return text
    text = _ACCENT_RE.sub(_accent, text)
    out: list[str] = []
    stack: list[bool] = []  # per open brace: was it dropped?
    pos = 0
    format_end = -1  # end offset of the last formatting command, so its `{argument}` loses its braces
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos:m.start()])
        pos = m.end()
        tok = m.group()
        if tok.startswith("\\"):
            name = tok[1:]
            if not name:  # a lone backslash at the very end
                continue
            if name.isalpha():
                symbol = _symbol(name)
                if symbol is not None:
                    out.append(symbol)
                elif name in _FORMAT_COMMANDS:
                    format_end = m.end()
                else:
                    out.append(name)
            elif name in _ESCAPED_LITERAL:
                out.append(name)
            elif name in _SPACE_ESCAPES:
                out.append(" ")
            elif name == "~":
                out.append("~")
            elif name in _ACCENTS or name in "-/@":
                continue  # an accent with nothing to sit on, a hyphenation hint, a spacing hint
            else:
                out.append(name)  # `\3` (a dollar sign lost upstream), `\<`: keep the character
        elif tok == "$" or tok == "{}":
            continue
        elif tok == "{":
            drop = drop_braces or m.start() == format_end
            stack.append(drop)
            if not drop:
                out.append("{")
        elif tok == "}":
            dropped = stack.pop() if stack else drop_braces
            if not dropped:
                out.append("}")
        elif tok in ("``", "''"):
            out.append('"')
        else:  # "~": a tie between two words is a space; "~100" (approximately) stays
            before = text[m.start() - 1] if m.start() else " "
            after = text[m.end()] if m.end() < len(text) else " "
            out.append(" " if drop_braces or (not before.isspace() and not after.isspace()) else "~")
    out.append(text[pos:])
    return "".join(out)


def _check_raw_length(value: str, cap: int, what: str, name: str, line: int) -> None:
    if len(value) > cap * _RAW_SLACK:
        raise SourceError(name, line, f"{what} is {len(value):,} characters long (the limit is {cap:,}); "
                                      "is a delimiter or line break missing?")


def _clean(value: str, cap: int, what: str, name: str, line: int, latex: bool, drop_braces: bool) -> str:
    _check_raw_length(value, cap, what, name, line)
    if not value.isascii():
        try:
            value.encode("utf-8")  # JSON "\\ud800" escapes decode to lone surrogates that cannot be stored
        except UnicodeEncodeError:
            raise SourceError(name, line, f"{what} contains an invalid character (a lone UTF-16 surrogate, "
                                          "e.g. a bad \\ud800 escape)") from None
    if latex:
        value = clean_latex(value, drop_braces=drop_braces)
    value = normalise_space(value)
    if len(value) > cap:
        raise SourceError(name, line, f"{what} is {len(value):,} characters long (the limit is {cap:,}); "
                                      "is a delimiter or line break missing?")
    return value


# ---------------------------------------------------------------------------------------------------------------------
# Shared record building


@dataclass
class _Record:
    """One record's raw strings, before cleaning; every format fills this, `_finish` turns it into a Paper."""

    line: int
    title: str
    abstract: str
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    url: str | None = None
    doi: str | None = None
    arxiv: list[str] = field(default_factory=list)  # candidates, best first (an id, an eprint, a URL)
    explicit_id: str | None = None  # the record's own `_id`/`id`, used when it has no DOI or arXiv id


_DOI_RE = re.compile(r"10\.\d{4,9}/\S+")
_URL_RE = re.compile(r"(https?|ftp)://\S+$|www\.\S+$|doi:\S+$", re.IGNORECASE)


def _finish(rec: _Record, name: str, latex: bool, drop_braces: bool) -> Paper:
    line = rec.line
    title = _clean(rec.title, TITLE_MAX, "title", name, line, latex, drop_braces)
    if not title:
        raise SourceError(name, line, "the title is empty")
    abstract = _clean(rec.abstract, ABSTRACT_MAX, "abstract", name, line, latex, drop_braces)
    if not abstract:
        raise SourceError(name, line, f"the abstract of '{title[:80]}' is empty")
    authors: tuple[str, ...] = ()
    if rec.authors:
        authors = tuple(a for a in (_clean(a, TITLE_MAX, "an author name", name, line, latex, drop_braces)
                                    for a in rec.authors) if a)
    # A placeholder like "N/A" in a doi column must not become the id of every such paper.
    doi = _clean(normalise_doi(rec.doi), TITLE_MAX, "doi", name, line, False, False) if rec.doi else ""
    doi = doi if _DOI_RE.fullmatch(doi) else ""
    arxiv = next((a for a in map(arxiv_id, rec.arxiv) if a), None) if rec.arxiv else None
    url = _clean(rec.url, URL_MAX, "url", name, line, False, False) if rec.url else ""
    if url and not _URL_RE.match(url):
        url = ""  # "N/A", "-": a placeholder, not a link a citation could point at
    if not url and arxiv:
        url = f"https://arxiv.org/abs/{arxiv}"
    elif not url and doi:
        url = f"https://doi.org/{doi}"
    explicit = _clean(rec.explicit_id, ID_MAX, "id", name, line, False, False) if rec.explicit_id else None
    return Paper(paper_id=make_paper_id(title, abstract, doi=doi, arxiv=arxiv, explicit=explicit), title=title,
                 abstract=abstract,
                 source=SourceRef(file=name, line=line), authors=authors, year=rec.year, url=url or None,
                 doi=doi or None)


_YEAR_RE = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _year(value: object, key: str, name: str, line: int) -> int | None:
    """A year from a number or a date-ish string ('2023', '2023-05-01', 'Mon, 1 May 2023'). Text with no year in it
    ('in press', 'n.d.') is a missing year, as in real bibliographies; a number that is no year, or a list or object,
    means the columns are mixed up, so that is an error."""
    if isinstance(value, str):
        m = _YEAR_RE.search(value[:200])
        year = int(m.group(1)) if m else None
        return year if year is not None and 1000 <= year <= 2999 else None
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 2999:
        return value
    shown = f" {value!r}" if isinstance(value, (int, float)) else ""  # no repr of arbitrarily nested JSON
    raise SourceError(name, line, f"'{key}' must be a year like 2023, not {_type_name(value)}{shown}")


_AUTHOR_SEP_RE = re.compile(r"[(){}\[\],;]| and ")


def _split_authors(value: str) -> list[str]:
    """Split 'A; B', 'A, B and C' or 'A and B' at top level: a comma inside '(MIT, Cambridge)' is not a separator."""
    value = normalise_space(value)
    use_semicolons = ";" in value
    parts: list[str] = []
    depth = 0
    start = 0
    for m in _AUTHOR_SEP_RE.finditer(value):
        tok = m.group()
        if tok in "({[":
            depth += 1
        elif tok in ")}]":
            depth = max(0, depth - 1)
        elif depth == 0 and (tok == ";" or not use_semicolons):
            parts.append(value[start:m.start()])
            start = m.end()
    parts.append(value[start:])
    out = []
    for p in parts:
        p = p.strip()
        if p.lower().startswith("and "):  # "A, B, and C"
            p = p[4:].strip()
        if p:
            out.append(p)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Seed format: header lines, then title / abstract lines alternating


def _parse_seed(text: str, name: str) -> list[Paper]:
    """The bundled page-scrape format. A title must be followed directly by its abstract line; blank lines may
    separate records. Page-header lines are recognised by their text, wherever they are."""
    papers: list[Paper] = []
    title: str | None = None
    title_line = 0
    after_header = False
    strip_junk = False
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip().lstrip("\ufeff")
        if title is None:
            if not line:
                continue
            if line.lower().startswith(_SEED_HEADER):
                after_header = True
                continue
            if not papers:
                _refuse_other_format(line, name, lineno)
            title, title_line = line, lineno
            strip_junk, after_header = after_header, False
            _check_raw_length(title, TITLE_MAX, "title", name, lineno)
            continue
        if not line:
            raise SourceError(name, title_line, f"the title on line {title_line} has no abstract (line {lineno} "
                                                "is empty); each title line must be followed directly by its "
                                                "abstract line")
        if strip_junk and title.startswith(_SEED_JUNK_PREFIX):
            rest = title[len(_SEED_JUNK_PREFIX):]
            if rest[:1].isupper() or rest[:1].isdigit():  # "SubscribeLearnings from…": page junk glued on
                title = rest
        rec = _Record(line=title_line, title=title, abstract=line)
        papers.append(_finish(rec, name, latex=True, drop_braces=False))
        title = None
    if title is not None:
        raise SourceError(name, title_line, f"the title on line {title_line} has no abstract (it is the last line); "
                                            "each title line must be followed by its abstract line")
    return papers


def _refuse_other_format(first: str, name: str, line: int) -> None:
    """A .txt holding JSON lines or BibTeX would otherwise pair its lines up into nonsense papers."""
    if first.startswith("{") and first.endswith("}"):
        try:
            is_json = isinstance(json.loads(first), dict)
        except (ValueError, RecursionError):
            is_json = False
        if is_json:
            raise SourceError(name, line, "this looks like JSON lines, not title/abstract lines; rename the file "
                                          "to .jsonl")
    if _BIB_AT_RE.match(first):
        raise SourceError(name, line, "this looks like BibTeX, not title/abstract lines; rename the file to .bib")


# ---------------------------------------------------------------------------------------------------------------------
# JSON lines / JSON documents / CSV: one record per object or row, keys matched case-insensitively

_ARXIV_HINT_KEYS = ("authors_parsed", "submitter")  # keys of arXiv's metadata snapshot, whose text is TeX
_ABSTRACT_KEYS = ("abstract", "summary", "text")  # "text": BEIR corpora ({"_id", "title", "text"})


def _type_name(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _optional_str(fields: dict[str, object], key: str, name: str, line: int) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SourceError(name, line, f"'{key}' must be a string, not {_type_name(value)}")
    return value.strip() or None


def _record_from_fields(fields: dict[str, object], name: str, line: int, kind: str) -> Paper:
    """JSON object / CSV row -> Paper. `kind` words the errors ('line', 'row')."""
    fields = {k.strip().lstrip("\ufeff").lower(): v for k, v in reversed(list(fields.items())) if isinstance(k, str)}
    values: dict[str, str] = {}
    for key, aliases in (("title", ("title",)), ("abstract", _ABSTRACT_KEYS)):
        present = [a for a in aliases if a in fields]
        if not present:
            raise SourceError(name, line, f"this {kind} has no '{key}'; every record needs a title and an abstract")
        value = fields[present[0]]
        if not isinstance(value, str):
            raise SourceError(name, line, f"'{present[0]}' must be a string, not {_type_name(value)}")
        values[key] = value

    authors = _authors(fields.get("authors", fields.get("author")), name, line)

    year = None
    for key in ("year", "update_date", "date", "published"):
        if fields.get(key) not in (None, ""):
            year = _year(fields[key], key, name, line)
            if year is not None:
                break

    url = _optional_str(fields, "url", name, line)
    doi = _optional_str(fields, "doi", name, line)
    ids = [v for v in (fields.get("arxiv_id"), fields.get("arxiv"), fields.get("id")) if isinstance(v, str)]
    if url:
        ids.append(url)
    is_arxiv = any(arxiv_id(i) for i in ids[:3]) or any(k in fields for k in _ARXIV_HINT_KEYS)
    rec = _Record(line=line, title=values["title"], abstract=values["abstract"], authors=authors, year=year,
                  url=url, doi=doi, arxiv=ids, explicit_id=_explicit_id(fields, name, line))
    return _finish(rec, name, latex=is_arxiv, drop_braces=True)


def _explicit_id(fields: dict[str, object], name: str, line: int) -> str | None:
    """A record's own id: BEIR's `_id`, or `id` (a string, or a whole number as JSON and CSV exports write them)."""
    for key in ("_id", "id"):
        value = fields.get(key)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if value is not None and not isinstance(value, str):
            raise SourceError(name, line, f"'{key}' must be a string or a whole number, not {_type_name(value)}")
        if value and value.strip():
            return value
    return None


def _authors(value: object, name: str, line: int) -> list[str]:
    """Authors as a list of names, a list of {"name": ...} objects, or one string ('A; B', 'A, B and C', or a
    list written out by a dataframe export: "['A', 'B']")."""
    if value is None:
        return []
    if isinstance(value, str):
        _check_raw_length(value, AUTHORS_MAX // _RAW_SLACK, "authors", name, line)
        listed = value.strip()
        if listed.startswith("[") and listed.endswith("]"):
            return [a.strip().strip("'\"").strip() for a in listed[1:-1].split(",") if a.strip().strip("'\"")]
        return _split_authors(value)
    if not isinstance(value, list):
        raise SourceError(name, line, f"'authors' must be a list or a string, not {_type_name(value)}")
    if len(value) > AUTHORS_MAX // 10:
        raise SourceError(name, line, f"'authors' lists {len(value):,} names; that is not an author list")
    out = []
    for a in value:
        if isinstance(a, dict) and isinstance(a.get("name"), str):
            a = a["name"]
        if not isinstance(a, str):
            raise SourceError(name, line, f"'authors' must be a list of names, but it holds {_type_name(a)}")
        out.append(a)
    return out


def _json_error(name: str, line: int, e: Exception) -> SourceError:
    if isinstance(e, json.JSONDecodeError):
        return SourceError(name, line, f"not valid JSON: {e.msg} (column {e.colno})")
    if isinstance(e, RecursionError):
        return SourceError(name, line, "not usable JSON: nested too deeply")
    return SourceError(name, line, f"not valid JSON: {e}")


def _as_object(value: object, name: str, line: int) -> dict[str, object]:
    if not isinstance(value, dict):
        hint = ""
        if isinstance(value, list) and Path(name).suffix.lower() in (".jsonl", ".ndjson"):
            hint = " (a file holding one JSON array should be named .json)"
        raise SourceError(name, line, f"expected a JSON object like {{\"title\": ..., \"abstract\": ...}}, "
                                      f"found {_type_name(value)}{hint}")
    return value


def _parse_jsonl(text: str, name: str) -> list[Paper]:
    papers = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as e:
            raise _json_error(name, lineno, e) from None
        papers.append(_record_from_fields(_as_object(value, name, lineno), name, lineno, "line"))
    return papers


_JSON_WS = re.compile(r"[ \t\n\r]*")


def _parse_json(text: str, name: str) -> list[Paper]:
    """A `.json` file: a top-level array of objects, or one or more objects (JSON lines, or pretty-printed)."""
    lines = _Lines(text)
    decoder = json.JSONDecoder()

    def skip(pos: int) -> int:
        m = _JSON_WS.match(text, pos)
        return m.end() if m else pos

    def value_at(pos: int) -> tuple[object, int]:
        try:
            return decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            if not text[e.pos:].strip():  # ran off the end: the unfinished value is where the fix goes
                raise SourceError(name, lines.at(pos), f"not valid JSON: the value starting on this line is never "
                                                       f"finished ({e.msg} at the end of the file)") from None
            raise _json_error(name, e.lineno, e) from None
        except (ValueError, RecursionError) as e:
            raise _json_error(name, lines.at(pos), e) from None

    papers: list[Paper] = []

    def add(start: int, value: object) -> None:
        line = lines.at(start)
        papers.append(_record_from_fields(_as_object(value, name, line), name, line, "record"))

    pos = skip(0)
    if text.startswith("[", pos):
        pos = skip(pos + 1)
        if text.startswith("]", pos):
            pos = skip(pos + 1)
        else:
            while True:
                start = pos
                value, pos = value_at(pos)
                add(start, value)
                pos = skip(pos)
                if text.startswith(",", pos):
                    pos = skip(pos + 1)
                elif text.startswith("]", pos):
                    pos = skip(pos + 1)
                    break
                else:
                    what = "the end of the file" if pos >= len(text) else repr(text[pos])
                    raise SourceError(name, lines.at(pos), f"not valid JSON: expected ',' or ']' in the top-level "
                                                           f"array, found {what}")
        if pos < len(text):
            raise SourceError(name, lines.at(pos), "not valid JSON: unexpected text after the closing ']'")
    else:
        while pos < len(text):
            start = pos
            value, pos = value_at(pos)
            add(start, value)
            pos = skip(pos)
    return papers


def _parse_csv(text: str, name: str, delimiter: str) -> list[Paper]:
    """CSV/TSV with a header row. Records are numbered by the physical line they start on (quoted fields may span
    lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows = _csv_rows(reader, name)
    header: list[str] | None = None
    header_line = 1
    papers = []
    for line, row in rows:
        if header is None:
            header = [c.strip().lstrip("\ufeff").lower() for c in row]
            header_line = line
            missing = [c for c in ("title", "abstract") if c not in header and not (c == "abstract" and
                                                                                   set(_ABSTRACT_KEYS) & set(header))]
            if missing:
                shown = ", ".join(repr(c) for c in header[:12] if c) or "none"
                sep = "tab" if delimiter == "\t" else "comma"
                raise SourceError(name, line, f"the header row has no {' or '.join(repr(m) for m in missing)} "
                                              f"column (found: {shown}); the first line must name the columns, "
                                              f"{sep}-separated")
            continue
        if len(row) > len(header):
            raise SourceError(name, line, f"this row has {len(row)} fields but the header (line {header_line}) has "
                                          f"{len(header)}; is a field with a '{delimiter}' missing its quotes?")
        fields: dict[str, object] = {}
        for key, value in zip(header, row, strict=False):
            if key and key not in fields:
                fields[key] = value
        papers.append(_record_from_fields(fields, name, line, "row"))
    return papers


def _csv_rows(reader: _csv._reader, name: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, row) for non-blank rows; csv errors become SourceErrors at the record's first line."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            hint = " (a quoted field is never closed)" if "unexpected end of data" in str(e) else ""
            raise SourceError(name, start, f"not valid CSV: {e}{hint}") from None
        if row and (row[0].strip() or any(c.strip() for c in row)):
            yield start, row


# ---------------------------------------------------------------------------------------------------------------------
# BibTeX: bibtexparser 2 splits the file into blocks (entries, @string, comments, failed blocks with their lines);
# here each entry's raw values are resolved (@string macros, '#' concatenation) and checked.

_BIB_AT_RE = re.compile(r"@[ \t]*([A-Za-z][\w-]*)[ \t\n]*([{(])")
_BIB_PART_RE = re.compile(r"[ \t\n]*(?:(\{)|(\")|(\d+)|([A-Za-z_][\w\-.:+/]*))")
_BIB_GROUP_RE = re.compile(r"\\.|[{}\"]", re.DOTALL)
_MONTHS = {m: m.capitalize() for m in ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec")}
_BIB_USED_FIELDS = ("title", "abstract", "author", "year", "date", "doi", "url", "eprint", "arxiv", "arxivid")
logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)  # its failures become our SourceErrors instead


def _bib_value(raw: str, macros: dict[str, str]) -> tuple[str, int, str]:
    """A raw BibTeX value (`{..}`, `".."`, a number or an @string name, joined by `#`) -> (text, offset of a problem,
    the problem: "" when there is none). bibtexparser has already checked that braces balance."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _BIB_PART_RE.match(raw, pos)
        if not m:
            return "", pos, "value"
        if m.group(1) or m.group(2):
            depth, end = 0, -1
            for t in _BIB_GROUP_RE.finditer(raw, m.end()):
                tok = t.group()
                if depth == 0 and (tok == '"' and m.group(2) or tok == "}" and m.group(1)):
                    end = t.start()
                    break
                depth += {"{": 1, "}": -1}.get(tok, 0)
            if end < 0:
                return "", m.start(), "value"
            parts.append(raw[m.end():end])
            pos = end + 1
        elif m.group(3):
            parts.append(m.group(3))
            pos = m.end()
        elif m.group(4).lower() in macros:
            parts.append(macros[m.group(4).lower()])
            pos = m.end()
        else:
            return "", m.start(), "macro"
        rest = len(raw) - len(raw[pos:].lstrip())
        if rest == len(raw):
            return "".join(parts), 0, ""
        if raw[rest] != "#":
            return "", rest, "comma"
        pos = rest + 1


def _bib_check_blocks(blocks: list, name: str) -> None:  # type: ignore[type-arg]
    """Blocks bibtexparser could not parse, and text between entries holding a '}' (an entry closed too early; a
    '%' line may hold anything), become SourceErrors at the entry's line."""
    from bibtexparser import model

    previous: tuple[int, str] | None = None
    for block in blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, model.ParsingFailedBlock) and not block.ignore_error_block:
            reason = getattr(block.error, "abort_reason", "") or str(block.error)
            what = f"is not valid BibTeX ({' '.join(reason.split())})"
            if "end of file" in reason:
                what = "is never closed"
            elif "block start" in reason or "found `@" in reason:
                what = "is not closed before the next entry"
            raise SourceError(name, line, f"unbalanced braces: the entry starting on this line {what}; is a '}}' or "
                                          "a quote missing?")
        if isinstance(block, model.ImplicitComment):
            stray = next((i for i, ln in enumerate((block.raw or "").split("\n"))
                          if "}" in ln and not ln.lstrip().startswith("%")), None)
            if stray is not None and previous is None:
                raise SourceError(name, line + stray, "unbalanced braces: a '}' before any entry")
            if stray is not None and previous is not None:
                raise SourceError(name, previous[0], f"unbalanced braces: {previous[1]} has one '}}' too many; it "
                                                     f"ends early and a stray '}}' is left on line {line + stray}")
        elif isinstance(block, model.Entry | model.String | model.ParsingFailedBlock):
            key = getattr(block, "key", "")
            previous = (line, f"entry '{key}' (line {line})" if key else f"the block on line {line}")


def _parse_bib(text: str, name: str) -> list[Paper]:
    import bibtexparser
    from bibtexparser import model

    blocks = bibtexparser.parse_string(text, parse_stack=[]).blocks
    _bib_check_blocks(blocks, name)
    macros = dict(_MONTHS)
    papers: list[Paper] = []
    for block in blocks:
        if isinstance(block, model.ParsingFailedBlock):  # a repeated entry or field key: the pipeline reports repeats
            block = block.ignore_error_block
        if not isinstance(block, model.String | model.Entry):
            continue
        line = (block.start_line or 0) + 1
        is_string = isinstance(block, model.String)
        entry = f"the @string on line {line}" if is_string else f"entry '{block.key}' (line {line})"
        fields = [model.Field(block.key, block.value, block.start_line)] if is_string else block.fields
        values: dict[str, str] = {}
        for f in fields:
            key = f.key.lower()
            value, at, problem = _bib_value(str(f.value), macros)
            if problem and (is_string or key in _BIB_USED_FIELDS):
                raise SourceError(name, (f.start_line or 0) + 1 + str(f.value)[:at].count("\n"), {
                    "macro": f"the '{key}' field of {entry} uses an undefined @string macro; put the value in braces",
                    "comma": f"expected ',' or '}}' after the '{key}' field of {entry} (a missing comma or brace?)",
                }.get(problem, f"expected a value for the '{key}' field of {entry} ({{...}}, \"...\" or a number)"))
            values.setdefault(key, value)
        if is_string:
            macros[block.key.lower()] = values[block.key.lower()]
        else:
            papers.append(_finish(_bib_record(values, name, line, entry), name, latex=True, drop_braces=True))
    return papers


def _bib_record(fields: dict[str, str], name: str, line: int, entry: str) -> _Record:
    from bibtexparser.middlewares.names import parse_single_name_into_parts, split_multiple_persons_names

    for key in ("title", "abstract"):
        if not fields.get(key, "").strip():
            raise SourceError(name, line, f"{entry} has no {key}; every entry needs a title and an abstract")

    def get(key: str) -> str | None:
        return fields.get(key, "").strip() or None

    authors = []
    if get("author"):
        raw = normalise_space(get("author") or "")
        _check_raw_length(raw, AUTHORS_MAX // _RAW_SLACK, "author", name, line)
        for person in split_multiple_persons_names(raw):
            if person.lower() != "others":
                try:
                    authors.append(parse_single_name_into_parts(person).merge_first_name_first)
                except ValueError:  # InvalidNameError: 'a, b, c, d' is kept as written
                    authors.append(person)
    year = None
    for key in ("year", "date"):
        if get(key):
            year = _year(clean_latex(get(key) or "", drop_braces=True), key, name, line)
            if year is not None:
                break
    url = _bib_verbatim(get("url"))
    arxiv = [c for c in (get("eprint"), get("arxiv"), get("arxivid"), url) if c]
    return _Record(line=line, title=fields["title"], abstract=fields["abstract"], authors=authors, year=year, url=url,
                   doi=_bib_verbatim(get("doi")), arxiv=arxiv)


def _bib_verbatim(value: str | None) -> str | None:
    """URLs and DOIs are verbatim in BibTeX: a '~' is a tilde, not a space; only braces and escapes go."""
    if not value:
        return None
    for esc in ("\\_", "\\%", "\\&", "\\#", "\\~", "\\$"):
        value = value.replace(esc, esc[-1])
    return value.replace("{", "").replace("}", "")
