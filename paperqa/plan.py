"""What a question asks, worked out once: every later stage reads the plan and never re-parses the question.

The plan is grammar, not a list of known questions: the intent comes from the question's form (a leading auxiliary
verb asks yes or no; "differ", "vs" or "compare" asks to compare; "how does X work" asks to explain; "which papers"
asks for a list), the things it is about are the names in it, and a question that asks two things ("what FID, and
how large is the generator?") has two parts, each answered on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from paperqa.lexical import STOPWORDS
from paperqa.terms import WORD, common_acronym, content_roots, entity_phrases, key_terms


class Intent(StrEnum):
    FACT = "fact"          # a number, a name or a statement about a thing
    EXPLAIN = "explain"    # what is X and how does it work
    COMPARE = "compare"    # how do X and Y differ
    YESNO = "yesno"        # does X use Y
    IDENTIFY = "identify"  # which paper / method does …
    LIST = "list"          # which papers …


class Asks(StrEnum):
    QUANTITY = "quantity"  # how many / what FID / by how much
    NAME = "name"          # which dataset / what is X called / who
    STATEMENT = "statement"


@dataclass(frozen=True)
class Part:
    """One thing the question asks."""

    text: str
    asks: Asks
    metric: str = ""  # for a quantity: the words naming it ("FID", "top-1 accuracy", "search cost")


@dataclass(frozen=True)
class QuestionPlan:
    question: str             # as asked
    query: str                # standalone form (a follow-up's pronoun replaced by its subject), used for retrieval
    intent: Intent
    parts: tuple[Part, ...]
    entities: tuple[str, ...]  # names the question is about (acronyms, CamelCase, names with digits, Capitalised)
    subject: str = ""          # the noun phrase the question is about, when the form says (explain, yes/no)
    sides: tuple[str, ...] = ()  # compare: the things compared
    aspect: str = ""           # compare: what they are compared on ("in how they represent text")
    claim: str = ""            # yes/no: the statement to check
    follow_up: bool = False
    topic: tuple[str, ...] = field(default=())  # content-word roots of the query
    asks_link: bool = False  # asks where the code or project page is
    choice: bool = False     # yes/no form that offers alternatives ("does A or B help more?"): no Yes/No fits
    exists: bool = False     # asks whether the library holds such a thing ("Is there a paper on X?")

    @property
    def asks_number(self) -> bool:
        return any(p.asks is Asks.QUANTITY for p in self.parts)

    @property
    def names(self) -> tuple[str, ...]:
        """Everything the question names: the compared sides, then its other names in order of appearance.
        Which of them are specific enough to pick a paper depends on the papers (see evidence.gather)."""
        return tuple(dict.fromkeys([*self.sides, *self.entities]))


# --- the question's form ------------------------------------------------------------------------------------------

_AUX = r"(does|do|did|is|are|was|were|can|could|has|have|had|will|would|should|may|might)"
_PAPER_NOUNS = r"(papers|works|studies|articles|publications|approaches|methods|models|systems)"
_LIST = re.compile(rf"^\s*(which|what)\s+(other\s+)?{_PAPER_NOUNS}\b|"
                   rf"\b(list|name|find|show|give)\s+(me\s+)?(all\s+|the\s+|some\s+|any\s+)?{_PAPER_NOUNS}\b|"
                   rf"\b(are\s+there|any)\s+(other\s+)?{_PAPER_NOUNS}\b|\bwhich\s+of\s+the\s+papers\b|"
                   r"\bpapers\s+(here\s+)?(that|which|about|on)\b|"
                   r"^\s*what\s+(work|research|literature)\s+(is|exists)\s+(there\s+)?(on|about|in)\b|"
                   r"\bwhich\s+ones\b|^\s*(i'?m|i\s+am)\s+(looking|searching)\s+for\s+([\w-]+\s+){0,2}?"
                   r"(papers|works|studies|surveys|articles)\b|"
                   # a second sentence that asks for the papers ("I'm interested in X. Which papers cover that?")
                   rf"[.?!—:]\s+(which|what)\s+(other\s+)?{_PAPER_NOUNS}\b|\blist\s+them\b|"
                   r"^\s*what('s|\s+is)\s+(there\s+)?(in\s+)?here\s+(on|about)\b|"
                   r"^\s*what\s+(work|research|literature)\s+(here\s+)?(is|exists)\b|"
                   r"^\s*which\s+([\w-]+\s+){0,3}?(systems|models|methods|approaches|architectures|datasets|"
                   r"benchmarks|tools)\s+(are|exist)\s+(in|here|there)\b", re.IGNORECASE)
_IS_THERE = re.compile(r"^\s*(is|was)\s+there\s+(a|any|an)\s+(paper|work|study|article|system|model|method|"
                       r"approach|framework)\b|^\s*(has|have)\s+(anyone|any\s+paper|any\s+work)\b|"
                       r"^\s*(i'?m|i\s+am)\s+(looking|searching)\s+for\s+(a|an|the|some|any)?\s*(paper|work|"
                       r"study|survey|article|method|model)\b(?!s|\s+(papers|works|studies|articles|surveys)\b)",
                       re.IGNORECASE)
# "Is there a paper on X?", "Does any paper here …?", "Are there surveys on X?": whether the library holds such a
# thing. Answered like "which paper(s)", and a found answer opens with "Yes".
_EXISTS = re.compile(r"^\s*(is|are|was|were)\s+there\b|^\s*(has|have|is|did|does|do)\s+(anyone|anybody)\b|"
                     r"^\s*(does|do|did|has|have|is|are)\s+any\s+(one\s+|of\s+(these|the|them)\b|"
                     r"(paper|papers|work|works|study|studies|article|articles)\b)", re.IGNORECASE)
# … and asks for all of them ("Are there papers …", "Do any of these papers …")
_EXISTS_MANY = re.compile(r"^\s*(are|were)\s+there\b|^\s*(do|did|have)\s+any\b|\bany\s+of\s+(these|the|them)\b",
                          re.IGNORECASE)
# Strong cues ask to compare whatever else the question asks; "compared to" mid-sentence may just qualify a number.
_COMPARE_STRONG = re.compile(r"\b(differ|differs|difference|differences|differently|distinguish\w*|versus|vs\.?|"
                             r"vice\s+versa|contrast)\b|^\s*compare\b|\bhow\s+(do|does|did)\s+.+\s+and\s+.+\s+"
                             r"(compare|relate)\b|\bstack\s+up\b|"
                             r"^\s*how\s+(do|does|did)\s+[^,]+\s+relate\s+to\b", re.IGNORECASE)
# "How do PixArt-α and GenTron adapt …?": one "how" put to two names asks how each does it
_HOW_BOTH = re.compile(r"^\s*(?i:how\s+(do|did|can|could)\s+(the\s+)?)[A-Z][\w.-]*(\s+[A-Z][\w.-]*)*\s+"
                       r"and\s+(the\s+)?[A-Z][\w.-]*")
# "How does Decision ConvFormer build on PoolFormer?": a paper set against the work it builds on
_BUILDS_ON = re.compile(r"^\s*how\s+(does|did|do)\s+[^,]+\s+(build|builds|built|extend|extends|improve|improves)"
                        r"\s+(on|upon|over|the|its|their|[A-Z])", re.IGNORECASE)
_COMPARE = re.compile(r"\b(different\s+from|compare[sd]?|comparison|better\s+than|worse\s+than)\b", re.IGNORECASE)
_ASK_EXPLAIN = re.compile(r"\b(can|could|would)\s+you\s+(explain|describe|summari[sz]e|tell\s+me|outline)\b",
                          re.IGNORECASE)
_EXPLAIN = re.compile(
    r"\band\s+how\s+(does|do|did|can)\s+(it|they|this|that)\b|,?\s+and\s+why\s*\??\s*$|"
    r"^\s*how\s+(does|do|did|can|could|would|is|are|was|were|has|have)\b(?!\s+(many|much)\b)|^\s*why\b|"
    r"^\s*(explain|describe|summari[sz]e|outline|overview)\b|\b(can|could)\s+you\s+(explain|describe|summari[sz]e)\b|"
    r"\bwhat('s|\s+is|\s+are)\s+(the|[\w-]+'s)\s+(\w+\s+)?(idea|intuition|trick|insight|mechanism|principle|contribution|"
    r"approach|method|innovation|novelty)\b|"
    r"^\s*what\s+(problem|problems|issue|challenge)s?\s+(does|do|did)\b|"
    r"^\s*what\s+(does|do|did)\s+.+\s+(do|propose|introduce|contribute)\s*\??$|"
    r"^\s*what\s+(does|do|did)\s+.+\s+(actually|exactly|really)\s+do\b|^\s*what\s+exactly\b|"
    r"^\s*what\s+(does|do|did)\s+.+\s+(change|add|modify)\s+(about|in|to)\b|"
    r"^\s*(what|who)\s+(is|are)\s+[^,]{1,60}\??$", re.IGNORECASE)
_HOW_MEASURE = re.compile(r"\bhow\s+(many|much|fast|large|big|long|often|well|accurate|accurately|small|high|low|"
                          r"deep|wide)\b", re.IGNORECASE)
_HEAD_NOUNS = (r"(paper|work|study|article|method|model|framework|system|approach|architecture|technique|network|"
               r"algorithm|tool|benchmark|transformer|pipeline|library|variant|family|language|dataset|scheme|"
               r"mechanism|module|layer|agent|codec|detector|generator|project|effort|team|suite|solution)")
_IDENTIFY = re.compile(rf"^\s*(which|what)\s+([\w'-]+\s+){{0,3}}?{_HEAD_NOUNS}\b|"
                       rf"^\s*what\s+is\s+the\s+name\s+of\b|\bname\s+the\s+{_HEAD_NOUNS}\b|"
                       r"^\s*who\s+(proposed|introduced|developed)\b", re.IGNORECASE)
# "Which dataset does RAR use?": after the head noun comes an auxiliary and then the thing asked about.
_GIVEN_SUBJECT = re.compile(rf"^\s*(which|what)\s+([\w'-]+\s+){{0,3}}?\w+\s+{_AUX}\s+(?P<rest>.+)$", re.IGNORECASE)
_METRIC_WORDS = ("fid fvd accuracy score scores percentage number speed speedup speed-up bleu wer cer error size "
                 "fraction ratio rate perplexity f1 auc auroc precision recall latency throughput flops bits-per- "
                 "win-rate pq miou map psnr ssim lpips rouge meteor cider mae mse rmse elo ppl parameters params gain "
                 "improvement reduction cost time hours memory margin factor amount share percent count length "
                 "resolution dimension layers tokens frames points budget kl divergence distance").split()
_NUMBER_ASK = re.compile(
    r"\b(how\s+(many|much|fast|large|big|long|often|small|high|low|deep|wide)|by\s+how\s+much|up\s+to\s+how|"
    r"(by|with|of)\s+what\s+(margin|factor|amount|percentage|size)|what\s+(share|fraction|percentage|proportion)|"
    r"to\s+what\s+(extent|degree)\s+.*\b(faster|smaller|larger|fewer|less|more)\b)", re.IGNORECASE)
_NAME_ASK = re.compile(r"\b(which|what)\s+(\w+[\s-]+){0,2}?(datasets?|benchmarks?|algorithms?|compan(y|ies)|"
                       r"groups?|organi[sz]ations?|institutions?|optimi[sz]ers?|librar(y|ies)|baselines?|"
                       r"metrics?|languages?|tokenizers?|classifiers?|famil(y|ies)|tools?|backbones?|"
                       r"encoders?|decoders?|cnns?|llms?|models?|architectures?|tasks?)\b|"
                       r"\bwhat\s+is\s+the\s+name\s+of\b|\bcalled\b|^\s*who\b", re.IGNORECASE)
_SPLIT_PARTS = re.compile(r",?\s+and\s+(?=(what|which|how|who|where|when|whether|is|are|does|do|did)\b)|"
                          r"[;?]\s+(?=\w)", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"\b(it|its|it's|they|them|their|this|that|these|those)\b(\s+(paper|papers|method|model|"
                        r"approach|work|system|study))?", re.IGNORECASE)
_LEAD_CLAUSE = re.compile(r"^[^,?]{3,120},\s+(?=" + _AUX + r"\b)", re.IGNORECASE)


_LINK_ASK = re.compile(r"\b(code|github|repository|repo|url|link|website|web\s*page|project\s+page|released|"
                       r"download|open-?source[d]?)\b", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“‘]([^\"”’]{3,60})[\"”’]|(?<!\w)'([^']{3,60})'(?!\w)")


def _is_yes_no(q: str) -> bool:
    body = _LEAD_CLAUSE.sub("", q)
    return bool(re.match(rf"^\s*{_AUX}\b", body, re.IGNORECASE)) or bool(
        re.match(r"^\s*(is\s+it\s+true|true\s+or\s+false|am\s+i\s+right)\b", q, re.IGNORECASE))


def intent_of(q: str) -> Intent:
    """The question's intent, from its form."""
    if _LIST.search(q) and not _IS_THERE.search(q):
        return Intent.LIST
    number = _asks_number(q)
    head = _IDENTIFY.search(q)
    # "What is System 2 Attention …": a capitalised head noun belongs to a name, not "what system …"
    named_head = head is not None and bool(re.search(r"\s[A-Z]\w*$", head.group(0)))
    identify = head is not None and not named_head and not _subject_given(q)
    # "compare"/"comparison" inside "Which suite was built to compare X?" names what the thing does: the question
    # still asks which one it is
    if _COMPARE_STRONG.search(q) or (_COMPARE.search(q) and not number and not identify) or _asks_each(q) or (
            (_HOW_BOTH.search(q) or _BUILDS_ON.search(q)) and len(entity_phrases(q)) >= 2):
        return Intent.COMPARE
    if _IS_THERE.search(q):
        return Intent.IDENTIFY
    if _EXISTS.search(q):
        return Intent.LIST if _EXISTS_MANY.search(q) else Intent.IDENTIFY
    if _ASK_EXPLAIN.search(q):
        return Intent.EXPLAIN
    if _is_yes_no(q) and not re.match(r"^\s*(is|are)\s+there\b", q, re.IGNORECASE):
        return Intent.YESNO
    if identify:
        return Intent.IDENTIFY
    if _EXPLAIN.search(q) and not number and not _NAME_ASK.search(q.split(" and ")[0]):
        return Intent.EXPLAIN
    return Intent.FACT


