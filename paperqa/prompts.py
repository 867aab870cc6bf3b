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
REFUSAL_CLOSEST = "The closest papers are: {titles}."
EMPTY_STORE = "There are no papers in the store yet. Add some with `paperqa ingest PATH`."

REFUSAL_NOT_REPORTED = "The papers here don't report that."

# Fixed phrases the composers put around quoted abstract sentences ({quotes}: sentences, each with its [n]).
IDENTIFY = "{title}: {quotes}"
EXPLAIN = "{title}: {quotes}"
COMPARE_SIDE = "**{side}** ({title}): {quotes}"
SIDE_NOT_FOUND = "**{side}**: the papers here don't describe it."
PART_NOT_REPORTED = "The papers here don't report this part: {part}."
VERDICT = "{verdict}. {title}: {quote}"
CHOICE = "{title}: {quote}"
NOT_SETTLED = "The papers here don't settle that. The closest is {title}: {quote}"
EXISTS_YES = "Yes."  # opens a found answer to "Is there a paper on X?"
LIST_INTRO = "Papers here that bear on this:"
LIST_ITEM = "- {title}: {quotes}"
