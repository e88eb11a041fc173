"""A BERT encoder forward pass in plain numpy, for sentence embeddings without torch.

Reads the same ``model.safetensors`` and ``tokenizer.json`` that sentence-transformers uses and
reproduces its pipeline for all-MiniLM-L6-v2: BERT encoder (post-LayerNorm, exact GELU), mean
pooling over the attention mask, L2 normalisation. Cold start is a file read, not a torch import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

# Abramowitz & Stegun 7.1.26 rational approximation of erf (max abs error 1.5e-7, below float32
# rounding of the activations), so exact-GELU needs neither scipy nor torch.
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _gelu_inplace(x: np.ndarray) -> np.ndarray:
    """The erf form of GELU (BERT's ``hidden_act: gelu``), written into ``x``.

    The operations and their order are those of ``0.5 * x * (1 + erf(x / sqrt(2)))`` with erf from the
    rational approximation below, so the result is bit-identical to the plain expression; working in
    place saves the temporaries (a query's feed-forward activations are ~0.25 MB each).
    """
    z = x * np.float32(0.7071067811865476)
    sign = np.sign(z)
    ax = np.abs(z, out=z)
    t = ax * _AS_P
    t += 1.0
    np.divide(1.0, t, out=t)
    a1, a2, a3, a4, a5 = _AS_A
    poly = t * a5
    for a in (a4, a3, a2, a1):
        poly += a
        poly *= t
    ax *= -ax  # (-ax) * ax: the exponent of exp(-ax^2)
    poly *= np.exp(ax, out=ax)
    np.subtract(1.0, poly, out=poly)
    poly *= sign  # erf(z)
    poly += 1.0
    x *= 0.5
    x *= poly
    return x


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden): query, key and value projections fused into one GEMM
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class NumpyBert:
    """BERT encoder weights plus a tokenizer; :meth:`embed` gives unit-length mean-pooled vectors."""

    def __init__(self, model_dir: Path, max_tokens: int = 256) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_tokens = min(max_tokens, int(config.get("max_position_embeddings", 512)))
        weights = load_file(str(model_dir / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        w = {k[len(prefix):]: v.astype(np.float32, copy=False) for k, v in weights.items() if k.startswith(prefix)}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [self._layer(w, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)

    @staticmethod
    def _layer(w: dict[str, np.ndarray], p: str) -> _Layer:
        # torch Linear stores (out, in); transpose once here so the forward pass is x @ W.
        def t(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[p + name].T)

        att = [f"{p}attention.self.{name}" for name in ("query", "key", "value")]
        return _Layer(
            qkv_w=np.ascontiguousarray(np.concatenate([w[a + ".weight"].T for a in att], axis=1)),
            qkv_b=np.concatenate([w[a + ".bias"] for a in att]),
            out_w=t("attention.output.dense.weight"),
            out_b=w[p + "attention.output.dense.bias"],
            ln1_w=w[p + "attention.output.LayerNorm.weight"],
            ln1_b=w[p + "attention.output.LayerNorm.bias"],
            up_w=t("intermediate.dense.weight"),
            up_b=w[p + "intermediate.dense.bias"],
            down_w=t("output.dense.weight"),
            down_b=w[p + "output.dense.bias"],
            ln2_w=w[p + "output.LayerNorm.weight"],
            ln2_b=w[p + "output.LayerNorm.bias"],
        )

    def _encode_layer(self, x: np.ndarray, bias: np.ndarray | None, layer: _Layer) -> np.ndarray:
        batch, length, hidden = x.shape
        head_dim = hidden // self.heads
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        qkv = qkv.reshape(batch, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(0, 1, 3, 2)
        scores *= np.float32(1.0 / np.sqrt(head_dim))
        if bias is not None:
            scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores, out=scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        attended = context @ layer.out_w
        attended += layer.out_b
        attended += x
        x = _layer_norm(attended, layer.ln1_w, layer.ln1_b, self.eps)
        up = x @ layer.up_w
        up += layer.up_b
        ff = _gelu_inplace(up) @ layer.down_w
        ff += layer.down_b
        ff += x
        return _layer_norm(ff, layer.ln2_w, layer.ln2_b, self.eps)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of a padded batch."""
        length = ids.shape[1]
        x = self.word[ids] + self.position[:length][None] + self.token_type[0]
        x = _layer_norm(x, *self.emb_ln, self.eps)
        # Padding keys get a large negative score so softmax gives them ~0 weight; none without padding.
        bias = ((1.0 - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32) if not mask.all() else None
        for layer in self.layers:
            x = self._encode_layer(x, bias, layer)
        weights = mask[:, :, None]
        pooled = (x * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed(self, texts: list[str], batch_size: int = 16) -> np.ndarray:
        """Unit-length float32 rows, one per text (truncated to ``max_tokens`` tokens)."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch([t if isinstance(t, str) else "" for t in texts])
        # Sorting by length keeps padding (wasted work) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            length = max(len(encodings[i].ids) for i in chosen)
            ids = np.zeros((len(chosen), length), dtype=np.int64)
            mask = np.zeros((len(chosen), length), dtype=np.float32)
            for row, i in enumerate(chosen):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[chosen] = self._forward(ids, mask)
        return out
