"""PDF bytes -> page texts with section headings, using pypdf.

Headings are found line by line with simple rules that fit most arXiv papers: numbered headings
("3 Method", "4.2 Results"), short ALL-CAPS lines ("RELATED WORK"), and the named parts
"Abstract" and "References". Extraction stops at the references: a bibliography would flood
search with other papers' titles.
"""

from __future__ import annotations

import io
import logging
import re

from pypdf import PdfReader

from index.chunking import PageText, tidy_text
from index.errors import AccelsageError

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(?P<num>(?:[1-9]\d?)(?:\.\d{1,2}){0,2})\.?\s+(?P<title>[A-Z][^\n]*)$")
_NAMED = re.compile(
    r"^(?:(?:[1-9]\d?|[IVX]+)\.?\s+)?(?P<name>abstract|references|bibliography|acknowledge?ments?)\b[\s.:\u2014\u2013-]*(?P<rest>.*)$",
    re.IGNORECASE,
)
_STOP_SECTIONS = {"references", "bibliography"}
_MAX_HEADING_WORDS = 12
_MAX_HEADING_CHARS = 90
_SMALL_WORDS = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "via", "with", "vs"}


class PdfError(AccelsageError):
    """A PDF could not be read or held no text."""


def _numbered_heading(line: str) -> str | None:
    """"4.2 Results" -> "4.2 Results"; None for lines that only look numbered (table rows, prose)."""
    match = _NUMBERED.match(line)
    if not match:
        return None
    title = match.group("title").strip()
    words = title.split()
    if len(line) > _MAX_HEADING_CHARS or len(words) > _MAX_HEADING_WORDS:
        return None
    if title.endswith((".", ",", ";", ":", "-")) or sum(ch.isdigit() for ch in title) > len(title) // 3:
        return None
    # A wrapped prose line that happens to start with a number ("8 A100 GPUs and measure the")
    # often ends on a small word, or is long and mostly lower case; headings rarely do either.
    if len(words) > 1 and words[-1].lower() in _SMALL_WORDS:
        return None
    lower = sum(1 for w in words[1:] if w[:1].islower() and w.lower() not in _SMALL_WORDS)
    if len(words) > 6 and lower > len(words) // 2:
        return None
    return f"{match.group('num')} {title}"


def _section_number(name: str) -> tuple[int, ...] | None:
    """(4, 2) for "4.2 Results"; None for unnumbered sections."""
    head = name.split()[0]
    return tuple(int(part) for part in head.split(".")) if re.fullmatch(r"\d+(\.\d+)*", head) else None


def _follows(previous: tuple[int, ...] | None, number: tuple[int, ...]) -> bool:
    """Whether a numbered heading can come after the previous one.

    Numbers must move forward by at most two top-level steps (one heading may be missed by the
    extractor), or go into a subsection of the current section: "8 A100 GPUs" after "3 Method" is
    prose, not section 8.
    """
    if previous is None:
        return number[0] <= 3
    if number[0] == previous[0]:
        return len(number) > 1 and number > previous
    return previous[0] < number[0] <= previous[0] + 2


def _caps_heading(line: str) -> str | None:
    """A short line in capitals ("RELATED WORK", "2. METHOD") is a heading."""
    letters = [ch for ch in line if ch.isalpha()]
    words = line.split()
    if len(letters) < 4 or len(words) > 8 or len(line) > 60:
        return None
    if all(ch.isupper() for ch in letters) and not line.rstrip().endswith((".", ",")):
        return line.strip()
    return None


def detect_heading(line: str) -> tuple[str, str] | None:
    """Classify a line: ``(section, rest_of_line)`` when it opens a section, else None."""
    line = line.strip()
    if not line:
        return None
    named = _NAMED.match(line)
    if named and (not named.group("rest") or named.group("name").lower() == "abstract"):
        return named.group("name").capitalize(), named.group("rest").strip()
    for rule in (_numbered_heading, _caps_heading):
        heading = rule(line)
        if heading:
            return heading, ""
    return None


def _clean(lines: list[str]) -> str:
    """Join lines, spelling out ligatures and mending words hyphenated across line breaks."""
    return tidy_text("\n".join(lines)).strip()


def _page_texts(reader: PdfReader) -> list[str]:
    texts = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception as exc:  # pypdf raises many types on damaged content streams
            raise PdfError(f"cannot extract text from page {number}: {exc.__class__.__name__}: {exc}") from exc
    return texts


def extract_pages(pdf_bytes: bytes) -> list[PageText]:
    """Read a PDF into :class:`PageText` pieces: one per (page, section) run, pages 1-based.

    Args:
        pdf_bytes: the whole file.

    Returns:
        Pieces in reading order; ``section`` is set where a heading opens a section and None where
        the previous section carries on. Everything from the references on is dropped.

    Raises:
        PdfError: not a PDF, damaged beyond reading, or no extractable text.
    """
    if not pdf_bytes.lstrip()[:5].startswith(b"%PDF"):
        raise PdfError("not a PDF (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(pdf_bytes), strict=False)
        if reader.is_encrypted:
            reader.decrypt("")
        page_texts = _page_texts(reader)
    except PdfError:
        raise
    except Exception as exc:
        raise PdfError(f"cannot read PDF: {exc.__class__.__name__}: {exc}") from exc
    pieces = _split_sections(page_texts)
    if not any(piece.text.strip() for piece in pieces):
        raise PdfError("the PDF has no extractable text (scanned images?)")
    return pieces


def _split_sections(page_texts: list[str]) -> list[PageText]:
    """Cut each page at detected headings; stop at the references."""
    pieces: list[PageText] = []
    last_number: tuple[int, ...] | None = None
    for number, text in enumerate(page_texts, start=1):
        section: str | None = None
        lines: list[str] = []
        for line in text.splitlines():
            heading = detect_heading(line)
            numbered = _section_number(heading[0]) if heading else None
            if heading is None or (numbered is not None and not _follows(last_number, numbered)):
                lines.append(line)
                continue
            last_number = numbered or last_number
            name, rest = heading
            if _clean(lines):
                pieces.append(PageText(page=number, text=_clean(lines), section=section))
            if name.lower() in _STOP_SECTIONS:
                return pieces
            section, lines = name, [rest] if rest else []
        if _clean(lines):
            pieces.append(PageText(page=number, text=_clean(lines), section=section))
    return pieces