def _asks_number(q: str) -> bool:
    """A quantity is asked by the question's own form or one of its clauses ("How many…", "…, and by how much…"),
    not by a clause inside another ask ("How does Paraformer know how many tokens to emit?" asks how)."""
    if not re.match(r"^\s*how\s+(does|do|did|can|could|would)\b", q, re.IGNORECASE):
        return bool(_NUMBER_ASK.search(q) or _metric_ask(q)[1])
    for m in _NUMBER_ASK.finditer(q):  # "How does X …": only a clause of its own asks a number
        if q[:m.start()].rstrip().lower().endswith((",", ";", "?", ".", ":", "and", "—", "-")):
            return True
    later = [p for p in _SPLIT_PARTS.split(q)[1:] if p and len(p.split()) >= 2]
    return any(_metric_ask(p)[1] for p in later)  # "…, and what improvements does each report?"


def _asks_each(q: str) -> bool:
    """"A and B both …: what does each use?": the same question put to two named things is a comparison."""
    quoted = [m.group(1) or m.group(2) for m in _QUOTED.finditer(q)]
    if len(quoted) >= 2 and re.search(r"[\"”’']\s+and\s+[\"“‘']", q):  # "do 'Title A' and 'Title B' …?"
        return True
    if not re.search(r"\b(each|both)\b", q, re.IGNORECASE):
        return False
    if re.search(r"\b[A-Z][\w.-]*\s+and\s+[A-Z][\w.-]*\s+both\b", q):  # "MaskGIT and RAR both …": two names
        return True
    return len([e for e in entity_phrases(q) if not common_acronym(e)]) >= 2


