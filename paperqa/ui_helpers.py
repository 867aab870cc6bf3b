"""Pure rendering helpers for the web UI: citation links, highlighted quotes, timing lines, Markdown export.

Kept apart from app.py so they can be tested without starting a server, and so every piece of text that reaches the
browser is escaped in one place: abstracts and titles come from uploaded files, so they are untrusted HTML.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from paperqa.answer import Answer, Citation, Source

_MARKER = re.compile(r"\[(\d+)\]")
# Characters Markdown would act on inside an answer; escaped so a '*' or '_' from an abstract stays literal.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]#|~])")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def cite_id(turn: int, n: int) -> str:
    """DOM id of citation n of chat turn `turn`: unique on the page, so old answers' links still resolve."""
    return f"cite-{turn}-{n}"


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
    """The chat bubble for a finished answer: linked text, then a discreet line with the search and timing."""
    meta = [html.escape(timing_text(answer))]
    if answer.standalone_question and answer.standalone_question != answer.question:
        meta.insert(0, f"searched for: “{html.escape(answer.standalone_question)}”")
    return f'{answer_html(answer, turn)}\n\n<span class="pq-meta">{" · ".join(meta)}</span>'


def drafting_html(text: str) -> str:
    """The chat bubble while the model writes: its raw words, marked as not yet checked."""
    if not text:
        return '<span class="pq-draft">searching the papers…</span>'
    return (f'<span class="pq-draft">{_escape_text(text)}▍</span>\n\n'
            '<span class="pq-meta">drafting… each sentence is checked against the abstracts before it is shown '
            'as the answer</span>')


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


def turn_sources_html(t: Turn, open_: bool) -> str:
    """One turn's block: each citation with its highlighted abstract, then the other retrieved papers."""
    a = t.answer
    abstracts = {s.paper_id: s.abstract for s in a.sources}
    parts: list[str] = [f'<details class="pq-turn" {"open" if open_ else ""}>',
                        f'<summary><span class="pq-q">{html.escape(a.question)}</span></summary>']
    if a.citations:
        parts.append('<div class="pq-h">Cited</div>')
        for c in a.citations:
            parts.append(
                f'<div class="pq-source pq-cited" id="{cite_id(t.turn, c.n)}">'
                f'<div class="pq-title"><span class="pq-n">[{c.n}]</span> {html.escape(c.title)}</div>'
                f'<div class="pq-id">{html.escape(c.paper_id)} · {html.escape(_source_score(a.sources, c.paper_id))}'
                f'</div><div class="pq-abstract">{highlight_abstract(abstracts.get(c.paper_id, ""), c)}</div></div>')
    cited = {c.paper_id for c in a.citations}
    others = [s for s in a.sources if s.paper_id not in cited]
    if others:
        heading = "Closest papers" if a.refused else "Also retrieved"
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


def export_markdown(answer: Answer | None) -> str:
    """The latest answer as Markdown to paste elsewhere: the question, the answer, its references."""
    if answer is None:
        return ""
    return f"**Q:** {answer.question}\n\n{answer.to_markdown()}\n"


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
