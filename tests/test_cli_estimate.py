"""CLI: estimate, estimate-training, kernel and calibrate commands (tables, JSON, plots, errors)."""

import json
import re
from pathlib import Path

import pytest
import yaml

from api.cli import main

ROOT = Path(__file__).resolve().parents[1]

TECHNIQUE = {
    "name": "Test technique", "family": "attention-kernel", "summary": "for tests", "phases": ["prefill"],
    "bottlenecks": ["memory-bandwidth"], "quality": {"lossless": True, "impact": "none", "source": "test"},
    "papers": ["2307.08691"],
}


@pytest.fixture()
def data_dir(tmp_path, monkeypatch):
    """A data dir with the real GPUs and models plus two technique files; state dir in tmp."""
    data = tmp_path / "data"
    data.mkdir()
    for kind in ("gpus", "models"):
        (data / kind).symlink_to(ROOT / "data" / kind)
    techniques = data / "techniques"
    techniques.mkdir()
    files = {
        "flash-attention-2": {"aliases": ["FA2"], "cost_model": {"transform": "attention_io"}},
        "speculative-decoding": {"cost_model": {"transform": "speculative", "params": {
            "acceptance_rate": 0.7, "draft_tokens": 4, "draft_cost_ratio": 0.05}}},
    }
    for tid, extra in files.items():
        record = {"id": tid, **TECHNIQUE, "name": tid.replace("-", " ").title(), **extra}
        (techniques / f"{tid}.yaml").write_text(yaml.safe_dump(record))
    monkeypatch.setenv("ACCELSAGE_DATA_DIR", str(data))
    monkeypatch.setenv("ACCELSAGE_HOME", str(tmp_path / "state"))
    return data


def test_estimate_table(data_dir, capsys):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--batch", "4", "--prompt", "512",
                 "--output", "64", "--technique", "FA2"]) == 0
    out = capsys.readouterr().out
    assert "TTFT ms" in out and "baseline" in out and "+ flash-attention-2" in out and "assumptions:" in out


def test_estimate_table_shows_memory_in_gib_against_the_gpu_capacity(data_dir, capsys):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-70b", "--batch", "32", "--prompt", "8192",
                 "--output", "512"]) == 0
    out = capsys.readouterr().out
    assert "GiB per GPU" in out and " of 80 " in out  # an 80 GB H100: 80 GiB, never "/86"
    assert "/86" not in out and "mem GB" not in out
    (memory,) = [line for line in out.splitlines() if line.startswith("memory per GPU:")]
    assert memory.endswith("(of 80 GiB)") and " GB" not in memory


