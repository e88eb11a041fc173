"""Rewrite pasted layout (markdown tables, pipe-separated tickets, JSON keys, odd unicode) into plain clauses.

The readers of ``agent/reading/`` understand sentences such as "TTFT p95: target 500 ms, today 1.3 s." but not the
same facts laid out as a table row. This stage runs once before them and turns layout into such clauses:

- unicode people paste from chat tools and PDFs becomes ASCII the readers match: ``≈``/``∼``/``～`` -> ``~``,
  ``≤``/``≥`` -> ``<=``/``>=``, non-breaking and thin spaces -> a space, smart quotes -> plain ones, full-width
  digits and letters -> ASCII;
- a markdown table becomes one clause per row: a two-column table reads "key: value.", a wider one pairs each
  header with its cell ("TTFT p95: target 500 ms, today 1.3 s."); a unit in a header's parentheses moves to the
  cell ("ITL p50 (ms)" over "21.5" reads "ITL p50 21.5 ms"); the row the prose refers to comes first;
- a line whose parts are separated by `` | `` (a ticket title, a log line) becomes one clause per part;
- a key that names its value's unit reads as a value with that unit ("Mean TTFT (ms): 412.5" -> "Mean TTFT: 412.5 ms",
  "ttft_p99_ms=950" -> "ttft p99: 950 ms");
- a CSV header over data rows reads as "key: value" pairs per row ("ttft_ms,tpot_ms" over "980,58" -> "ttft_ms: 980,
  tpot_ms: 58.");
- Prometheus samples read as a named figure (``vllm:time_to_first_token_seconds{quantile="0.99"} 3.91`` ->
  "time to first token p99: 3.91 s.");
- a YAML block of figures under a bare key names that key in each line ("slo:" over "ttft_p50_ms: 300" -> "ttft p50
  slo: 300 ms."), so a target block and a measured block read apart;
- a table drawn with box characters (``│``, ``┃``) reads as a markdown table, and a row label's unit ("Request latency
  (ms)") moves to its cells;
- quoted JSON keys lose their quotes (``"max_tokens": 512`` -> ``max_tokens: 512``) and a quoted flag list reads as
  a command line (``"--max-num-seqs", "48"`` -> ``--max-num-seqs 48``).

Text without any of these comes back unchanged, character for character.
"""

from __future__ import annotations

import re

# characters that mean the same as an ASCII one to every reader
_UNICODE = {"≈": "~", "∼": "~", "≃": "~", "≤": "<=", "≥": ">=", "\u00a0": " ", "\u2002": " ", "\u2003": " ",
            "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ", "\u3000": " ",
            "\u200b": "", "\ufeff": "", "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"'}
# full-width ASCII (U+FF01..U+FF5E, "６ｋ", "～") sits 0xFEE0 above the ASCII character it stands for
_UNICODE.update({chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)})
_UNICODE_TABLE = str.maketrans(_UNICODE)

_TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$")
_SEPARATOR_CELL = re.compile(r"^:?-{1,}:?$")
_SEPARATOR_LINE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)+\|?\s*$")
# a part separator in a one-line ticket or log line: a pipe with space on both sides
_PIPE = re.compile(r"\s+\|\s+")
# a header's unit in parentheses moves to its cells: "TTFT p50 (ms)", "memory (GiB)", "throughput (tok/s)"
_HEADER_UNIT = re.compile(r"^(.*?)\s*\(\s*(ms|s|sec|seconds|us|µs|min|%|gb|gib|mb|mib|tok/s|tokens/s|tok/sec|"
                          r"tokens/sec|"
                          r"t/s|tps|req/s|qps|rps|per sec|per second)\s*\)\s*$", re.I)
