"""A fake arXiv on 127.0.0.1: Atom XML for id-list and search queries, real PDF bytes at /pdf/<id>vN.

Tests script it: bump a paper to v2, answer the next API call with 429 or an empty page, serve a
malformed entry or a corrupt PDF, hold a PDF download open (for the kill -9 test). Counters say
how many API pages and PDFs were requested. Import the fixtures into a test module:
``from fake_arxiv import fake_arxiv, make_feed``.
"""

from __future__ import annotations

import gzip
import io
import re
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest

from ingest.arxiv_feed import ArxivFeed, normalise_title

LOOPBACK = "127.0.0.1"


@dataclass
class FakePaper:
    """One paper the fake serves; ``malformed`` is None, "no-dates" or "no-pdf"."""

    arxiv_id: str
    title: str
    topic: str  # a phrase the generated text is about, e.g. "dynamic draft trees"
    authors: tuple[str, ...] = ("Ada Lovelace", "Alan Turing")
    version: int = 1
    published: str = "2024-06-24T17:59:00Z"
    malformed: str | None = None
    corrupt_pdf: bool = False
    pdf_url: str | None = None  # overrides the served link (foreign-host tests)
    watch: bool = False  # returned by non-title search queries

    @property
    def summary(self) -> str:
        return f"We study {self.topic} for faster language model inference and report measured speedups."


_SECTIONS = [
    ("1 Introduction", "Large language models spend most of their serving time in memory-bound steps. {cap} "
     "targets this cost directly. We describe the idea, its cost and when it pays off on modern accelerators."),
    ("2 Background", "Autoregressive decoding emits one token per forward pass, so weights are read again for "
     "every token. Prior systems reduce this cost in several ways, and {topic} is one family of them."),
    ("2.1 Problem Setting", "We consider a single accelerator serving one request at a time with a fixed context "
     "budget. The quantity of interest is wall-clock latency per generated token under {topic}."),
    ("3 Method", "Our method applies {topic} in three steps. First we measure the workload, then we choose the "
     "configuration with the best predicted latency, and finally we run it while tracking accuracy."),
    ("4 Experiments", "We evaluate on chat and summarisation prompts with models from seven to seventy billion "
     "parameters. Every run repeats five times and we report the median latency with {topic}."),
    ("4.1 Results", "Across settings {topic} lowers latency per token while outputs stay within the reference "
     "tolerance. Gains are largest at small batch sizes where decoding is bound by memory bandwidth."),
    ("5 Conclusion", "We showed that {topic} is a practical way to accelerate inference. Future work will combine "
     "it with quantization and better schedulers."),
]


def paper_sections(paper: FakePaper) -> list[tuple[str, str]]:
    """Section headings and body text of ``paper`` at its current version (text changes with it)."""
    sections = []
    for heading, template in _SECTIONS:
        body = template.format(topic=paper.topic, cap=paper.topic[:1].upper() + paper.topic[1:])
        if paper.version > 1:
            body += f" Revision v{paper.version} adds measurements for {paper.topic} on newer hardware."
        sections.append((heading, body))
    return sections


def make_paper_pdf(title: str, sections: list[tuple[str, str]], references: list[str]) -> bytes:
    """A real multi-page PDF (reportlab) with a title, an abstract, numbered sections and references."""
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=letter)
    width, height = letter
    y = height - 72

    def line(text: str, font: str = "Helvetica", size: int = 10) -> None:
        nonlocal y
        if y < 72:
            pdf.showPage()
            y = height - 72
        pdf.setFont(font, size)
        pdf.drawString(72, y, text)
        y -= size + 5

    def paragraph(text: str) -> None:
        words, current = text.split(), ""
        for word in words:
            if len(current) + len(word) + 1 > 90:
                line(current)
                current = word
            else:
                current = f"{current} {word}".strip()
        if current:
            line(current)

    line(title, "Helvetica-Bold", 13)
    line("Abstract", "Helvetica-Bold", 11)
    paragraph(f"This paper studies {title.lower()} and reports latency measurements.")
    for number, (heading, body) in enumerate(sections):
        if number and number % 2 == 0:  # short sections, but still a paper of several pages
            pdf.showPage()
            y = height - 72
        line(heading, "Helvetica-Bold", 11)
        paragraph(body)
    line("References", "Helvetica-Bold", 11)
    for ref in references:
        paragraph(ref)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


CORRUPT_PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nthis is not a real object table\n%%EOF\n"
OVERSIZED_BYTES = 3_000_000  # over the 1 MB limit the size tests give the feed


