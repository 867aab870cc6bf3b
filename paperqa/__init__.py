"""paperqa: ask questions about a collection of papers; every claim cites the sentence that supports it.

    from paperqa import PaperQA, Settings
    qa = PaperQA()                             # settings from PAPERQA_* environment variables
    qa.ingest(["data/trending-papers-274-abstracts.txt"])   # -> IngestReport
    ans = qa.ask("What FID does RAR reach on ImageNet-256?") # -> Answer
    for event in qa.stream("..."): ...         # Progress, verified Token events, then the Answer
    chat = qa.chat(); chat.ask("q1"); chat.ask("what dataset did it use?")
"""

from paperqa.settings import Settings  # noqa: I001 - first: sets the offline environment variables

from paperqa.answer import Answer, ChatSession, Citation, Progress, Source, Token
from paperqa.api import PaperQA
from paperqa.errors import PaperQAError

__all__ = ["Answer", "ChatSession", "Citation", "PaperQA", "PaperQAError", "Progress", "Settings", "Source", "Token"]
