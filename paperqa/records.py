"""The records that flow through paperqa: a paper as parsed, and a chunk as stored."""

from __future__ import annotations

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


def make_paper_id(title: str, doi: str | None = None, arxiv: str | None = None) -> str:
    """DOI or arXiv id where given, else a hash of the normalised title."""
    if doi and normalise_doi(doi):
        return "doi:" + normalise_doi(doi)
    if arxiv:
        a = arxiv_id(arxiv)
        if a:
            return "arxiv:" + a
    digest = hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()[:16]
    return "t:" + digest
