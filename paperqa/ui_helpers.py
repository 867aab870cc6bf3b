"""Pure rendering helpers for the web UI: citation links, highlighted quotes, progress, start-up status, and the
chat export (Markdown and BibTeX).

Kept apart from app.py so they can be tested without starting a server, and so every piece of text that reaches the
browser is escaped in one place: abstracts and titles come from uploaded files, so they are untrusted HTML.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from paperqa.answer import Answer, Citation, Source

_MARKER = re.compile(r"\[(\d+)\]")
# Characters Markdown would act on inside an answer; escaped so a '*' or '_' from an abstract stays literal.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#|~])")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def cite_id(turn: int, n: int) -> str:
    """DOM id of citation n of chat turn `turn`: unique on the page, so old answers' links still resolve."""
    return f"cite-{turn}-{n}"


def closest_id(turn: int, n: int) -> str:
    """DOM id of the n-th closest paper shown for a refusal in turn `turn`."""
    return f"closest-{turn}-{n}"


def _escape_text(text: str) -> str:
    """HTML-escape, then neutralise Markdown syntax, keeping line breaks."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_html(answer: Answer, turn: int) -> str:
    """The answer text with each known [n] turned into a link to its highlighted quote in the sources panel."""
    known = {c.n for c in answer.citations}
    out: list[str] = []
    pos = 0
    for m in _MARKER.finditer(answer.answer):
        n = int(m.group(1))
        if n not in known:
            continue
        out.append(_escape_text(answer.answer[pos:m.start()]))
        out.append(f'<a href="#{cite_id(turn, n)}" class="pq-ref" title="Show the quote">[{n}]</a>')
        pos = m.end()
    out.append(_escape_text(answer.answer[pos:]))
    return "".join(out)


def highlight_abstract(abstract: str, citation: Citation) -> str:
    """The abstract, HTML-escaped, with the cited quote wrapped in <mark>.

    Uses the citation's offsets when they match the quote; otherwise finds the quote in the text; if it is not
    there at all (the abstract changed since), shows the quote on its own rather than marking the wrong words.
    """
    start, end = citation.start, citation.end
    if not (0 <= start < end <= len(abstract) and abstract[start:end] == citation.quote):
        found = abstract.find(citation.quote) if citation.quote else -1
        if found < 0:
            return (f'<mark class="pq-quote">{html.escape(citation.quote)}</mark>'
                    f'<div class="pq-abstract-rest">{html.escape(abstract)}</div>')
        start, end = found, found + len(citation.quote)
    return (html.escape(abstract[:start]) + f'<mark class="pq-quote">{html.escape(abstract[start:end])}</mark>'
            + html.escape(abstract[end:]))


def timing_text(answer: Answer) -> str:
    """A short line: mode, total time, time to first words, model."""
    t = answer.timings_ms
    total = t.get("total", 0.0) / 1000
    first = t.get("first_token", 0.0) / 1000
    mode = {"fact": "quoted from the abstract", "identify": "which paper", "explain": "explained from the abstract",
            "compare": "side by side", "yesno": "yes / no", "list": "list", "refused": "no answer"
            }.get(answer.mode, answer.mode)
    model = answer.model.split(":", 1)[-1]
    return f"{mode} · {total:.1f} s (first words {first:.1f} s) · {model}"


def message_html(answer: Answer, turn: int) -> str:
    """The chat bubble for a finished answer: linked text, then a discreet line with the search and timing.

    A refusal with closest papers links each of them to its best sentence in the sources panel, so the reader can
    judge what was found instead of taking "the papers don't say" on trust."""
    meta = [html.escape(timing_text(answer))]
    if answer.standalone_question and answer.standalone_question != answer.question:
        meta.insert(0, f"searched for: “{html.escape(answer.standalone_question)}”")
    out = answer_html(answer, turn)
    if answer.refused and answer.closest:
        links = " · ".join(f'{c.n}. <a href="#{closest_id(turn, c.n)}" class="pq-ref pq-closest-ref" '
                           f'title="{html.escape(c.title)}">{_escape_text(_short(c.title))}</a>'
                           for c in answer.closest)
        out += f'\n\n<span class="pq-closest-line">What the closest papers say: {links}</span>'
    return f'{out}\n\n<span class="pq-meta">{" · ".join(meta)}</span>'


def _short(title: str, limit: int = 48) -> str:
    head = title.split(":")[0].strip()
    if 0 < len(head) <= limit:
        return head
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


PROGRESS_STEPS = (("retrieve", "Search"), ("draft", "Read"), ("verify", "Check"))


def progress_html(message: str, stage: str = "retrieve") -> str:
    """The chat bubble while the engine works: what it is doing and which step it is on, never the model's draft.

    Numbers and claims appear only once they have passed verification (see `verified_html`)."""
    names = [key for key, _ in PROGRESS_STEPS]
    current = names.index(stage) if stage in names else 0
    steps = []
    for i, (_key, label) in enumerate(PROGRESS_STEPS):
        state = "done" if i < current else ("now" if i == current else "todo")
        steps.append(f'<span class="pq-step pq-step-{state}">{label}</span>')
    return (f'<span class="pq-progress"><span class="pq-spinner"></span>{_escape_text(message)}</span>\n\n'
            f'<span class="pq-steps">{" › ".join(steps)}</span>')


def verified_html(text: str) -> str:
    """Answer text as it streams: only text that has passed verification reaches here (Token events)."""
    return f'<span class="pq-verified">{_escape_text(text)}</span>'


@dataclass
class Turn:
    """One finished question/answer pair of a chat, as the sources panel shows it."""

    turn: int
    answer: Answer


def _source_score(sources: Sequence[Source], paper_id: str) -> str:
    for s in sources:
        if s.paper_id == paper_id:
            return f"rank {s.rank} · score {s.score:.4f}"
    return ""


def _source_block(block_id: str, label: str, title: str, paper_id: str, score: str, abstract_html: str,
                  extra_class: str) -> str:
    return (f'<div class="pq-source {extra_class}" id="{block_id}">'
            f'<div class="pq-title"><span class="pq-n">{label}</span> {html.escape(title)}</div>'
            f'<div class="pq-id">{html.escape(paper_id)}{" · " + html.escape(score) if score else ""}</div>'
            f'<div class="pq-abstract">{abstract_html}</div></div>')


def turn_sources_html(t: Turn, open_: bool) -> str:
    """One turn's block: each citation with its highlighted abstract; for a refusal, the closest papers with
    their best sentence highlighted; then the other retrieved papers."""
    a = t.answer
    abstracts = {s.paper_id: s.abstract for s in a.sources}
    parts: list[str] = [f'<details class="pq-turn" {"open" if open_ else ""}>',
                        f'<summary><span class="pq-q">{html.escape(a.question)}</span></summary>']
    if a.citations:
        parts.append('<div class="pq-h">Cited</div>')
        for c in a.citations:
            parts.append(_source_block(cite_id(t.turn, c.n), f"[{c.n}]", c.title, c.paper_id,
                                       _source_score(a.sources, c.paper_id),
                                       highlight_abstract(abstracts.get(c.paper_id, ""), c), "pq-cited"))
    closest = a.closest if a.refused else []
    if closest:
        parts.append('<div class="pq-h">Closest papers: their best sentence for this question</div>'
                     '<div class="pq-note">Not cited: judge for yourself whether they answer it.</div>')
        for c in closest:
            parts.append(_source_block(closest_id(t.turn, c.n), f"{c.n}.", c.title, c.paper_id,
                                       _source_score(a.sources, c.paper_id),
                                       highlight_abstract(abstracts.get(c.paper_id, ""), c), "pq-closest"))
    shown = {c.paper_id for c in a.citations} | {c.paper_id for c in closest}
    others = [s for s in a.sources if s.paper_id not in shown]
    if others:
        heading = "Closest papers" if a.refused and not closest else "Also retrieved"
        parts.append(f'<div class="pq-h">{heading}</div><ol class="pq-others">')
        for s in others:
            parts.append(f'<li><span class="pq-title">{html.escape(s.title)}</span> '
                         f'<span class="pq-id">{html.escape(s.paper_id)} · rank {s.rank} · score {s.score:.4f}'
                         '</span></li>')
        parts.append("</ol>")
    parts.append("</details>")
    return "".join(parts)


EMPTY_SOURCES = ('<div class="pq-empty">Sources appear here: each cited paper with the supporting sentence '
                 'highlighted in its abstract. Click a [n] in an answer to jump to it.</div>')


def sources_html(turns: Iterable[Turn], limit: int = 20) -> str:
    """All turns' sources, newest first and open; older ones folded (their links still open them)."""
    recent = list(turns)[-limit:][::-1]
    if not recent:
        return f'<div id="pq-sources-inner">{EMPTY_SOURCES}</div>'
    blocks = [turn_sources_html(t, open_=(i == 0)) for i, t in enumerate(recent)]
    return f'<div id="pq-sources-inner">{"".join(blocks)}</div>'