def test_estimate_training_memory_table_uses_words_and_gib(data_dir, capsys):
    assert main(["estimate-training", "--gpu", "h100", "--model", "llama-3.1-8b", "--gpus", "8"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^memory per GPU +GiB$", out, re.M)
    for words in ("parameters", "optimizer states", "GPU capacity"):
        assert words in out
    assert "_gb" not in out
    (capacity,) = [line for line in out.splitlines() if line.startswith("GPU capacity")]
    assert capacity.split()[-1] == "80.00"


def test_estimate_json_with_param_override(data_dir, capsys):
    args = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--technique", "speculative-decoding", "--json"]
    assert main(args + ["--param", "speculative-decoding.acceptance_rate=0.9"]) == 0
    high = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    low = json.loads(capsys.readouterr().out)
    assert high["steps"][0]["params"]["acceptance_rate"] == 0.9
    assert high["tpot_ms"] < low["tpot_ms"]
    assert set(high) >= {"ttft_ms", "tpot_ms", "memory", "max_batch", "bound", "assumptions", "steps"}


def test_estimate_parallel_and_dtypes(data_dir, capsys):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-70b", "--gpus", "4", "--tp", "4", "--dtype", "fp8",
                 "--kv-dtype", "fp8", "--batch", "32", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["parallel"]["tp"] == 4 and d["workload"]["kv_dtype"] == "fp8" and d["memory"]["fits"]


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # IHDR width, height


def test_estimate_plot_writes_png(data_dir, tmp_path, capsys):
    png = tmp_path / "roofline.png"
    assert main(["estimate", "--gpu", "a100", "--model", "llama-3.1-8b", "--technique", "FA2", "--plot", str(png)]) == 0
    width, height = _png_size(png)
    assert width > 1.8 * height  # the roofline and the latency-throughput curve side by side
    assert f"roofline and latency-throughput curve written to {png}" in capsys.readouterr().out


def test_plot_takes_slos_and_lengths_without_a_load(data_dir, tmp_path, capsys):
    png = tmp_path / "plot.png"
    args = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--technique", "FA2", "--lengths", "fixed",
            "--slo-tpot-ms", "25", "--requests", "30", "--plot", str(png), "--json"]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert "simulation" not in d and "curve" not in d  # the plot's curve is not printed without --curve
    assert _png_size(png)[0] > 1000


def test_plot_without_room_for_kv_still_draws_the_roofline(data_dir, tmp_path, capsys):
    png = tmp_path / "plot.png"
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-70b", "--plot", str(png)]) == 0
    width, height = _png_size(png)
    assert width > 1.8 * height


def test_estimate_curve_table_and_json(data_dir, capsys):
    args = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--technique", "FA2", "--prompt", "512",
            "--output", "64", "--concurrency", "24", "--requests", "40", "--curve"]
    assert main(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    curve = d["curve"]
    counts = [p["concurrency"] for p in curve["points"]]
    assert counts[:5] == [1, 2, 4, 8, 16] and 24 in counts and counts == sorted(counts)
    assert curve["policy"] == "static batching" and curve["requests_per_point"] == 40 and curve["gpus"] == 1
    assert d["simulation"]["load"] == "closed loop, concurrency 24"  # the stated load is simulated as before
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "latency-throughput curve (simulated, closed loop): static batching on 1 GPU(s)" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"^\d+\s+\d", line)]
    assert [int(row[0]) for row in rows] == counts