def _subject_given(q: str) -> bool:
    """The question names the thing it asks about ("Which dataset did RAR use?"), rather than describing a thing
    and asking which paper it is ("Which method turns an LLM into a table generator?")."""
    if re.match(r"^\s*(which|what)\s+([\w'-]+\s+){0,2}?(paper|work|study|article)\b|^\s*what\s+is\s+the\s+name",
                q, re.IGNORECASE):
        return False  # "which paper …" always asks to identify a paper
    m = _GIVEN_SUBJECT.match(q)
    if not m:
        return False
    rest = m.group("rest")
    first = WORD.match(rest.strip())
    return bool(first) and (bool(key_terms(rest, skip_first=False)[:1] == [first.group(0)]) or
                            first.group(0).lower() in ("the", "its", "their", "this", "these", "it", "they"))


# Words that ask for a number without naming which one: they don't have to appear beside it. Comparatives and
# ratios among them: "how much faster" is answered by "speeds up … by 270x", "what fraction" by "10.8% of …".
_GENERIC_METRIC = frozenset("score scores number numbers value values result results performance amount percentage "
                            "percent figure figures fraction ratio proportion share factor times speedup speed-up "
                            "faster slower smaller larger bigger fewer less more cheaper higher lower better worse "
                            "improvement reduction".split())