class PaperMeta(Protocol):
    """What the export needs of a stored paper (paperqa.store.StoredPaper has it)."""

    paper_id: str
    title: str
    authors: tuple[str, ...]
    year: int | None
    url: str | None
    doi: str | None


def _reference_line(c: Citation, meta: PaperMeta | None, key: str | None) -> str:
    details = [c.paper_id]
    if meta is not None:
        if meta.authors:
            details.append(", ".join(meta.authors[:3]) + (" et al." if len(meta.authors) > 3 else ""))
        if meta.year:
            details.append(str(meta.year))
        if meta.doi:
            details.append(f"https://doi.org/{meta.doi}")
        elif meta.url:
            details.append(meta.url)
    if key:
        details.append(f"BibTeX `{key}`")
    return f'[{c.n}] {c.title} ({"; ".join(details)}): "{c.quote}"'


def export_chat_markdown(turns: Sequence[Turn], papers: Mapping[str, PaperMeta] | None = None) -> str:
    """The whole chat as Markdown: every question and answer, each answer's numbered references (its [n]), and for
    a refusal the closest papers' best sentences. `papers` (by id) adds authors, year, DOI and BibTeX keys."""
    if not turns:
        return ""
    papers = papers or {}
    keys = bibtex_keys([papers[pid] for pid in _cited_ids(turns) if pid in papers])
    out = ["# PaperQA chat", ""]
    for i, t in enumerate(turns, start=1):
        a = t.answer
        out += [f"## {i}. {a.question}", ""]
        if a.standalone_question and a.standalone_question != a.question:
            out += [f"_Searched for: {a.standalone_question}_", ""]
        out += [a.answer, ""]
        if a.citations:
            out += ["References:", ""]
            out += [_reference_line(c, papers.get(c.paper_id), keys.get(c.paper_id)) for c in a.citations]
            out.append("")
        if a.refused and a.closest:
            out += ["Closest papers (not cited; their best sentence for this question):", ""]
            out += [f'- {c.title} ({c.paper_id}): "{c.quote}"' for c in a.closest]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _cited_ids(turns: Sequence[Turn]) -> list[str]:
    return list(dict.fromkeys(c.paper_id for t in turns for c in t.answer.citations))


