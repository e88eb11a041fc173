"""The catalog CLI commands (papers, techniques, gpus, models): tables, JSON, `show`, filters, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.cli import main
from test_catalog_resolve import write_mini_data

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(autouse=True)
def real_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(DATA))
    monkeypatch.delenv("COLUMNS", raising=False)  # output that is not a terminal: whole lines


@pytest.fixture
def mini_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI at a small data dir with known techniques (the real ones are written elsewhere)."""
    root = write_mini_data(tmp_path / "data")
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(root))
    return root


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[list[str]]:
    """Data rows of an aligned table (header and rule dropped), split on runs of 2+ spaces."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[2:] if line.strip()]


@pytest.mark.parametrize(
    ("command", "header", "expected_ids"),
    [
        ("gpus", "bf16_tflops", {"h100-sxm", "a100-80gb", "mi300x", "rtx-4090"}),
        ("models", "params_b", {"llama-3.1-70b", "deepseek-v3", "mamba-2.8b"}),
        ("papers", "title", {"2205.14135", "h100-tensor-core-gpu-architecture"}),
    ],
)
def test_list_table(capsys: pytest.CaptureFixture[str], command: str, header: str, expected_ids: set[str]) -> None:
    code, out, _ = run(capsys, command)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("id") and header in lines[0] and set(lines[1]) <= {"-", " "}
    assert expected_ids <= {row[0] for row in table_rows(out)}
    # aligned: every column starts at the same offset on each line
    starts = [lines[0].index(col) for col in lines[0].split()]
    assert all(line[s - 1] == " " for line in lines[1:] for s in starts[1:] if len(line) > s)


def fixed_columns(out: str, ids: list[str]) -> list[list[str]]:
    """Rows of a fitted table, each cell joined across the lines it wraps onto (spans read off the rule of dashes).

    A row ends once its id reads whole (``ids``, in order): a cut id would never read whole.
    """
    lines = out.splitlines()
    spans = [m.span() for m in re.finditer(r"-+", lines[1])]
    rows: list[list[str]] = []
    for line in lines[2:]:
        cells = [line[a:b].strip() for a, b in spans]
        if not rows or (rows[-1][0] == ids[len(rows) - 1] and cells[0]):
            rows.append(cells)
        else:
            rows[-1] = [(old + new) if new else old for old, new in zip(rows[-1], cells)]
    return rows


@pytest.mark.parametrize("width", [80, 100, 132])
@pytest.mark.parametrize("command", ["papers", "techniques"])
def test_lists_fit_the_terminal_and_keep_ids_whole(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, command: str, width: int) -> None:
    code, wide, _ = run(capsys, command)
    assert max(len(line) for line in wide.splitlines()) > 150  # as wide as its longest row without a terminal
    monkeypatch.setenv("COLUMNS", str(width))
    code, out, _ = run(capsys, command)
    assert code == 0 and max(len(line) for line in out.splitlines()) <= width
    _, listed, _ = run(capsys, command, "--json")
    entries = json.loads(listed)
    rows = fixed_columns(out, [e["id"] for e in entries])
    assert [row[0] for row in rows] == [e["id"] for e in entries]  # every id whole, none cut
    if command == "papers":  # one line per title: cut with an ellipsis when long
        titles = {e["id"]: e["title"] for e in entries}
        for row in rows:
            assert row[-1] == titles[row[0]] or (row[-1].endswith("…") and titles[row[0]].startswith(row[-1][:-1]))
    else:  # the paper lists wrap, whole
        assert ["".join(row[-1].split()) for row in rows] == [",".join(e["papers"]) for e in entries]


@pytest.mark.parametrize("command", ["papers", "techniques", "gpus", "models"])
def test_json_does_not_depend_on_the_terminal(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                              command: str) -> None:
    _, piped, _ = run(capsys, command, "--json")
    monkeypatch.setenv("COLUMNS", "60")
    _, narrow, _ = run(capsys, command, "--json")
    assert narrow == piped and json.loads(narrow)


@pytest.mark.parametrize(("command", "count_at_least"), [("gpus", 13), ("models", 22), ("papers", 100)])
def test_list_json(capsys: pytest.CaptureFixture[str], command: str, count_at_least: int) -> None:
    code, out, _ = run(capsys, command, "--json")
    assert code == 0
    entries = json.loads(out)
    assert len(entries) >= count_at_least and all("id" in e for e in entries)


def test_gpus_show_prints_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gpus", "show", "h100")
    assert code == 0
    assert "id: h100-sxm" in out and "dense_tflops.bf16: 989.4" in out
    assert "sources:" in out and "memory_bandwidth_gb_s: NVIDIA H100" in out


def test_gpus_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "gpus", "show", "H100 SXM5 80GB", "--json")
    data = json.loads(out)
    assert (code, data["id"], data["sparse_tflops"]["fp8"]) == (0, "h100-sxm", 3957.8)


def test_models_show_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "show", "llama3-70b")
    assert code == 0
    assert "id: llama-3.1-70b" in out and "derived.kv_heads: 8" in out and out.splitlines()[-1].startswith("source:")


def test_papers_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "papers", "show", "2205.14135")
    assert code == 0
    assert "title: FlashAttention" in out and "source: https://arxiv.org/abs/2205.14135" in out


def test_papers_topic_filter(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "papers", "--topic", "hardware", "--json")
    topics = {p["topic"] for p in json.loads(out)}
    assert (code, topics) == (0, {"hardware"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("gpus", "show", "h1000"), "error: unknown GPU 'h1000'; closest known: h100-sxm"),
        (("models", "show", "llama-9"), "error: unknown model 'llama-9'; closest known:"),
        (("papers", "show", "2205.1413"), "error: unknown paper '2205.1413'; closest known: 2205.14135"),
    ],
)
def test_unknown_name_is_one_line_error(capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    code, out, err = run(capsys, *args)
    assert code != 0 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_techniques_family_filter(capsys: pytest.CaptureFixture[str], mini_data: Path) -> None:
    code, out, _ = run(capsys, "techniques", "--family", "quantization")
    assert code == 0
    assert [row[:3] for row in table_rows(out)] == [["gptq-test", "quantization", "weight_quant"]]


def test_techniques_show_by_alias(capsys: pytest.CaptureFixture[str], mini_data: Path) -> None:
    code, out, _ = run(capsys, "techniques", "show", "fa2")
    assert code == 0
    assert "id: flash-attention-2" in out and "2307.08691: FlashAttention-2 (Dao, 2023)" in out


def test_techniques_show_unknown(capsys: pytest.CaptureFixture[str], mini_data: Path) -> None:
    code, _, err = run(capsys, "techniques", "show", "flash-attention-9")
    assert code != 0 and "closest known: flash-attention-2" in err


def test_papers_show_lists_backing_techniques(capsys: pytest.CaptureFixture[str], mini_data: Path) -> None:
    code, out, _ = run(capsys, "papers", "show", "arXiv:2307.08691", "--json")
    data = json.loads(out)
    assert (code, data["techniques"], data["role"]) == (0, ["flash-attention-2", "gptq-test"], "core")


def test_bad_family_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "techniques", "--family", "magic")
    assert code == 2 and "--family" in err