def _metric_ask(q: str) -> tuple[str, bool]:
    """The words naming an asked quantity ("top-1 accuracy" in "What ImageNet top-1 accuracy does X reach?"), and
    whether the question asks for a quantity at all.
    A parenthesis is read past: "What mean opinion score (MOS) does X obtain?" asks a quantity as plainly."""
    q = re.sub(r"\s*\([^()]{1,40}\)", "", q)
    m = re.search(r"\bwhat(?:'s|\s+is|\s+are|\s+was|\s+were)?\s+(?:the\s+)?((?:[\w%-]+\s+){0,4}?[\w%-]+)\s+"
                  r"(?:does|do|did|is|are|was|were|can|could|will|would|has|have|of|for|on|in|at|when|with|that|"
                  r"reported|achieved|reached|obtained)\b", q, re.IGNORECASE)
    if m:
        words = m.group(1).lower().split()
        for i, w in enumerate(words):
            if any(w == mw or w.startswith(mw) for mw in _METRIC_WORDS):
                phrase = words[max(0, i - 1):i + 1] if i and words[i - 1] not in STOPWORDS else [w]
                return " ".join(x for x in phrase if x not in _GENERIC_METRIC), True
    m = _NUMBER_ASK.search(q)
    if m:
        keep: list[str] = []
        for w in q[m.end():].split()[:4]:  # "how many languages does X support": the words before the verb
            w = w.strip("?,.").lower()
            if not w or w in ("does", "do", "did", "is", "are", "was", "were", "can", "could", "has", "have", "will"):
                break
            if w not in STOPWORDS and w not in _GENERIC_METRIC:
                keep.append(w)
        return " ".join(keep[:2]), True
    return "", False


