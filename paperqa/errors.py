"""Errors a user can hit. Each message says what to fix: the file and line, or the setting."""

from __future__ import annotations


class PaperQAError(Exception):
    """Base class: anything paperqa raises on purpose."""


class SourceError(PaperQAError):
    """A source file (or one line of it) cannot be turned into papers."""

    def __init__(self, file: str, line: int | None, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.message = message
        where = f"{self.file}:{line}" if line is not None else self.file
        super().__init__(f"{where}: {message}")


class EmbedderMismatchError(PaperQAError):
    """The store was built with a different embedder; mixing vectors would make search meaningless."""


class StoreError(PaperQAError):
    """The vector store cannot be opened or written (server down, disk, corrupt collection)."""


class BackendError(PaperQAError):
    """The configured LLM backend is missing, unset or unreachable."""


class OptionError(PaperQAError, ValueError):
    """An option given to the API or CLI is out of range (k=0, k=-1, a port of 70000)."""


class QuestionError(PaperQAError):
    """The question itself is unusable (empty, too long)."""


class ModelFileError(BackendError):
    """A model file (or one part of a split model) is missing, corrupted, or cannot be written to the cache."""