_NUMERIC_CELL = re.compile(r"^[~<>=]*\s*\d[\d,.]*\s*[kKmM]?$")
# a key that carries its value's unit: "Mean TTFT (ms): 412.5", "ttft_p99_ms=950", "peak_mem_gib: 61"
_UNITS = r"ms|s|sec|us|gb|gib|mb|mib|tok/s|tokens/s|tok/sec|tokens/sec"
_STAT = r"(?:_(?:p\d{2,3}|avg|mean|median|max|min))?"
_KEY_UNIT = re.compile(r"(?<![\w-])([A-Za-z][\w -]{0,40}?)\s*\((" + _UNITS + r")\)\s*[:=]\s*"
                       r"(~?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?!\d|\.\d)"
                       r"|(?<![\w-])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*?)_(ms|s|sec|us|gb|gib|mb|mib)(" + _STAT + r")((?: [A-Za-z]+)?)\s*[:=]\s*"
                       r"(~?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)(?!\d|\.\d)", re.I)
# where such a key ends: looked for first, since it is rare and the full pattern is slower
_KEY_UNIT_END = re.compile(r"\((?:" + _UNITS + r")\)\s*[:=]|_(?:ms|s|sec|us|gb|gib|mb|mib)" + _STAT + r"(?: [A-Za-z]+)?\s*[:=]", re.I)
# a nested object of figures: "target: {ttft_ms: 500, tpot_ms: 25}" reads as "ttft_ms target: 500, tpot_ms target: 25"
_NESTED = re.compile(r"([A-Za-z][\w-]{0,30})\s*:\s*\{([^{}]*)\}")
_NESTED_PAIR = re.compile(r"([A-Za-z][\w.-]*)\s*:\s*")
_JSON_KEY = re.compile(r'"([A-Za-z_][\w.-]*)"(\s*:)')
_QUOTED_FLAG = re.compile(r'"(--?[A-Za-z][\w-]*)"\s*,\s*"([^"\s]*)"')
# a CSV header: three or more bare names joined by commas
_CSV_HEADER = re.compile(r"^\s*[A-Za-z_][\w .-]*(?:,[A-Za-z_][\w .-]*){2,}\s*$")
# a Prometheus sample with a time unit in its name: name{labels} value
_PROMETHEUS = re.compile(r"^\s*(?:[A-Za-z_]\w*:)?([A-Za-z_]\w*?)_(seconds|milliseconds|"
                         r"ms)(?:\{([^}]*)\})?\s+(\d+(?:\.\d+)?(?:e-?\d+)?)\s*$",
                         re.I | re.M)
_QUANTILE = re.compile(r"quantile\s*=\s*\"?(0?\.\d+|1(?:\.0+)?)\"?")
# YAML: a bare key ("slo:") and the indented "key: number" lines under it
# only a key that says whether its figures are wanted or observed: "slo:", "targets:", "current:", "measured:"
_YAML_PARENT = re.compile(r"^\s*((?:[\w-]+[ _])?(?:slos?|slas?|targets?|goals?|requirements?|budgets?|limits?|expected|wanted|"
                          r"current|measured|actual|observed|today|now|baseline|before|after|results?))\s*:\s*$", re.I)
_YAML_CHILD = re.compile(r"^(\s+)([A-Za-z][\w .-]*?)\s*:\s*(~?\d[\d,.]*\s*[A-Za-z/%]*)\s*$")
# box-drawing tables (rich, genai-perf): column bars, and rules made only of box characters
_BOX_BAR = re.compile(r"[│┃║]")
_BOX_RULE = re.compile(r"^[\s─━═┏┓┗┛┡┩╇┼┃│║┌┐└┘├┤┬┴╋╸╺╹╻┠┨┯┷╞╡╪╟╢╫━-]*$")
# characters that end a clause already: no full stop is added after them
_ENDED = (".", "!", "?", ":", ";")


_SPOKEN_COUNT = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "sixty": 60}
_SPOKEN_UNIT = {"second": "s", "minute": "min"}
# a duration said in words: "a second and a half", "in under half a second", "two seconds"; "a second" only after a
# word that takes a duration ("within a second", "almost a minute"), since "a second replica" is not a time
_SPOKEN_TIME = re.compile(r"\b(?:(a|an|one) (second|minute) and a half|half (?:a|an) (second|minute)|"
                          r"(under|within|in|below|than|about|around|over|takes?|took|taking|after|to|roughly|almost|"
                          r"nearly|for|waits?|waiting|past) (a|an|one) (second|minute)(?! and a half)|"
                          r"(two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty|thirty|forty|sixty) "
                          r"(second|minute)s)\b", re.I)