@dataclass
class FakeArxiv:
    """The fake server and its scripting state (thread-safe enough for one client at a time)."""

    papers: dict[str, FakePaper] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)
    client_ports: list[int] = field(default_factory=list)  # one per request: equal ports = one connection
    script: dict[str, deque] = field(default_factory=lambda: {"api": deque(), "pdf": deque()})
    holds: dict[str, threading.Event] = field(default_factory=dict)
    _pdf_cache: dict[tuple[str, int], bytes] = field(default_factory=dict)

    def start(self) -> "FakeArxiv":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like arXiv

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                fake._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        for event in self.holds.values():
            event.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/query"

    def add(self, *papers: FakePaper) -> None:
        for paper in papers:
            self.papers[paper.arxiv_id] = paper

    def bump(self, arxiv_id: str) -> None:
        """Publish the next version of a paper (new text, new PDF)."""
        self.papers[arxiv_id].version += 1

    def enqueue(self, kind: str, *actions: object) -> None:
        """Answer the next ``kind`` ("api" or "pdf") requests with these actions: 429, 503, "empty",
        "gzip" (the first paper's PDF, compressed), "oversized" (a declared length of ``OVERSIZED_BYTES``)
        or "unsized" (as many bytes with no length)."""
        self.script[kind].extend(actions)

    def hold_pdf(self, arxiv_id: str) -> threading.Event:
        """Make the PDF request for ``arxiv_id`` wait until the returned event is set."""
        self.holds[arxiv_id] = threading.Event()
        return self.holds[arxiv_id]

    def pdf_bytes(self, paper: FakePaper) -> bytes:
        key = (paper.arxiv_id, paper.version)
        if key not in self._pdf_cache:
            refs = [f"[1] A. Author. A much older study of {paper.topic}. Workshop on Systems, 2019.",
                    "[2] B. Writer. Reference list text that search must never return. 2020."]
            self._pdf_cache[key] = make_paper_pdf(paper.title, paper_sections(paper), refs)
        return self._pdf_cache[key]

    # --- request handling ---------------------------------------------------------------
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        self.log.append(req.path)
        self.client_ports.append(req.client_address[1])
        if parts.path == "/api/query":
            self.counts["api"] += 1
            self._api(req, parse_qs(parts.query))
        elif match := re.fullmatch(r"/pdf/(?P<id>[^/]+?)v(?P<v>\d+)", parts.path):
            self.counts["pdf"] += 1
            self.counts[f"pdf:{match.group('id')}"] += 1
            self._pdf(req, match.group("id"))
        elif parts.path == "/redirect":  # 302 to ?to=<url>, for the allow-list on redirect hops
            self.counts["redirect"] += 1
            req.send_response(302)
            req.send_header("Location", parse_qs(parts.query)["to"][0])
            req.send_header("Content-Length", "0")
            req.end_headers()
        else:
            self._send(req, 404, b"not found", "text/plain")

    def _scripted(self, req: BaseHTTPRequestHandler, kind: str) -> bool:
        if not self.script[kind]:
            return False
        action = self.script[kind].popleft()
        if action == "empty":
            self._send(req, 200, self._feed([], 0, 0).encode(), "application/atom+xml")
        elif action == "gzip":  # the real PDF, sent with Content-Encoding: gzip
            body = gzip.compress(self.pdf_bytes(next(iter(self.papers.values()))))
            req.send_response(200)
            req.send_header("Content-Type", "application/pdf")
            req.send_header("Content-Encoding", "gzip")
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
        elif action == "oversized":  # declares a body of OVERSIZED_BYTES
            self._send(req, 200, b"%PDF-" + b"0" * (OVERSIZED_BYTES - 5), "application/pdf")
        elif action == "unsized":  # no Content-Length: streams OVERSIZED_BYTES, then closes the connection
            req.close_connection = True
            req.send_response(200)
            req.send_header("Content-Type", "application/pdf")
            req.send_header("Connection", "close")
            req.end_headers()
            try:
                for _ in range(OVERSIZED_BYTES // 65536):
                    req.wfile.write(b"0" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its limit
        else:
            self._send(req, int(action), b"try again later", "text/plain")
        return True

    def _api(self, req: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        if self._scripted(req, "api"):
            return
        ids = [i for i in ",".join(query.get("id_list", [])).split(",") if i]
        search = query.get("search_query", [""])[0]
        if ids:
            self.counts["api:id_list"] += 1
            found = [self.papers[i.split("v")[0]] for i in ids if i.split("v")[0] in self.papers]
        elif search.startswith("ti:"):
            self.counts["api:title"] += 1
            found = self._title_hits(search[3:].strip('"'))
        else:
            self.counts["api:watch"] += 1
            found = sorted((p for p in self.papers.values() if p.watch), key=lambda p: p.published, reverse=True)
        start = int(query.get("start", ["0"])[0])
        size = int(query.get("max_results", ["100"])[0])
        page = found[start : start + size]
        self._send(req, 200, self._feed(page, len(found), start).encode(), "application/atom+xml")

    def _title_hits(self, phrase: str) -> list[FakePaper]:
        words = set(normalise_title(phrase).split())
        scored = [(len(words & set(normalise_title(p.title).split())), p) for p in self.papers.values()]
        return [p for score, p in sorted(scored, key=lambda sp: -sp[0]) if score > 0]

    def _pdf(self, req: BaseHTTPRequestHandler, arxiv_id: str) -> None:
        if arxiv_id in self.holds:
            self.holds[arxiv_id].wait(timeout=60)
        if self._scripted(req, "pdf"):
            return
        paper = self.papers.get(arxiv_id)
        if paper is None:
            self._send(req, 404, b"no such paper", "text/plain")
        else:
            body = CORRUPT_PDF if paper.corrupt_pdf else self.pdf_bytes(paper)
            self._send(req, 200, body, "application/pdf")

    def _feed(self, papers: list[FakePaper], total: int, start: int) -> str:
        entries = "".join(self._entry(p) for p in papers)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" '
            'xmlns:arxiv="http://arxiv.org/schemas/atom">'
            f"<title>fake arXiv query</title><id>{self.base_url}/api/fake</id>"
            f"<updated>2025-01-01T00:00:00Z</updated>"
            f"<opensearch:totalResults>{total}</opensearch:totalResults>"
            f"<opensearch:startIndex>{start}</opensearch:startIndex>"
            f"<opensearch:itemsPerPage>{len(papers)}</opensearch:itemsPerPage>{entries}</feed>"
        )

    def _entry(self, paper: FakePaper) -> str:
        vid = f"{paper.arxiv_id}v{paper.version}"
        pdf_url = paper.pdf_url or f"{self.base_url}/pdf/{vid}"
        dates = "" if paper.malformed == "no-dates" else (
            f"<updated>{paper.published}</updated><published>{paper.published}</published>")
        pdf_link = "" if paper.malformed == "no-pdf" else (
            f'<link title="pdf" href="{escape(pdf_url)}" rel="related" type="application/pdf"/>')
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in paper.authors)
        return (
            f"<entry><id>http://arxiv.org/abs/{vid}</id>{dates}<title>{escape(paper.title)}</title>"
            f"<summary>{escape(paper.summary)}</summary>{authors}"
            f'<link href="http://arxiv.org/abs/{vid}" rel="alternate" type="text/html"/>{pdf_link}'
            '<arxiv:primary_category term="cs.CL"/><category term="cs.CL"/></entry>'
        )

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        try:
            req.send_response(status)
            req.send_header("Content-Type", content_type)
            req.send_header("Content-Length", str(len(body)))
            req.end_headers()
            req.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (killed mid-download)


SAMPLE_PAPERS = [
    ("2406.16858", "EAGLE-2: Faster Inference of Language Models with Dynamic Draft Trees", "dynamic draft trees"),
    ("2307.08691", "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning",
     "tiled attention kernels"),
    ("2309.06180", "Efficient Memory Management for Large Language Model Serving with PagedAttention",
     "paged key-value cache blocks"),
]


def sample_papers() -> list[FakePaper]:
    """Three small papers with distinct topics (ids and titles of real papers, generated text)."""
    return [FakePaper(arxiv_id=i, title=t, topic=topic) for i, t, topic in SAMPLE_PAPERS]


def make_feed(fake: FakeArxiv, **options: object) -> ArxivFeed:
    """An :class:`ArxivFeed` on the fake: loopback allowed, no politeness delay, no backoff wait."""
    settings = {"delay_s": 0.0, "retries": 3, "backoff_s": 0.0} | options
    return ArxivFeed(fake.api_url, [LOOPBACK], **settings)


@pytest.fixture
def fake_arxiv() -> FakeArxiv:
    """A started fake arXiv holding the sample papers; stopped after the test."""
    fake = FakeArxiv().start()
    fake.add(*sample_papers())
    yield fake
    fake.stop()