_ARXIV_ID = re.compile(r"^arxiv:(.+)$")
_BIB_SPECIAL = re.compile(r"([&%$#_])")


def _bib_value(text: str) -> str:
    """A BibTeX field value: LaTeX specials escaped; braces dropped (an unbalanced one would break the entry)."""
    text = " ".join(text.replace("{", "").replace("}", "").replace("\\", "").split())
    return _BIB_SPECIAL.sub(r"\\\1", text)


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", folded)


def has_bibtex_metadata(p: PaperMeta) -> bool:
    """Enough to cite: authors and a year, or a DOI, or an arXiv id. A bare title would make an entry nobody can
    look up, so such papers are named in a comment instead."""
    return bool((p.authors and p.year) or p.doi or _ARXIV_ID.match(p.paper_id))


def bibtex_keys(papers: Sequence[PaperMeta]) -> dict[str, str]:
    """Stable, unique keys like `author2031quokka` for the papers that have BibTeX metadata."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for p in papers:
        if not has_bibtex_metadata(p) or p.paper_id in keys:
            continue
        surname = _ascii_word(p.authors[0].split(",")[0].split()[-1]) if p.authors and p.authors[0].split() else ""
        words = [w for w in (_ascii_word(w) for w in p.title.split()) if w and w not in _KEY_SKIP]
        base = f"{surname or 'paper'}{p.year or ''}{words[0] if words else ''}"
        key, n = base, 1
        while key in used:
            key, n = f"{base}{chr(ord('a') + n - 1)}", n + 1
        used.add(key)
        keys[p.paper_id] = key
    return keys


_KEY_SKIP = frozenset({"a", "an", "the", "on", "of", "for", "to", "in", "and", "with", "via"})


def export_bibtex(turns: Sequence[Turn], papers: Mapping[str, PaperMeta]) -> str:
    """BibTeX of the papers the chat cites, where their metadata allows (see `has_bibtex_metadata`)."""
    cited = [papers[pid] for pid in _cited_ids(turns) if pid in papers]
    keys = bibtex_keys(cited)
    entries: list[str] = []
    missing: list[str] = []
    for p in cited:
        key = keys.get(p.paper_id)
        if key is None:
            missing.append(p.title)
            continue
        fields = [("title", "{" + _bib_value(p.title) + "}")]
        if p.authors:
            fields.append(("author", " and ".join(_bib_value(a) for a in p.authors)))
        if p.year:
            fields.append(("year", str(p.year)))
        if p.doi:
            fields.append(("doi", _bib_value(p.doi)))
        arxiv = _ARXIV_ID.match(p.paper_id)
        if arxiv:
            fields += [("eprint", _bib_value(arxiv.group(1))), ("archivePrefix", "arXiv")]
        if p.url:
            fields.append(("url", _bib_value(p.url)))
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        entries.append(f"@misc{{{key},\n{body}\n}}")
    out = entries[:]
    if missing:
        out.append("\n".join(["% No BibTeX for these cited papers: the library has no authors and year, DOI or "
                               "arXiv id for them."] + [f"%   {' '.join(t.split())}" for t in missing]))
    return "\n\n".join(out) + ("\n" if out else "")


def _data_link(filename: str, mime: str, text: str, label: str) -> str:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (f'<a download="{filename}" href="data:{mime};charset=utf-8;base64,{data}" '
            f'class="pq-download">{html.escape(label)}</a>')


def download_links_html(markdown: str, bibtex: str) -> str:
    """Links that save the export as files. They are data: URLs built here, so nothing is written on the server
    and the browser fetches nothing."""
    if not markdown:
        return ('<div class="pq-downloads pq-meta">Ask a question first: the export holds every question, answer '
                'and reference of this chat.</div>')
    links = [_data_link("paperqa-chat.md", "text/markdown", markdown, "Download the chat (.md)")]
    if bibtex:
        links.append(_data_link("paperqa-references.bib", "application/x-bibtex", bibtex,
                                "Download BibTeX (.bib)"))
    return f'<div class="pq-downloads">{"".join(links)}</div>'


def startup_step(phase: str, done: int = 0, total: int = 0) -> str:
    """What the start-up is doing, in a few words ("embedding papers: 128 of 274")."""
    if phase == "ingesting" and total:
        return f"embedding papers: {done} of {total}"
    return {"ingesting": "reading the bundled papers", "loading": "loading the models"}.get(phase, "starting")


def startup_html(phase: str, done: int = 0, total: int = 0, detail: str = "") -> str:
    """The banner above the chat while the server prepares the library; empty once it is ready (or a warning)."""
    if phase == "ready":
        return f'<div class="pq-status pq-status-warn" role="status">{_escape_text(detail)}</div>' if detail else ""
    if phase == "failed":
        return (f'<div class="pq-status pq-status-error" role="alert"><strong>The library could not be prepared.'
                f'</strong> {_escape_text(detail)}</div>')
    if phase == "ingesting" and total:
        bar = (f'<progress id="pq-ingest-progress" max="{total}" value="{done}" '
               f'aria-label="Papers embedded">{done} of {total}</progress>')
    else:  # no count yet: an indeterminate bar
        bar = '<progress id="pq-ingest-progress" aria-label="Preparing the library"></progress>'
    return (f'<div class="pq-status pq-status-preparing" role="status" aria-live="polite">'
            f'<div><strong>Preparing the library</strong>: {_escape_text(startup_step(phase, done, total))}. '
            f'Asking opens when it is ready.</div>{bar}</div>')


def filter_rows(rows: Sequence[Sequence[object]], query: str) -> list[list[object]]:
    """Rows whose title or id contains every word of `query` (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return [list(r) for r in rows]
    return [list(r) for r in rows if all(w in f"{r[0]} {r[1]}".lower() for w in words)]


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    h = host.strip().lower()
    if h in LOOPBACK_HOSTS:
        return True
    try:  # IP literals only: resolving a name could touch the network, so other names count as exposed
        return ipaddress.ip_address(h.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, auth: str | None) -> str | None:
    """The warning to print when the UI is reachable from other machines without a password, else None."""
    if is_loopback(host) or auth:
        return None
    return (f"WARNING: serving on {host} without --auth: anyone who can reach this machine can read the papers, "
            "ask questions and upload or remove papers. Add --auth user:password (or PAPERQA_AUTH), or bind to "
            "127.0.0.1.")


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """'user:password' -> (user, password); raises ValueError with a readable message when malformed."""
    if not auth:
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like user:password (both non-empty)")
    return user, password