def _spoken_time(m: re.Match[str]) -> str:
    if m.group(1):
        return f"1.5 {_SPOKEN_UNIT[m.group(2).lower()]}"
    if m.group(3):
        return f"0.5 {_SPOKEN_UNIT[m.group(3).lower()]}"
    if m.group(4):
        return f"{m.group(4)} 1 {_SPOKEN_UNIT[m.group(6).lower()]}"
    return f"{_SPOKEN_COUNT[m.group(7).lower()]} {_SPOKEN_UNIT[m.group(8).lower()]}"


# a count glued to a card's bare number: "2x3090", "4x4090" -> "2x 3090" (names with letters, "8xH100", read as they are)
_GLUED_COUNT = re.compile(r"\b(\d{1,2})[x×](?=\d{3,4}\b)", re.I)


def rewrite_layout(text: str) -> str:
    """The question with pasted layout rewritten as plain clauses; ordinary prose is returned unchanged."""
    if not text.isascii():
        text = text.translate(_UNICODE_TABLE)
    if _GLUED_COUNT.search(text):
        text = _GLUED_COUNT.sub(r"\1x ", text)
    if "second" in text or "minute" in text:
        text = _SPOKEN_TIME.sub(_spoken_time, text)
    if _BOX_BAR.search(text):
        text = _box_table(text)
    if "," in text and "\n" in text:
        text = _csv_rows(text)
    if "{" in text or "_seconds" in text or "_ms " in text:
        text = _PROMETHEUS.sub(_prometheus_sample, text)
    if '"' in text:
        text = _QUOTED_FLAG.sub(r"\1 \2", _JSON_KEY.sub(r"\1\2", text))
    if "{" in text:
        text = _NESTED.sub(_flattened, text)
    if _KEY_UNIT_END.search(text):
        text = _KEY_UNIT.sub(_value_with_unit, text)
    if ":\n" in text:
        text = _yaml_blocks(text)
    if "|" not in text:
        return text
    lines = text.split("\n")
    blocks = _blocks(lines)
    prose = "\n".join(line for kind, chunk in blocks if kind == "prose" for line in chunk)
    out: list[str] = []
    for kind, chunk in blocks:
        if kind == "table":
            out.extend(_table_clauses(chunk, prose))
        else:
            out.extend(_pipe_clauses(line) for line in chunk)
    return "\n".join(out)


def _box_table(text: str) -> str:
    """Lines split by box-drawing bars as markdown table lines (the first is the header); box rules dropped."""
    out: list[str] = []
    header_done = False
    for line in text.split("\n"):
        if _BOX_BAR.search(line):
            cells = [cell.strip() for cell in _BOX_BAR.split(line)]
            out.append("| " + " | ".join(cells) + " |")
            if not header_done:
                out.append("|" + " --- |" * len(cells))
                header_done = True
        elif not (line.strip() and _BOX_RULE.match(line)):
            out.append(line)
    return "\n".join(out)