def _part(text: str) -> Part:
    metric, quantity = _metric_ask(text)
    if quantity and _asks_number(text):
        return Part(text.strip(), Asks.QUANTITY, metric.strip())
    if _NAME_ASK.search(text):
        return Part(text.strip(), Asks.NAME)
    return Part(text.strip(), Asks.STATEMENT)


def _parts(q: str) -> tuple[Part, ...]:
    pieces = [p for p in _SPLIT_PARTS.split(q) if p and p.strip() and len(p.split()) >= 2
              and p.lower() not in ("what", "which", "how", "who", "where", "when", "whether", "is", "are", "does",
                                    "do", "did")]
    if len(pieces) <= 1:
        return (_part(q),)
    subject = [t for t in key_terms(pieces[0]) if not common_acronym(t)]
    out = []
    for i, p in enumerate(pieces[:3]):
        # "…, and how large is its generator?": the later part's "its" is the first part's subject
        if i and subject and not key_terms(p):
            p = _FOLLOW_UP.sub(subject[0], p, count=1)
        out.append(_part(p))
    return tuple(out)


def _clean_phrase(text: str) -> str:
    text = re.sub(rf"^\s*{_AUX}\s+", "", text.strip(" ?.,:;'\""), flags=re.IGNORECASE)
    text = re.sub(r"^\s*(the|a|an)\s+", "", text, flags=re.IGNORECASE)
    return text.strip()


