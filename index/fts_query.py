"""Turn free text into a safe FTS5 MATCH expression: an OR of quoted terms.

FTS5 query syntax gives meaning to quotes, ``-``, ``*``, ``:``, parentheses, ``AND``/``OR``/``NOT``
and ``NEAR``; user text is never passed through. We pull out word-like terms ourselves and quote
each one. A compound such as ``EAGLE-2`` stays one quoted term, which FTS5 reads as the phrase
"eagle 2", so names with hyphens or dots are found as written while ``FP8`` and ``W4A8KV4`` are
single tokens anyway.
"""

from __future__ import annotations

import re

# Letters/digits, optionally joined by - _ . + / (EAGLE-2, Llama-3.1, int4/fp8, C++ loses its ++).
_TERM = re.compile(r"[^\W_]+(?:[-_.+/][^\W_]+)*")
MAX_TERMS = 32
# Very common words add nothing to an OR query but make it match (and score) most rows.
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its of on or than that the this "
    "to was what when which who why will with you your".split()
)


def query_terms(query: str, max_terms: int = MAX_TERMS) -> list[str]:
    """Distinct lower-cased terms of ``query`` in order, stopwords dropped unless nothing else is left."""
    seen: dict[str, None] = {}
    for match in _TERM.finditer(query or ""):
        term = match.group().lower()
        if term not in seen:
            seen[term] = None
    terms = list(seen)
    content = [t for t in terms if t not in _STOPWORDS]
    return (content or terms)[:max_terms]


def build_match_expression(query: str) -> str | None:
    """An FTS5 expression ``"t1" OR "t2" ...`` for ``query``, or None when it has no terms."""
    terms = query_terms(query)
    if not terms:
        return None
    # Terms hold no double quotes (the regex excludes them), so quoting is plain wrapping.
    return " OR ".join(f'"{term}"' for term in terms)
