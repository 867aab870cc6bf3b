"""Every prompt paperqa sends, as plain constants: easy to read, diff and override.

Kept short on purpose: the default model reads ~430 prompt tokens/s on 2 cores, so every sentence
here costs the user time on every question.
"""

ANSWER_SYSTEM = (
    "Answer the question in one sentence, using only the sources below. Copy names and numbers exactly. "
    "If the sources do not say, reply: I don't know."
)

# {sources} is one line per evidence sentence: "[n] (Paper title) sentence".
ANSWER_USER = "Sources:\n{sources}\n\nQuestion: {question}"

SOURCE_LINE = "[{n}] ({title}) {sentence}"

REFUSAL = "The papers here don't answer that."
REFUSAL_MISSING_TERMS = "The papers here don't mention {terms}, so they don't answer that."
REFUSAL_NO_SINGLE_PAPER = "No paper here mentions all of {terms}, so they don't answer that."
REFUSAL_OFF_FOCUS = "The closest paper here is about something else, so the papers here don't answer that."
REFUSAL_CLOSEST = "The closest papers are: {titles}."
EMPTY_STORE = "There are no papers in the store yet. Add some with `paperqa ingest PATH`."

IDENTIFY = "{title} [{n}]: \"{quote}\""

LIST_INTRO = "Papers here that bear on this:"
LIST_ITEM = "- {title}: {quote} [{n}]"