_SIDE_PATTERNS = [
    re.compile(r"\bbetween\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)(?=\s+(in|on|for|when|with|regarding)\s+|[?,:;]|$)",
               re.IGNORECASE),
    re.compile(r"\bhow\s+(?:do|does|did)\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)\s+(differ|compare|contrast)\b", re.IGNORECASE),
    re.compile(r"\bcompare\s+(?:the\s+)?(?P<a>.+?)\s+(?:and|with|to|against|vs\.?|versus)\s+(?P<b>.+?)"
               r"(?=\s+(in|on|for|when|regarding|by)\s+|[?,:;]|$)", re.IGNORECASE),
    re.compile(r"\b(?:does|do|did|is|are)\s+(?P<a>.+?)\s+(?:compare|differ|different)\s+(?:to|with|from|"
               r"against)\s+(?P<b>.+?)(?=\s+(in|on|for|when|regarding)\s+|[?,:;]|$)", re.IGNORECASE),
    re.compile(r"\b(?:is|are)\s+(?P<a>.+?)\s+(?:preferable|superior|inferior|better|worse)\s+(?:to|than)\s+"
               r"(?P<b>.+?)(?=\s+(in|on|for|when|regarding|and\s+vice)\b|[?,:;]|$)", re.IGNORECASE),
    re.compile(r"(?:^|[:,]\s*)(?P<a>[^:,?]+?)\s+(?:vs\.?|versus)\s+(?P<b>[^:,?]+?)(?=[?:,;]|$)", re.IGNORECASE),
    re.compile(r"\b(?P<a>[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)\s+and\s+(?P<b>[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)*)\s+"
               r"(?:both|each|differ|compare)", 0),
]


