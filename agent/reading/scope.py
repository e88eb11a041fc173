"""The scope of a mention: which clause it sits in, and whether that clause negates it, proposes it or states it.

"Not training. We could fine-tune a small draft if needed." names training twice, yet the user is serving: the
first mention is negated, the second is a proposal. Every reader asks these questions through ``Scope`` instead
of matching a pattern over the whole text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

# Where one clause ends and the next begins: sentence ends, semicolons, dashes, and conjunctions that turn
# the sense ("but", "though"). A comma alone does not end a clause ("no quantization, it must stay exact").
_CLAUSE_END = re.compile(r"[.!?;:]+(?:\s|$)|\n+|\s[-–—]{1,2}\s|\(|\)|,?\s+\b(?:but|though|although|however|whereas|"
                         r"while|yet)\b", re.I)

# words that set a mention against something: "more than a single GPU", "too big for one H100", "instead of"
CONTRAST = re.compile(r"(?:n['’]t|\bnot|\bnever|\bcannot|\bno longer|\btoo (?:big|large|much) for|\bmore than|\bbeyond|"
                      r"\bexceed\w*|\b(?:larger|bigger) than|\binstead of|\brather than|\boutgr\w+)\b", re.I)
# where one statement of a clause ends and the next joins it
_JOINED = re.compile(r"\s(?:and|but) (?:are|is|we|i|will|want)\b|,\s", re.I)
_SUBCLAUSE = re.compile(r",|\b(?:and|so|because|since|which|that|then)\b", re.I)
# Words that negate what follows them within the clause.
_NEGATION = re.compile(r"\b(?:not|no|never|without|cannot|can['’]?t|won['’]?t|don['’]?t|doesn['’]?t|isn['’]?t|aren['’]?t|"
                       r"didn['’]?t|shouldn['’]?t|mustn['’]?t|nothing|neither|nor|instead of|rather than|other than|"
                       r"except|aside from|apart from|stop(?:ped)? using|moving away from|away from|forget(?: about)?|ignore|"
                       r"(?:don['’]?t|do not|doesn['’]?t) (?:really )?care (?:about|for)|(?:nobody|no one|none of us) cares? (?:about|for)|"
                       r"(?:is|are)n['’]?t (?:a |an )?(?:concern|issue|priority)|irrelevant|less important)\b", re.I)
# a negated head with a relative clause: "nothing that needs training a draft", "no method which requires a GPU"
_NEGATED_RELATIVE = re.compile(r"\b(?:nothing|none|no (?:\w+ ){0,2}?\w+)\s+(?:that|which)\s+[^,.;:!?()]{0,30}$", re.I)
# ...and after it: "latency is not a concern", "quantization is off the table".
_NEGATION_AFTER = re.compile(r"^[\w\s/-]{0,24}?\b(?:is|are)(?: really| just)? (?:not|n['’]t|irrelevant|off the table|"
                             r"out of (?:the )?(?:question|scope)|not allowed|forbidden|banned|a non[\s-]?issue)\b|"
                             r"^[\w\s/-]{0,12}?\b(?:doesn['’]?t|does not|don['’]?t|do not) matter\b|"
                             r"^\s*(?:not allowed|forbidden|banned|is a no[\s-]go)\b|"
                             r"^\s*(?:is |are )?(?:irrelevant|unimportant|not important|secondary|not a (?:concern|priority|problem)|"
                             r"doesn['’]?t matter|does not matter|don['’]?t matter)\b", re.I)
# where the part of a sentence that asks ends: its closing mark, a semicolon or colon, or a line break
_SENTENCE_END = re.compile(r"[.!?;:]+(?=\s|$)|\n|$")
# A clause that proposes or asks rather than states what runs today.
_PROPOSAL = re.compile(r"\b(?:should (?:we|i)|could|might|would|maybe|perhaps|consider\w*|worth|if (?:needed|necessary|"
                       r"required|it helps)|or (?:should|would|is)|vs\.?|versus|switch\w* to|mov\w* to|migrat\w* to|"
                       r"try|planning|plan to|want to (?:try|use|switch|move)|thinking (?:about|of)|"
                       r"evaluat\w*|compare|comparing|instead|later|eventually|some ?day|next quarter|in the future|"
                       r"is it|are they|does it|do i need|do we need|recommend\w*)\b", re.I)
# A clause that says what the user runs now.
_STATE = re.compile(r"\b(?:we(?:['’]re| are)? (?:use|using|run|running|serve|serving|deploy|deployed|are on|have|host)|"
                    r"i(?:['’]m| am)? (?:use|using|run|running|serve|serving|have)|currently|already|today|right now|"
                    r"at the moment|in production|on top of|our (?:stack|setup|deployment|current)|"
                    r"(?:is|are) (?:on|enabled|turned on)|enabled|we(?:['’]ve| have) (?:got|enabled|turned on)|"
                    r"runs? (?:with|on)|with .{1,30} (?:enabled|on)|from)\b", re.I)
# A verb in the past that reports what was done rather than what is done ("we trained it last month").
_PAST = re.compile(r"\b(?:last (?:week|month|year|quarter)|ago|previously|earlier|already (?:trained|fine[\s-]?tuned)|"
                   r"(?:we|i) (?:tried|used to)|"
                   r"(?:we|i|they) (?:trained|fine[\s-]?tuned|pre[\s-]?trained|distilled))\b", re.I)


# where a sentence breaks: its closing mark before a space (a decimal point, "Qwen2.5", does not) or a line break
_SENTENCE_BREAK = re.compile(r"[.!?;]+(?=\s|$)|\n")


def sentence_start(text: str, at: int) -> int:
    """Where the sentence holding ``at`` begins."""
    start = 0
    for m in _SENTENCE_BREAK.finditer(text, 0, at):
        start = m.end()
    return start


@dataclass(frozen=True)
class Clause:
    """One clause of the text: [start, end) in the original string."""

    start: int
    end: int


class Scope:
    """Clause boundaries of one text, and questions about the scope of a position in it."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def clauses(self) -> list[Clause]:
        out, start = [], 0
        for m in _CLAUSE_END.finditer(self.text):
            if m.start() > start:
                out.append(Clause(start, m.start()))
            start = m.end()
        if start < len(self.text):
            out.append(Clause(start, len(self.text)))
        return out or [Clause(0, len(self.text))]

    def clause_at(self, pos: int) -> Clause:
        """The clause holding character ``pos``."""
        for clause in self.clauses:
            if clause.start <= pos < clause.end:
                return clause
        return self.clauses[-1] if pos >= self.clauses[-1].start else Clause(pos, pos)

    def before(self, pos: int, window: int = 60) -> str:
        """The clause's words before ``pos`` (at most ``window`` characters)."""
        clause = self.clause_at(pos)
        return self.text[max(clause.start, pos - window):pos]

    def after(self, end: int, window: int = 60) -> str:
        """The clause's words after ``end`` (at most ``window`` characters)."""
        clause = self.clause_at(max(0, end - 1))
        return self.text[end:min(clause.end, end + window)]

    def negated(self, start: int, end: int | None = None) -> bool:
        """Whether the mention at [start, end) is negated: "no quantization", "latency is not a concern"."""
        # a negation reaches to the next comma or joining word: "won't fit on one GPU, so we bought eight GPUs"
        if _NEGATED_RELATIVE.search(self.before(start, 60)):
            return True
        before = _SUBCLAUSE.split(self.before(start, 48))[-1]
        if _NEGATION.search(before) and not re.search(r"\b(?:not only|no more than|not more than|no less than|"
                                                      r"no longer than)\b", before, re.I):
            return True
        return bool(_NEGATION_AFTER.search(self.after(end if end is not None else start, 48)))

    def contrasted(self, start: int) -> bool:
        """Whether the mention is negated or set against something ("more than one GPU", "too big for one H100")."""
        return self.negated(start) or bool(CONTRAST.search(_SUBCLAUSE.split(self.before(start, 48))[-1]))

    def proposed(self, start: int, before_only: bool = False) -> bool:
        """Whether the mention's part of its clause proposes or asks about it rather than stating it
        ("we train with Megatron and are considering NeMo": only NeMo is proposed). ``before_only`` looks only at the
        words before the mention ("we serve it with vLLM at maybe 3 req/s": the "maybe" is about the rate)."""
        clause = self.clause_at(start)
        parts = list(_JOINED.finditer(self.text, clause.start, clause.end)) if clause.end > clause.start else []
        lo = max([clause.start, *(p.end() for p in parts if p.end() <= start)])
        hi = start if before_only else min([clause.end, *(p.start() for p in parts if p.start() >= start)])
        return bool(_PROPOSAL.search(self.text[lo:hi]))

    def stated(self, start: int) -> bool:
        """Whether the mention's clause says it runs today ("we already use X", "X is enabled")."""
        clause = self.clause_at(start)
        return bool(_STATE.search(self.text[clause.start:clause.end]))

    def past(self, start: int) -> bool:
        """Whether the mention's clause reports something done before ("we fine-tuned it last month")."""
        clause = self.clause_at(start)
        return bool(_PAST.search(self.text[clause.start:clause.end]))

    def in_question(self, pos: int) -> bool:
        """Whether the sentence part holding ``pos`` ends with a question mark: "What would cut the GPU bill?" (in
        "we moved to AWQ to fit; how do we get quality back?" only the part after the semicolon asks)."""
        end = _SENTENCE_END.search(self.text, pos)
        return bool(end) and "?" in end.group(0)

    def asserted(self, start: int, end: int | None = None) -> bool:
        """Neither negated nor proposed nor past: a fact about what the user does now."""
        return not (self.negated(start, end) or self.proposed(start) or self.past(start))
