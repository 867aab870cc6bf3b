"""Words, names and numbers in questions and abstracts: the small vocabulary every stage of the engine shares.

Questions and abstracts spell the same thing differently ("GPUs" / "GPU", "BERT-style" / "BERT", "LLM" / "large
language model", "~400M" / "400M"), so matching is done on folded forms, in one place, the same way everywhere.
"""

from __future__ import annotations

import re

from paperqa.lexical import STOPWORDS

WORD = re.compile(r"[A-Za-z0-9α-ωΑ-Ω]+(?:[.\-'][A-Za-z0-9α-ωΑ-Ω]+)*%?")
_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d+(?:[.,]\d+)*")
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
CITE_MARK = re.compile(r"\s*\[\s*\d+(?:\s*[,\-–]\s*\d+)*\s*\]")
# Words that say nothing about a paper's topic in a question or a claim.
GENERIC = frozenset("""paper papers work approach method methods model models propose proposed present presents
introduce introduces introduced new novel result results show shows shown achieve achieves achieved also well
answer question source sources based use uses using used which what does do did how why""".split())
QUESTION_WORDS = frozenset("what which who whom whose when where why how does do did is are was were can could "
                           "the a an in on of for to and list name tell give explain describe compare summarize "
                           "summarise yes no".split())
# Suffixes a question adds to a name that the abstract may not ("BERT-style", "ViT-based", "GPUs").
_NAME_SUFFIXES = ("-like", "-based", "-style", "-type", "-derived", "-inspired", "-driven", "-powered", "-specific")

_COMPARATIVE = re.compile(r"\b(faster|slower|more|less|fewer|higher|lower|better|worse|larger|smaller|greater|"
                          r"times|fold|improv\w*|reduc\w*|increas\w*|decreas\w*|outperform\w*|speed-?ups?)\b",
                          re.IGNORECASE)
SUPERLATIVE = re.compile(r"\b(best|worst|the\s+most|the\s+least|highest|lowest|fastest|slowest|largest|smallest|"
                         r"strongest|top-performing|state-of-the-art|sota|first)\b", re.IGNORECASE)
_BEST = frozenset(("best", "top-performing", "state-of-the-art", "sota"))


def word_root(word: str) -> str:
    """Crude suffix folding so 'achieves', 'achieving' and 'achieved' match, and 'estimate' / 'estimation',
    'fine-tune' / 'fine-tuning', 'image' / 'images' too."""
    w = word.lower().strip(".-%'")
    for suf in ("ations", "ation", "ings", "ing", "edly", "ates", "ated", "ate", "ed", "es", "s", "ly"):
        if w.endswith(suf) and len(w) - len(suf) >= 4:
            w = w[: -len(suf)]
            break
    if w.endswith("e") and len(w) >= 5:
        w = w[:-1]
    return w


def content_roots(text: str) -> set[str]:
    """The roots of a text's content words (no stopwords, no generic research words); a hyphenated word counts
    whole and by its parts, so 'classifier-free guidance' meets 'classifier free guidance'."""
    words = [w for w in WORD.findall(text) if w.lower() not in STOPWORDS and w.lower() not in GENERIC and len(w) > 1]
    parts = [p for w in words if "-" in w for p in w.split("-") if len(p) > 1 and p.lower() not in STOPWORDS]
    return {word_root(w) for w in words + parts}


_ENUMERATION = re.compile(r"\(\s*(\d|[ivx]+|[a-h])\s*\)")  # "(1)", "(iii)", "(a)": list markers, not quantities


def numbers(text: str) -> set[str]:
    """The numbers a text states; digits inside a name ('sh33'), a link or a list marker '(1)' are not numbers
    it states."""
    return {n.replace(",", "") for n in _NUMBER.findall(_ENUMERATION.sub(" ", _URL.sub(" ", text)))}


def number_positions(text: str) -> list[tuple[str, int]]:
    """(number, word index) of each stated number, for judging what a number is attached to."""
    out: list[tuple[str, int]] = []
    for i, m in enumerate(WORD.finditer(_URL.sub(" ", text))):
        for n in _NUMBER.findall(m.group(0)):
            if m.group(0)[0].isdigit() or not m.group(0)[0].isalpha():
                out.append((n.replace(",", ""), i))
    return out


def key_terms(text: str, skip_first: bool = True) -> list[str]:
    """Names the text hinges on: acronyms, CamelCase, words with digits, capitalised words mid-sentence."""
    out: list[str] = []
    for i, m in enumerate(WORD.finditer(text)):
        w = m.group(0).rstrip("%").removesuffix("'s")
        if w.lower() in QUESTION_WORDS:
            continue
        has_digit = any(c.isdigit() for c in w)
        upper_inside = any(c.isupper() for c in w[1:])
        sentence_start = i == 0 or text[: m.start()].rstrip().endswith((".", "?", "!", ":", '"', "“"))
        capital = w[0].isupper() and not (skip_first and sentence_start)
        if (has_digit and any(c.isalpha() for c in w)) or upper_inside or capital:
            out.append(w)
    return list(dict.fromkeys(out))


# Capitalised words that open a question without naming anything.
_OPENERS = frozenset("both one according given suppose so ok okay please also compared besides apart regarding "
                     "considering between in on for with from to as if when while after before since unlike like "
                     "among across under over".split())


_FIRST_PERSON = frozenset(("i", "i'm", "i've", "i'd", "i'll", "im"))  # "I'm looking for …" names nothing


