"""Citations: a numbered pointer from answer text to one sentence of one abstract."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Citation:
    n: int
    paper_id: str
    title: str
    quote: str
    start: int = 0  # character offsets of the quote in the paper's abstract
    end: int = 0


class CitationList:
    """Numbers citations by first use; citing the same sentence twice gives the same number."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, int], Citation] = {}

    def cite(self, paper_id: str, title: str, quote: str, start: int, end: int) -> int:
        key = (paper_id, start)
        if key not in self._items:
            self._items[key] = Citation(len(self._items) + 1, paper_id, title, quote, start, end)
        return self._items[key].n

    def items(self) -> list[Citation]:
        return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)
