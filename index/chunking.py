"""Cut page text into token-bounded, overlapping chunks measured with the embedding model's tokenizer.

Counting uses the model's own ``tokenizer.json`` through the ``tokenizers`` package (no torch), so
a chunk of ``max_tokens`` tokens plus [CLS]/[SEP] always fits the embedder's 256-token window.
Windows end on whitespace between words; a section never shares a chunk with another section.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer

_WORD = re.compile(r"\S+")
# Typographic ligatures (U+FB00-U+FB06: ff, fi, fl, ffi, ffl, long st, st) as PDFs set them; stored
# text must spell the letters out or "efficient" never matches the text a PDF gave as "e\ufb03cient".
# Only these are mapped: NFKC on everything would also turn "n\u00b2" into "n2".
_LIGATURES = {code: unicodedata.normalize("NFKC", chr(code)) for code in range(0xFB00, 0xFB07)}
# A word broken at a line end: "effi-\ncient". Group 1 is the whole fragment before the hyphen.
_LINE_END_HYPHEN = re.compile(r"(\S+)-[ \t]*\r?\n[ \t]*(?=\w)")
_SENTENCE_END = (".", "?", "!", ":", ";")
# A window may end this far before its token budget to land on a sentence end instead.
_SENTENCE_SLACK = 0.25


@dataclass(frozen=True)
class PageText:
    """Text of one page (or one section of a card); ``section`` None means "same as before"."""

    page: int | None
    text: str
    section: str | None = None


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk ready for the store: its text, where it came from and its content hash."""

    text: str
    page: int | None
    section: str | None
    ord: int
    content_hash: str
    token_count: int


def _join_hyphenated(match: re.Match) -> str:
    fragment = match.group(1)
    following = match.string[match.end()]
    # "effi-\ncient" was split by the typesetter: join. A compound ("state-of-the-\nart"), or a
    # break before a capital or digit ("GPU-\nBased", "top-\n5"), keeps its hyphen.
    if "-" not in fragment and fragment[-1].islower() and following.islower():
        return fragment
    return fragment + "-"


def tidy_text(text: str) -> str:
    """Spell out ligatures and mend words hyphenated at line ends; other text is left as it is.

    This is what the stored chunk text (and so its hash, FTS and embedding) sees; runs before chunking.
    """
    return _LINE_END_HYPHEN.sub(_join_hyphenated, text.translate(_LIGATURES))


def normalise_text(text: str) -> str:
    """NFKC, whitespace collapsed to single spaces, trimmed: the form the content hash covers."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def content_hash(text: str) -> str:
    """sha256 hex of the normalised text, so reflowed whitespace does not look like new content."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


@lru_cache(maxsize=4)
def load_tokenizer(tokenizer_path: str) -> Tokenizer:
    """Load ``tokenizer.json`` (or the one inside a model folder) with padding and truncation off."""
    path = Path(tokenizer_path)
    if path.is_dir():
        path = path / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


@dataclass
class _Segment:
    """Consecutive pages that share one section, joined into one string."""

    section: str | None
    text: str
    page_starts: list[int]  # character offset where each page begins in ``text``
    pages: list[int | None]


def _segments(pages: list[PageText]) -> list[_Segment]:
    """Group pages into runs with the same (carried-forward) section."""
    segments: list[_Segment] = []
    section: str | None = None
    for page in pages:
        if page.section is not None and page.section.strip():
            new_section = page.section.strip()
            if not segments or new_section != section:
                segments.append(_Segment(new_section, "", [], []))
            section = new_section
        elif not segments:
            segments.append(_Segment(None, "", [], []))
        seg = segments[-1]
        if seg.text:
            seg.text += "\n\n"
        seg.page_starts.append(len(seg.text))
        seg.pages.append(page.page)
        seg.text += tidy_text(page.text)
    return [seg for seg in segments if seg.text.strip()]


def _word_token_counts(tokenizer: Tokenizer, text: str, spans: list[tuple[int, int]]) -> list[int]:
    """Tokens per whitespace word, from one encode of the whole text and its token offsets."""
    starts = [start for start, end in tokenizer.encode(text, add_special_tokens=False).offsets if end > start]
    counts = []
    for word_start, word_end in spans:
        counts.append(bisect_left(starts, word_end) - bisect_left(starts, word_start))
    # A word the tokenizer drops entirely (control characters) still needs to move the window.
    return [max(count, 1) for count in counts]


def _window_end(counts: list[int], words: list[str], start: int, max_tokens: int) -> int:
    """Index one past the last word of the window that starts at ``start``."""
    total, end = 0, start
    while end < len(counts) and total + counts[end] <= max_tokens:
        total += counts[end]
        end += 1
    if end == start:  # one word longer than the whole budget: it gets a chunk to itself
        return start + 1
    if end < len(counts):
        floor_tokens = total * (1 - _SENTENCE_SLACK)
        running = total
        for cut in range(end, start + 1, -1):
            if running < floor_tokens:
                break
            if words[cut - 1].endswith(_SENTENCE_END):
                return cut
            running -= counts[cut - 1]
    return end


def _overlap_start(counts: list[int], start: int, end: int, overlap_tokens: int) -> int:
    """First word of the next window: back off from ``end`` by about ``overlap_tokens`` tokens."""
    back, total = end, 0
    while back - 1 > start and total + counts[back - 1] <= overlap_tokens:
        back -= 1
        total += counts[back]
    return max(back, start + 1)


def _page_at(segment: _Segment, offset: int) -> int | None:
    index = max(bisect_left(segment.page_starts, offset + 1) - 1, 0)
    return segment.pages[index]


def chunk_pages(
    pages: list[PageText], tokenizer_path: str | Path, max_tokens: int = 230, overlap_tokens: int = 32
) -> list[ChunkDraft]:
    """Split pages into chunks of at most ``max_tokens`` tokens, overlapping by ~``overlap_tokens``.

    Args:
        pages: page (or card section) texts in reading order; a None section carries the last one.
        tokenizer_path: the model folder or its ``tokenizer.json``.
        max_tokens: token budget per chunk, special tokens excluded.
        overlap_tokens: tokens repeated at the start of the next window of the same section.

    Returns:
        Chunks numbered by ``ord`` from 0, each with its section, first page, hash and token count.
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise ValueError("need max_tokens >= 1 and 0 <= overlap_tokens < max_tokens")
    tokenizer = load_tokenizer(str(tokenizer_path))
    drafts: list[ChunkDraft] = []
    for segment in _segments(pages):
        matches = list(_WORD.finditer(segment.text))
        spans = [m.span() for m in matches]
        words = [m.group() for m in matches]
        counts = _word_token_counts(tokenizer, segment.text, spans)
        start = 0
        while start < len(words):
            end = _window_end(counts, words, start, max_tokens)
            text = segment.text[spans[start][0] : spans[end - 1][1]]
            drafts.append(
                ChunkDraft(
                    text=text,
                    page=_page_at(segment, spans[start][0]),
                    section=segment.section,
                    ord=len(drafts),
                    content_hash=content_hash(text),
                    token_count=sum(counts[start:end]),
                )
            )
            if end >= len(words):
                break
            next_start = _overlap_start(counts, start, end, overlap_tokens)
            # Overlap only when the next window still reaches past this one (a huge next word
            # would otherwise yield a run of chunks that repeat the same overlap).
            start = next_start if _window_end(counts, words, next_start, max_tokens) > end else end
    return drafts