def _name_like(word: str, sentence_start: bool) -> bool:
    if word.lower() in QUESTION_WORDS or word.lower() in STOPWORDS or word.lower() in _FIRST_PERSON:
        return False
    has_digit = any(c.isdigit() for c in word)
    if (has_digit and any(c.isalpha() for c in word)) or any(c.isupper() for c in word[1:]):
        return True
    return word[0].isupper() and (not sentence_start or word.lower() not in _OPENERS)


def entity_phrases(text: str) -> list[str]:
    """Names in a question, with adjacent name words joined ("Attention Free Transformer", "Low-Rank Transformer",
    "Emu", "TurboViT"), in order of first appearance."""
    out: list[str] = []
    run: list[str] = []
    prev_end = -2
    for m in WORD.finditer(text):
        w = m.group(0).rstrip("%").removesuffix("'s")
        start = text[: m.start()].rstrip()
        sentence_start = not start or start.endswith((".", "?", "!", ":", '"', "“"))
        adjacent = bool(run) and m.start() - prev_end <= 1 and text[prev_end:m.start()] in (" ", "")
        if _name_like(w, sentence_start) or (adjacent and w.isdigit()):  # "System 2 Attention" is one name
            if adjacent:
                run.append(w)
            else:
                _close(run, out)
                run = [w]
            prev_end = m.start() + len(m.group(0))
        else:
            _close(run, out)
            run = []
    _close(run, out)
    return list(dict.fromkeys(out))


def _close(run: list[str], out: list[str]) -> None:
    """End a run of name words; a number only joins a name when a name word follows it ("Llama 2" stays "Llama")."""
    while run and run[-1].isdigit():
        run.pop()
    if run:
        out.append(" ".join(run))


def squash(text: str) -> str:
    """Lower case, letters and digits only: 'ImageNet-256' and 'imagenet 256' become one string."""
    return re.sub(r"[^a-z0-9α-ω]+", "", text.lower())


def common_acronym(term: str) -> bool:
    """Short all-capital terms (LLM, GAN, RL) are often spelled out in abstracts; names with digits or mixed case
    (CIFAR-10, ViTok, enwik8) are not."""
    letters = term.rstrip("s")
    return letters.isalpha() and letters.isupper() and len(letters) <= 4


def _variants(term: str) -> list[str]:
    """Spellings of a name to look for: itself, without a plural 's', without a '-like'/'-based' suffix."""
    out = [term]
    low = term.lower()
    for suf in _NAME_SUFFIXES:
        if low.endswith(suf):
            out.append(term[: -len(suf)])
    if len(term) > 3 and term.endswith("s") and not term.endswith("ss"):
        out.append(term[:-1])
    if term.startswith("~"):
        out.append(term[1:])
    return out


def term_in(term: str, squashed_text: str, text: str = "") -> bool:
    """`term` occurs in the text, up to a plural, a '-like'/'-based' suffix or (for an acronym like 'LLM') its
    spelled-out form; a hyphenated name ('DeepNet-derived') is found when its name-like parts are; a bare number is
    not name-like ('top-5' is not found by any '5'). A short name ('Emu', 'HAT') must be a whole word when the text
    is given: 'emu' is not found in 'simulate'. A name of several words is found when each of its words is."""
    for v in _variants(term):
        s = squash(v)
        if not s:
            continue
        if len(s) <= 4 and text:
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(v)}s?(?![A-Za-z0-9])", text, re.IGNORECASE):
                return True
        elif s in squashed_text:
            return True
    if " " in term.strip():
        words = [w for w in term.split() if w.lower() not in STOPWORDS]
        if len(words) > 1 and all(term_in(w, squashed_text, text) for w in words):
            return True
    if text and acronym_in(term, text):
        return True
    parts = [p for p in term.split("-") if any(c.isalpha() for c in p) and (any(c.isupper() for c in p) or
                                                                          any(c.isdigit() for c in p))]
    if "-" in term and parts and len(parts) < len(term.split("-")):
        return all(term_in(p, squashed_text, text) for p in parts)
    return False


def acronym_in(term: str, text: str) -> bool:
    """'LLM' matches 'large language model'; 'LLMs' too. Only for all-capital terms of 2-6 letters."""
    letters = term[:-1] if term.endswith("s") and term[:-1].isupper() else term
    if not (2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()):
        return False
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", text)]
    n = len(letters)
    target = letters.lower()
    return any("".join(w[0] for w in words[i:i + n]) == target for i in range(len(words) - n + 1))


def comparatives(text: str) -> set[str]:
    """Words that set a relation between quantities; a claim may not add one its source lacks. 'Best',
    'state-of-the-art' and 'SOTA' are one relation; 'fastest' or 'largest' need that very word."""
    out = {word_root(m.group(1)) for m in _COMPARATIVE.finditer(text)}
    for m in SUPERLATIVE.finditer(text):
        word = " ".join(m.group(1).lower().split())
        out.add("<best>" if word in _BEST else word)
    return out


def strip_citations(text: str) -> str:
    return CITE_MARK.sub("", text)


def short_title(title: str) -> str:
    """The name part of a title ('RAR' of 'RAR: Randomized…'), or the title cut to a readable length."""
    head = title.split(":")[0].strip()
    return head if 0 < len(head) <= 40 else (title if len(title) <= 80 else title[:77] + "...")