def _csv_rows(text: str) -> str:
    """A CSV header followed by rows with as many fields: each row as "header: field" pairs."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        header = lines[i]
        width = header.count(",")
        rows = []
        if _CSV_HEADER.match(header):
            j = i + 1
            while j < len(lines) and lines[j].count(",") == width and lines[j].strip():
                rows.append(lines[j])
                j += 1
        if not rows:
            out.append(header)
            i += 1
            continue
        names = [name.strip() for name in header.split(",")]
        for row in rows:
            pairs = [f"{name}: {cell.strip()}" for name, cell in zip(names, row.split(",")) if cell.strip()]
            out.append(_clause(", ".join(pairs)))
        i += 1 + len(rows)
    return "\n".join(out)


def _prometheus_sample(m: re.Match[str]) -> str:
    """``vllm:time_to_first_token_seconds{quantile="0.99"} 3.91`` -> "time to first token p99: 3.91 s."."""
    if m.group(1).endswith(("_bucket", "_sum", "_count")):
        return m.group(0)
    unit = "s" if m.group(2).lower() == "seconds" else "ms"
    quantile = _QUANTILE.search(m.group(3) or "")
    label = f" p{round(float(quantile.group(1)) * 100):d}" if quantile else ""
    return f"{m.group(1).replace('_', ' ')}{label}: {m.group(4)} {unit}."


def _yaml_blocks(text: str) -> str:
    """Each "key: number" line indented under a bare key names that key: "slo:" / "ttft p50: 300 ms" -> "ttft p50 slo:
    300 ms."."""
    out: list[str] = []
    parent = None
    for line in text.split("\n"):
        bare = _YAML_PARENT.match(line)
        child = _YAML_CHILD.match(line) if parent else None
        if bare:
            parent = bare.group(1).strip()
        elif child:
            line = f"{child.group(1)}{child.group(2)} {parent}: {_clause(child.group(3))}"
        elif line.strip():
            parent = None
        out.append(line)
    return "\n".join(out)


def _flattened(m: re.Match[str]) -> str:
    """"observed: {ttft_ms: 420, tpot_ms: 37}" -> "ttft_ms observed: 420, tpot_ms observed: 37" (objects of figures
    with units only: a config's nesting, "zero_optimization: {stage: 2}", stays as it is)."""
    if not _KEY_UNIT_END.search(m.group(2)):
        return m.group(0)
    return _NESTED_PAIR.sub(lambda pair: f"{pair.group(1)} {m.group(1)}: ", m.group(2))


def _value_with_unit(m: re.Match[str]) -> str:
    """"Mean TTFT (ms): 412.5" -> "Mean TTFT: 412.5 ms"; "ttft_p99_ms=950" -> "ttft p99: 950 ms";
    "tpot_ms_p95 target: 25" -> "tpot p95 target: 25 ms"."""
    if m.group(1) is not None:
        return f"{m.group(1)}: {m.group(3)} {m.group(2)}"
    stat = m.group(6).lstrip("_")
    return f"{m.group(4).replace('_', ' ')}{' ' + stat if stat else ''}{m.group(7)}: {m.group(8)} {m.group(5)}"


def _blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """Runs of consecutive table lines and of other lines, in order.

    A table line starts and ends with a pipe; a table written without the outer pipes ("a | b" over "--- | ---") is
    known by its separator row, and runs from the header above it to the last line with a pipe below it.
    """
    bare = set()
    for i in range(1, len(lines)):
        if "|" in lines[i - 1] and _SEPARATOR_LINE.match(lines[i]):
            end = i + 1
            while end < len(lines) and "|" in lines[end]:
                end += 1
            bare.update(range(i - 1, end))
    blocks: list[tuple[str, list[str]]] = []
    for i, line in enumerate(lines):
        kind = "table" if i in bare or _TABLE_LINE.match(line) else "prose"
        if blocks and blocks[-1][0] == kind:
            blocks[-1][1].append(line)
        else:
            blocks.append((kind, [line]))
    return blocks


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _is_separator(cells: list[str]) -> bool:
    return all(_SEPARATOR_CELL.match(cell.replace(" ", "")) for cell in cells if cell) and any(cells)


def _clause(text: str) -> str:
    text = text.strip()
    return text if not text or text.endswith(_ENDED) else text + "."