def test_estimate_under_load_reports_the_simulated_steady_state(data_dir, capsys):
    args = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--prompt", "512", "--output", "64",
            "--technique", "FA2", "--concurrency", "8", "--requests", "100"]
    assert main(args + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    sim = d["simulation"]
    assert sim["load"] == "closed loop, concurrency 8" and sim["requests"] == 100 and sim["policy"] == "static"
    assert d["workload"]["batch"] == 8  # the analytical batch follows the concurrency
    assert d["isolated"] == {k: d["steps"][-1]["after"][k] for k in d["isolated"]}  # the analytical figures
    assert d["ttft_ms"] == sim["ttft_ms"]["p50"] and d["tpot_ms"] == sim["itl_ms"]["p50"]
    assert d["tpot_ms"] <= d["tpot_p90_ms"] <= d["tpot_p99_ms"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "simulated steady state" in out and "ITL ms" in out and "isolated (analytical" in out


def test_estimate_without_load_has_no_simulation(data_dir, capsys):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "simulation" not in d and "isolated" not in d and "tpot_p99_ms" not in d
    assert d["workload"]["batch"] == 1 and d["parallel"]["gpus"] == 1


def test_estimate_qps_with_lengths_from_a_file(data_dir, tmp_path, capsys):
    lengths = tmp_path / "lengths.csv"
    lengths.write_text("256,32\n1024,128\n")
    base = ["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--technique", "FA2", "--qps", "4",
            "--lengths", str(lengths), "--requests", "50", "--slo-ttft-ms", "1000", "--json"]
    assert main(base + ["--seed", "3"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(base + ["--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == first
    sim = first["simulation"]
    assert sim["lengths"] == "2 listed (prompt, output) pairs, in order" and sim["goodput_requests_per_s"] is not None


def test_tensor_parallel_alone_implies_the_gpus(data_dir, capsys):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-70b", "--tp", "4", "--pp", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parallel"] == {"gpus": 8, "tp": 4, "pp": 2, "ep": 1, "dp": 1}


@pytest.mark.parametrize("args, word", [
    (["--gpu", "h1000", "--model", "llama-3.1-8b"], "h100"),
    (["--gpu", "h100", "--model", "llama-3.1-9b"], "llama-3.1-8b"),
    (["--gpu", "h100", "--model", "llama-3.1-8b", "--technique", "flash-atention-2"], "flash-attention-2"),
    (["--gpu", "h100", "--model", "llama-3.1-8b", "--dtype", "int3"], "dtype"),
    (["--gpu", "h100", "--model", "llama-3.1-8b", "--gpus", "3", "--tp", "2"], "multiple"),
    (["--gpu", "h100", "--model", "llama-3.1-8b", "--lengths", "spread"], "--concurrency"),
    (["--gpu", "h100", "--model", "llama-3.1-8b", "--concurrency", "4", "--lengths", "nofile.csv"], "nofile.csv"),
    (["--gpu", "h100", "--model", "llama-3.1-8b", "--concurrency", "4", "--qps", "2"], "exactly one"),
    (["--gpu", "h100", "--model", "llama-3.1-70b", "--concurrency", "4"], "KV cache"),
    (["--gpu", "h100", "--model", "llama-3.1-70b", "--curve"], "KV cache"),
])
def test_estimate_errors_are_one_line(data_dir, capsys, args, word):
    assert main(["estimate", *args]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err


def test_estimate_training(data_dir, capsys):
    assert main(["estimate-training", "--gpu", "h100", "--model", "llama-2-7b", "--gpus", "64", "--zero", "3",
                 "--recompute", "selective", "--global-batch", "512", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["workload"]["zero_stage"] == 3 and d["memory"]["fits"] and d["step_time_s"] > 0
    assert main(["estimate-training", "--gpu", "h100", "--model", "llama-2-70b", "--gpus", "16", "--tp", "8",
                 "--pp", "2", "--schedule", "interleaved"]) == 0
    assert "pipeline bubble" in capsys.readouterr().out


def test_estimate_training_context_parallel_and_interleave_depth(data_dir, capsys):
    assert main(["estimate-training", "--gpu", "h100", "--model", "llama-2-70b", "--gpus", "64", "--tp", "8",
                 "--pp", "4", "--cp", "2", "--schedule", "interleaved", "--interleave", "4", "--seq-len", "16384",
                 "--global-batch", "64", "--sequence-parallel", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    w = d["workload"]
    assert (w["cp"], w["interleave"], w["dp"]) == (2, 4, 1)
    assert d["breakdown_s"]["cp_comm_s"] > 0 and d["breakdown_s"]["norm_s"] > 0
    assert d["bubble_fraction"] == round(3 / (4 * 64 + 3), 4)  # (p-1)/(V m + p-1), 4 places in the JSON
    assert main(["estimate-training", "--gpu", "h100", "--model", "llama-2-70b", "--gpus", "64", "--tp", "8",
                 "--pp", "4", "--cp", "2", "--schedule", "interleaved", "--interleave", "4",
                 "--global-batch", "64"]) == 0
    out = capsys.readouterr().out
    assert "cp 2" in out and "interleaved x 4 chunks" in out and "dp_overlapped_s" in out


@pytest.mark.parametrize("args, word", [
    (["--gpus", "10", "--tp", "4"], "multiple of tp x pp x cp"),
    (["--gpus", "16", "--tp", "2", "--cp", "2", "--dp", "2"], "must equal gpus (16)"),
    (["--gpus", "8", "--cp", "2", "--unfused-attention"], "fused attention"),
    (["--gpus", "8", "--pp", "2", "--interleave", "4"], "--schedule interleaved"),
    (["--gpus", "8", "--tp", "3"], "must divide"),
])
def test_estimate_training_inconsistent_layout_is_one_line(data_dir, capsys, args, word):
    assert main(["estimate-training", "--gpu", "h100", "--model", "llama-2-7b", "--global-batch", "64", *args]) != 0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and word in err and "Traceback" not in err and not captured.out


@pytest.mark.parametrize("args, bound", [
    (["gemm", "--gpu", "h100", "-m", "1", "-n", "8192", "-k", "8192"], "memory"),
    (["gemm", "--gpu", "h100", "-m", "8192", "-n", "8192", "-k", "8192"], "compute"),
    (["attention", "--gpu", "a100", "--q-len", "8192", "--unfused"], "memory"),
    (["attention", "--gpu", "a100", "--q-len", "8192"], "compute"),
    (["allreduce", "--gpu", "h100", "--bytes", "1e9", "--ranks", "8"], "communication"),
])
def test_kernel_commands(data_dir, capsys, args, bound):
    assert main(["kernel", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bound"] == bound


def test_kernel_table(data_dir, capsys):
    assert main(["kernel", "gemm", "--gpu", "h100", "-m", "16", "-n", "4096", "-k", "4096"]) == 0
    assert "ridge_point" in capsys.readouterr().out


def test_calibrate_quick_on_cpu(data_dir, tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["calibrate", "--gpu", "h100", "--quick"]) == 0
    out = capsys.readouterr().out
    stored = json.loads((tmp_path / "state" / "calibration.json").read_text())
    assert stored["devices"] and "written to" in out
    # the CPU entry must not change a GPU estimate
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--json"]) == 0
    assert not any("calibrated" in a for a in json.loads(capsys.readouterr().out)["assumptions"])


@pytest.mark.parametrize("param, word", [
    ("speculative-decoding.acceptance_rate=abc", "acceptance_rate must be a number from 0 to 0.99, got 'abc'"),
    ("speculative-decoding.draft_tokens=-3", "draft_tokens must be a whole number from 1 to 16"),
    ("speculative-decoding.draft_tokens=1e9", "draft_tokens must be a whole number from 1 to 16"),
    ("speculative-decoding.acceptance_rtae=0.5", "it takes: acceptance_rate, draft_cost_ratio, draft_tokens"),
    ("flash-attention-2.acceptance_rate=0.5", "not among the chosen techniques"),
])
def test_bad_technique_params_are_one_line(data_dir, capsys, param, word):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--technique", "speculative-decoding",
                 "--param", param]) != 0
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and word in err and "Traceback" not in err and not captured.out


@pytest.mark.parametrize("args, word", [
    (["--gpus", "0"], "gpus must be a whole number from 1 to 4,096"),
    (["--batch", "99999999999"], "batch must be a whole number from 1 to 1,000,000"),
    (["--batch", "0"], "batch must be"),
    (["--prompt", "-5"], "prompt must be"),
    (["--prompt", "abc"], "prompt must be"),
    (["--output", "0"], "output must be"),
    (["--model", "llama-2-70b", "--gpus", "3", "--tp", "3"], "must divide llama-2-70b's 64 attention heads"),
    (["--gpus", "2", "--tp", "4"], "tp (4) cannot exceed gpus (2)"),
    (["--pp", "1000"], "pp (1000) cannot exceed"),
])
def test_bad_workload_values_are_one_line(data_dir, capsys, args, word):
    base = ["estimate", "--gpu", "h100"] + ([] if "--model" in args else ["--model", "llama-3.1-8b"])
    assert main(base + args) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err, err


def test_prompt_accepts_k_suffix(data_dir, capsys):
    assert main(["estimate", "--gpu", "h100", "--model", "llama-3.1-8b", "--prompt", "8k", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workload"]["prompt_len"] == 8192
