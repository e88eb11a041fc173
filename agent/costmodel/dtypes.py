"""Numeric formats: bytes per element, group-scale overhead, and which tensor-core rate a format uses."""

from __future__ import annotations

from index.errors import AccelsageError

# bits per element for each format the cost model knows
_BITS: dict[str, float] = {"fp32": 32, "tf32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4, "fp4": 4}
_ALIASES: dict[str, str] = {
    "float32": "fp32", "float": "fp32", "bfloat16": "bf16", "float16": "fp16", "half": "fp16",
    "e4m3": "fp8", "e5m2": "fp8", "fp8_e4m3": "fp8", "float8": "fp8", "w8a8": "int8", "w4a16": "int4",
}
# a 16-bit scale per group (the usual GPTQ/AWQ layout without zero points)
SCALE_BYTES = 2
DEFAULT_INT4_GROUP = 128


def normalize_dtype(name: str) -> str:
    """Canonical dtype name ('bfloat16' -> 'bf16'); unknown names raise AccelsageError."""
    key = str(name).strip().lower().replace("-", "").replace(" ", "")
    key = _ALIASES.get(key, key)
    if key not in _BITS:
        raise AccelsageError(f"unknown dtype {name!r}; known: {', '.join(sorted(_BITS))}")
    return key


def dtype_bits(name: str) -> float:
    """Bits per element of a dtype name."""
    return _BITS[normalize_dtype(name)]


def dtype_bytes(name: str) -> float:
    """Bytes per element of a dtype name (int4 = 0.5)."""
    return dtype_bits(name) / 8


def quantized_bytes_per_param(bits: float, group_size: int | None) -> float:
    """Bytes per weight at `bits` wide with one 16-bit scale per `group_size` weights.

    Args:
        bits: stored width of one weight (4 for int4).
        group_size: weights sharing one scale; None or 0 means per-channel scales (negligible).
    Returns:
        bytes per parameter, e.g. int4 with groups of 128 -> 0.5 + 2/128 = 0.515625.
    """
    scale = SCALE_BYTES / group_size if group_size else 0.0
    return bits / 8 + scale


def weight_bytes_per_param(dtype: str, group_size: int | None = None) -> float:
    """Bytes per stored weight for a weight dtype; int4 defaults to groups of 128 with 16-bit scales."""
    name = normalize_dtype(dtype)
    if name == "int4" and group_size is None:
        group_size = DEFAULT_INT4_GROUP
    if name in ("int4", "fp4"):
        return quantized_bytes_per_param(_BITS[name], group_size)
    return _BITS[name] / 8


def compute_dtype_for(weight_dtype: str) -> str:
    """Tensor-core format the GEMMs run in: W8A8 formats run at their rate, weight-only int4 dequantises to bf16."""
    name = normalize_dtype(weight_dtype)
    if name in ("fp8", "int8", "fp16", "fp32"):
        return name
    return "bf16"
