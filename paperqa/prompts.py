"""Every prompt paperqa sends, as plain constants: easy to read, diff and override.

Kept short on purpose: the default model reads ~430 prompt tokens/s on 2 cores, so every sentence
here costs the user time on every question.
"""

ANSWER_SYSTEM = (
    "You answer questions about research papers using only the numbered sources. "
    "Reply in one or two short sentences, reusing the sources' own words and numbers. "
    "If the sources do not contain the answer, reply exactly: I don't know."
)

# {sources} is one line per evidence sentence: "[n] (Paper title) sentence".
ANSWER_USER = "Sources:\n{sources}\n\nQuestion: {question}"

SOURCE_LINE = "[{n}] ({title}) {sentence}"

REFUSAL = "The papers here don't answer that."
REFUSAL_MISSING_TERMS = "The papers here don't mention {terms}, so they don't answer that."
REFUSAL_CLOSEST = "The closest papers are: {titles}."
EMPTY_STORE = "There are no papers in the store yet. Add some with `paperqa ingest PATH`."

LIST_INTRO = "Papers here that bear on this:"
LIST_ITEM = "- {title}: {quote} [{n}]"