def _table_clauses(lines: list[str], prose: str) -> list[str]:
    """One clause per row of a markdown table (a header is recognised by the separator row under it)."""
    rows = [_cells(line) for line in lines]
    header: list[str] | None = None
    if len(rows) >= 2 and _is_separator(rows[1]):
        header, rows = rows[0], rows[2:]
    rows = [row for row in rows if not _is_separator(row) and any(row)]
    if header is not None and not rows:
        return [_clause(", ".join(cell for cell in header if cell))]
    labelled = all(row and not _NUMERIC_CELL.match(row[0]) for row in rows)
    if header is None or (len(header) == 2 and labelled):  # a key/value table: its header says nothing
        return [_clause(_key_value(row[0], row[1])) if len(row) == 2 and row[0] and row[1]
                else _clause(". ".join(cell for cell in row if cell)) for row in rows]
    rows = _referenced_first(rows, prose)
    clauses = []
    for row in rows:
        if labelled:  # the first cell names the row ("TTFT p95: target 500 ms, today 1.3 s.")
            label, unit = row[0], None
            label_unit = _HEADER_UNIT.match(label)
            if label_unit:  # "Request latency (ms)": the unit belongs to every cell of the row
                label, unit = label_unit.group(1), _row_unit(label_unit.group(1), label_unit.group(2))
            rest = _pairs(header[1:], row[1:], unit)
            clauses.append(_clause(f"{label}: {', '.join(rest)}" if rest else label))
        else:  # a sweep: every cell with its header ("users 8, ITL p50 14.0 ms.")
            clauses.append(_clause(", ".join(_pairs(header, row))))
    return clauses


def _key_value(key: str, value: str) -> str:
    """One row of a key/value table: "TTFT (ms)" and "1,250.5" read "TTFT: 1250.5 ms"."""
    unit = _HEADER_UNIT.match(key)
    if unit and _NUMERIC_CELL.match(value):
        return f"{unit.group(1)}: {_pair('', value, _row_unit(unit.group(1), unit.group(2)))}"
    return f"{key}: {value}"


def _row_unit(label: str, unit: str) -> str:
    """A rate written "(per sec)" after a label about tokens is in tokens per second."""
    if unit.lower().startswith("per"):
        return "tok/s" if re.search(r"\btok", label, re.I) else "/s"
    return unit


def _pairs(header: list[str], row: list[str], unit: str | None = None) -> list[str]:
    """Each non-empty cell with its header; cells beyond the header (a ragged row) stand alone."""
    return [_pair(header[i] if i < len(header) else "", cell, unit) for i, cell in enumerate(row) if cell]


def _pair(name: str, cell: str, row_unit: str | None = None) -> str:
    """A header with its cell: "TTFT p50 (ms)" and "640" read "TTFT p50 640 ms"; "1,204.8" reads "1204.8"."""
    if _NUMERIC_CELL.match(cell):
        cell = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", cell)
        if row_unit:
            return f"{name} {cell} {row_unit}".strip()
    unit = _HEADER_UNIT.match(name)
    if unit and _NUMERIC_CELL.match(cell):
        return f"{unit.group(1)} {cell} {_row_unit(unit.group(1), unit.group(2))}".strip()
    return f"{name} {cell}".strip()


def _referenced_first(rows: list[list[str]], prose: str) -> list[list[str]]:
    """Rows whose distinguishing cell the prose mentions ("we run at 64") ahead of the others, else as they are.

    A sweep or a list of options has many rows; the one the question is about is the one its words point at.
    """
    if len(rows) < 2 or not prose.strip():
        return rows
    columns = list(zip(*[row for row in rows if len(row) == len(rows[0])]))
    varying = {cell for column in columns if len(set(column)) > 1 for cell in column if cell}

    def mentioned(row: list[str]) -> bool:
        return any(cell in varying and re.search(r"(?<![\w.])" + re.escape(cell) + r"(?!\w|\.\d)", prose)
                   for cell in row)

    hits = [row for row in rows if mentioned(row)]
    return hits + [row for row in rows if row not in hits] if hits else rows


def _pipe_clauses(line: str) -> str:
    """A line of parts joined by " | " ("PERF-1 | Llama-3.1-8B / 1x L4 | p99 TTFT 2s") as one clause per part."""
    if " |" not in line or not _PIPE.search(line):
        return line
    parts = [part for part in _PIPE.split(line.strip()) if part]
    return " ".join(_clause(part) for part in parts)
