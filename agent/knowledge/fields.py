"""Shared building blocks of the knowledge schemas: strict base model, dtype names, YAML coercions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from index.errors import AccelsageError

DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8", "fp4")
# Spellings people use for the same dtype; keys are lower-case.
DTYPE_ALIASES = {
    "float32": "fp32", "f32": "fp32", "float": "fp32",
    "tensorfloat32": "tf32",
    "bfloat16": "bf16",
    "float16": "fp16", "half": "fp16", "f16": "fp16",
    "float8": "fp8", "e4m3": "fp8", "e5m2": "fp8", "float8_e4m3fn": "fp8",
    "int8": "int8", "i8": "int8",
    "float4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4",
}


def normalize_dtype(dtype: str) -> str:
    """Map a dtype spelling ('bfloat16', 'BF16', 'half') to one of DTYPES; AccelsageError if unknown."""
    key = dtype.strip().lower().replace("torch.", "")
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPES:
        raise AccelsageError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    return key


class Strict(BaseModel):
    """Base for every data schema: unknown keys are errors, instances are immutable."""

    # schemas build on first use, so importing the catalog stays cheap for commands that touch one kind
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def as_str(value: Any) -> Any:
    """YAML reads 8.0 or 2205.14135 as floats; the schema wants the text."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def as_str_list(value: Any) -> Any:
    """Aliases such as 3090 or 2205.14135 arrive from YAML as numbers."""
    return [as_str(v) for v in value] if isinstance(value, list) else value