def _sides(q: str, entities: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    q = re.sub(r"^\s*(according\s+to|in|for)\s+[^,]{2,80},\s*", "", q, flags=re.IGNORECASE)
    for pat in _SIDE_PATTERNS:
        m = pat.search(q)
        if m:
            a, b = _clean_phrase(m.group("a")), _clean_phrase(m.group("b"))
            if a and b and a.lower() != b.lower():
                aspect = q[m.end():].strip(" ?.,:;")
                return (a, b), aspect
    quoted = [m.group(1) or m.group(2) for m in _QUOTED.finditer(q)]
    if len(quoted) >= 2:  # titles in quotes are the sides, whatever names they hold
        return (quoted[0], quoted[1]), ""
    named = [e for e in entities if not common_acronym(e)] or list(entities)
    both = re.search(r"\b(?P<a>[A-Z][\w.-]*)\s+and\s+(?P<b>[A-Z][\w.-]*)\b", q)
    if both:
        return (both.group("a"), both.group("b")), ""
    if len(named) >= 2:
        return (named[0], named[1]), ""
    return tuple(named), ""


def _subject(q: str, intent: Intent, entities: tuple[str, ...]) -> str:
    """The thing an explain or yes/no question is about: its first name, else the noun phrase its form points at
    when that phrase names something ("" for a description: retrieval then finds the paper)."""
    body = _LEAD_CLAUSE.sub("", q)
    named = entity_phrases(body)
    if named:
        return named[0]
    pats = {
        Intent.EXPLAIN: [r"\b(?:what|who)(?:'s|\s+is|\s+are)\s+(?:the\s+(?:\w+\s+)?(?:idea|intuition|trick|insight|"
                         r"mechanism|principle|contribution|approach|method|innovation|novelty)\s+"
                         r"(?:behind|of|in)\s+)?(?P<s>.+?)(?=\s+and\s+how\b|[?,]|$)",
                         r"^\s*how\s+(?:does|do|did|can|could|would|is|are)\s+(?P<s>.+?)\s+(?:work|function|operate|"
                         r"\w+)\b",
                         r"^\s*(?:explain|describe|summari[sz]e|outline)\s+(?:the\s+(?:idea|paper|method)\s+"
                         r"(?:behind|of|on)\s+)?(?P<s>.+?)(?=[?.]|$)",
                         r"^\s*what\s+(?:problems?|issues?|challenges?)\s+(?:does|do|did)\s+(?P<s>.+?)\s+\w+\b"],
        Intent.YESNO: [rf"^\s*{_AUX}\s+(?P<s>.+?)\s+(?:use|uses|need|needs|require|requires|rely|relies|depend|"
                       r"support|supports|outperform|beat|work|employ|include|have|has|get|make|apply|train|learn|"
                       r"generate|produce|handle|run|achieve|reach|improve|reduce|obtained|trained|based|built|"
                       r"equipped|dependent|able|capable|used|evaluated|tested|designed|limited|better|faster|"
                       r"\w+ed)\b"],
    }
    for p in pats.get(intent, []):
        m = re.search(p, body, re.IGNORECASE)
        if m:
            s = _clean_phrase(m.group("s"))
            if s and len(s.split()) <= 6 and key_terms(s, skip_first=False):
                return s
    return ""


def _fact_subject(q: str) -> str:
    """The name a fact question asks about: the one right after its auxiliary ("What FID does RAR reach on
    WMT14?" is about RAR, not WMT14; "How much faster is ByteTransformer's attention …" about ByteTransformer)."""
    m = re.search(rf"\b{_AUX}\s+(?:the\s+|a\s+|an\s+)?(?P<rest>.+)$", q, re.IGNORECASE)
    if not m:
        return ""
    rest = m.group("rest")
    names = entity_phrases(rest)
    first = WORD.match(rest)
    if names and first and rest.startswith(names[0].split()[0]):
        return names[0]
    return ""


_CHOICE = re.compile(r"\bor\b(?!\s+not\b)", re.IGNORECASE)
_NEED = re.compile(r"\b(need|needs|needed|require|requires|required|rely|relies|depend|depends|have\s+to|has\s+to|"
                   r"must)\b", re.IGNORECASE)


def is_choice(q: str) -> bool:
    """A yes/no-form question that offers alternatives ("Does it encode text with A or B?") asks which one, so a
    "Yes"/"No" would answer nothing; a statement put to the test ("Is it true that …") keeps its verdict."""
    body = _LEAD_CLAUSE.sub("", q)
    if re.match(r"^\s*(is\s+it\s+true|true\s+or\s+false|am\s+i\s+right)\b", body, re.IGNORECASE):
        return False
    m = _CHOICE.search(body.replace("and/or", "and"))
    # "Does it rely on melody or chord extraction?": after a verb of need the alternatives are any-of, and the
    # question asks yes or no
    return bool(m) and not _NEED.search(body[:m.start()])


def _claim(q: str) -> str:
    """'Does X use Y?' -> 'X use Y': the statement a yes/no question asks about."""
    body = _LEAD_CLAUSE.sub("", q).strip()
    body = re.sub(r"^\s*(is\s+it\s+true\s+that|true\s+or\s+false:?)\s+", "", body, flags=re.IGNORECASE)
    body = re.sub(rf"^\s*{_AUX}\s+", "", body, flags=re.IGNORECASE)
    return body.rstrip(" ?")


def make_plan(question: str, previous_subject: str = "") -> QuestionPlan:
    """The plan for one question; `previous_subject` (from the chat so far) resolves 'it' / 'this method'."""
    q = " ".join(question.split())
    query = q
    follow_up = False
    if previous_subject:
        names = [t for t in key_terms(q) if not common_acronym(t)]
        if _FOLLOW_UP.search(q) and not names:
            query = _FOLLOW_UP.sub(lambda m: previous_subject + ("'s" if m.group(1).lower() in ("its", "their")
                                                                 else ""), q, count=1)
            follow_up = True
        elif len(q.split()) <= 6 and not names:
            query = f"{q.rstrip('?')} in {previous_subject}?"
            follow_up = True
    intent = intent_of(query)
    entities = tuple(entity_phrases(query))
    quoted = tuple(m.group(1) or m.group(2) for m in _QUOTED.finditer(query))
    entities = tuple(dict.fromkeys(entities + quoted))
    sides: tuple[str, ...] = ()
    aspect = ""
    if intent is Intent.COMPARE:
        sides, aspect = _sides(query, entities)
    parts = _parts(query) if intent in (Intent.FACT, Intent.IDENTIFY) else (_part(query),)
    subject = _subject(query, intent, entities) if intent in (Intent.EXPLAIN, Intent.YESNO) else _fact_subject(query)
    return QuestionPlan(question=q, query=query, intent=intent, parts=parts, entities=entities, subject=subject,
                        sides=sides, aspect=aspect, claim=_claim(query) if intent is Intent.YESNO else "",
                        follow_up=follow_up, topic=tuple(sorted(content_roots(query))),
                        asks_link=bool(_LINK_ASK.search(query)),
                        choice=intent is Intent.YESNO and is_choice(query),
                        exists=intent in (Intent.IDENTIFY, Intent.LIST) and bool(_EXISTS.search(query)))


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]
