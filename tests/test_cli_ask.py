"""`accelsage ask`: Markdown and JSON output, flags, a missing corpus in one line, and a light cold start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_helpers import DATA, build_small_store
from api.cli import main
from index.state import StateDir

REPO = Path(__file__).resolve().parents[1]
QUESTION = "Llama-3-70B on 2x H100, 8k-token prompts, 512 output tokens, 64 users, latency matters"
HEAVY = ("torch", "sentence_transformers", "transformers", "langchain", "langchain_core", "langgraph")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    state = StateDir(tmp_path_factory.mktemp("home")).ensure()
    build_small_store(state.db_path).close()
    return state.root


@pytest.fixture
def env(monkeypatch, home):
    monkeypatch.setenv("ACCELSAGE_HOME", str(home))
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(DATA))
    monkeypatch.delenv("ACCELSAGE_LLM", raising=False)
    return home


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_markdown_answer(env, capsys):
    code, out, _ = run(capsys, "ask", QUESTION)
    assert code == 0
    assert "**Workload:** 2× NVIDIA H100" in out and "### 1." in out


def test_json_answer_with_flags(env, capsys):
    code, out, _ = run(capsys, "ask", QUESTION, "--gpu", "A100", "--gpus", "4", "--objective", "throughput",
                       "--prompt", "4k", "--json")
    data = json.loads(out)
    assert code == 0 and data["status"] == "ok"
    w = data["workload"]
    assert (w["gpu"], w["gpu_count"], w["objective"], w["prompt_tokens"]) == ("a100-80gb", 4, "throughput", 4096)
    assert w["fields"]["gpu"]["origin"] == "explicit" and len(data["recommendations"]) == 5


def test_unknown_gpu_flag_is_a_clear_reply(env, capsys):
    code, out, err = run(capsys, "ask", QUESTION, "--gpu", "H1000", "--json")
    data = json.loads(out)
    assert code == 2 and data["status"] == "unknown-name" and "closest known" in data["answer"]
    assert err.count("\n") == 1 and "closest known" in err


@pytest.mark.parametrize("question", ["", "   ", "what is the capital of France?"])
def test_unanswerable_question_is_one_line_and_non_zero(env, capsys, question):
    code, out, err = run(capsys, "ask", question)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1


def test_missing_corpus_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ACCELSAGE_HOME", str(tmp_path / "never-built"))
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(DATA))
    code, out, err = run(capsys, "ask", QUESTION)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "accelsage refresh" in err


def test_cold_process_imports_no_heavy_library(home):
    script = (
        "import json, sys\n"
        "from api.cli import main\n"
        f"code = main(['ask', {QUESTION!r}, '--json'])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "print('HEAVY=' + json.dumps(heavy), 'CODE=' + str(code), file=sys.stderr)\n"
    )
    env = {**os.environ, "ACCELSAGE_HOME": str(home), "ACCELSAGE_DATA_DIR": str(DATA)}
    env.pop("ACCELSAGE_LLM", None)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "CODE=0" in proc.stderr, proc.stderr[-2000:]
    assert "HEAVY=[]" in proc.stderr
    assert json.loads(proc.stdout)["recommendations"]


@pytest.mark.parametrize("args, word", [
    (["--gpus", "0"], "gpus must be a whole number from 1 to 4,096"),
    (["--gpus", "abc"], "gpus must be"),
    (["--prompt", "-5"], "prompt must be"),
    (["--prompt", "abc"], "prompt must be"),
    (["--batch", "0"], "batch must be"),
    (["--output", "0"], "output must be"),
])
def test_bad_workload_flags_are_one_line_and_non_zero(env, capsys, args, word):
    code, out, err = run(capsys, "ask", QUESTION, *args)
    assert code != 0 and not out
    assert err.count("\n") == 1 and word in err, err
