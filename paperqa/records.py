"""The records that flow through paperqa: a paper as parsed, and a chunk as stored."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceRef:
    """Where a paper came from, so an error or a citation can point back at the file and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Paper:
    """One paper: the unit a citation names. `paper_id` is stable across re-ingests."""

    paper_id: str
    title: str
    abstract: str
    source: SourceRef
    authors: tuple[str, ...] = ()
    year: int | None = None
    url: str | None = None
    doi: str | None = None

    @functools.cached_property
    def content_key(self) -> str:
        """Same paper, whatever its id: the normalised title and abstract (see `content_key`)."""
        return content_key(self.title, self.abstract)

    @property
    def content_hash(self) -> str:
        """Changes when anything we store about the paper changes; drives idempotent re-ingest."""
        h = hashlib.sha256()
        for part in (self.title, self.abstract, "|".join(self.authors), str(self.year), self.url or "",
                     self.doi or ""):
            h.update(part.encode("utf-8"))
            h.update(b"\x1f")
        return h.hexdigest()[:32]


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned piece of one abstract, small enough for the embedder to read whole.

    `start`/`end` are character offsets into the paper's abstract; `text` is what gets embedded
    (the title, a newline, then abstract[start:end]).
    """

    paper_id: str
    index: int
    start: int
    end: int
    text: str
    title: str = field(default="")

    @property
    def chunk_id(self) -> str:
        return f"{self.paper_id}#{self.index}"


def chunk_paper_id(chunk_id: str) -> str:
    """The paper a chunk id belongs to (the inverse of `Chunk.chunk_id`), so a search need not fetch metadata."""
    return chunk_id.rsplit("#", 1)[0]


_ARXIV_RE = re.compile(r"(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$|(?:arxiv:)?([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$",
                       re.IGNORECASE)


def normalise_title(title: str) -> str:
    """Case-, accent- and punctuation-insensitive form of a title, for ids and de-duplication."""
    t = unicodedata.normalize("NFKD", title)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9α-ω]+", t))


def normalise_doi(doi: str) -> str:
    doi = doi.strip()
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", doi, flags=re.IGNORECASE)
    return doi.lower()


def arxiv_id(raw: str) -> str | None:
    """The bare arXiv id (no version) in `raw`, or None if it is not one."""
    raw = raw.strip()
    raw = re.sub(r"^https?://arxiv\.org/(abs|pdf)/", "", raw, flags=re.IGNORECASE)
    raw = raw.removesuffix(".pdf")
    m = _ARXIV_RE.match(raw)
    if not m:
        return None
    return (m.group(1) or m.group(2)).lower()


def make_paper_id(title: str, abstract: str = "", doi: str | None = None, arxiv: str | None = None,
                  explicit: str | None = None) -> str:
    """The record's own id when it has one (DOI > arXiv id > an explicit `id`/`_id`, kept as given), else a hash
    of the normalised title and abstract: two papers that share only a title are two papers."""
    if doi and normalise_doi(doi):
        return "doi:" + normalise_doi(doi)
    if arxiv:
        a = arxiv_id(arxiv)
        if a:
            return "arxiv:" + a
    if explicit:
        return explicit
    return "t:" + content_key(title, abstract)


def legacy_paper_id(title: str) -> str:
    """The id paperqa gave a paper without DOI/arXiv id before ids covered the abstract (title only); an ingest
    recognises these in an older store and moves them to the new ids once."""
    return "t:" + hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()[:16]


# Zero-width and bidi controls: invisible, but they split words for search and can make a title display reordered
# (U+202E). ZWJ/ZWNJ are kept between two non-ASCII characters, where scripts (Persian, Indic) and emoji use them.
_INVISIBLE_RE = re.compile("[\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
                           "|(?<![^\x00-\x7f])[\u200c\u200d]|[\u200c\u200d](?![^\x00-\x7f])")


def strip_invisible(text: str) -> str:
    """Remove zero-width and bidirectional control characters (see `_INVISIBLE_RE`)."""
    return _INVISIBLE_RE.sub("", text)


class _PunctuationToSpace(dict):  # type: ignore[type-arg]
    """A str.translate table built as characters are first seen: punctuation, separators and controls -> space."""

    def __missing__(self, code: int) -> int:
        self[code] = code if unicodedata.category(chr(code))[0] in "LMNS" else 32
        return self[code]


_PUNCTUATION_TO_SPACE = _PunctuationToSpace()


def normalise_key(text: str) -> str:
    """NFKC, case-folded, invisible controls and punctuation dropped, one space between words. Letters of every
    script, numbers and symbols (emoji included) are kept, so no script collapses to an empty key."""
    text = strip_invisible(unicodedata.normalize("NFKC", text)).casefold()
    return " ".join(text.translate(_PUNCTUATION_TO_SPACE).split())


def title_key(title: str) -> str:
    """Hash of the normalised title: two records with this in common and different abstracts are reported."""
    return hashlib.sha1(normalise_key(title).encode("utf-8")).hexdigest()[:16]


def content_key(title: str, abstract: str) -> str:
    """Hash of the normalised title and abstract: what 'the same paper' means when no id says so."""
    data = normalise_key(title) + "\x1f" + normalise_key(abstract)
    return hashlib.sha1(data.encode("utf-8")).hexdigest()[:16]
