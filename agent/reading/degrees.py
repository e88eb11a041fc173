"""Parallel degrees as people write them: "TP8", "tp=2", "EP 8", "expert parallel 8", "SP on", and the launcher and
config forms "--tensor-parallel-size 4", "--tp 2", '"tp": 8', "tensor_model_parallel_size: 2".

The stack reader turns them into techniques (tensor, expert, pipeline, sequence parallelism); the hardware reader
multiplies TP and PP into a GPU count when none is stated.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_DEGREE = re.compile(r"(?<![\w-])(?:--)?(tp|ep|pp|sp|(?:tensor|expert|pipeline|sequence)[\s_-]*(?:model[\s_-]*)?"
                     r"parallel(?:ism)?(?:[\s_-]*size)?)(?:-size)?[\"']?\s*(?:(?:[=:]|of|size|degree)?\s*(\d+)\b|"
                     r"(?:is )?(?:on|enabled)\b)", re.I)
# "tensor parallel 8" and "TP8" are the same kind: the first two letters tell them apart
_KIND = {"tp": "tp", "te": "tp", "ep": "ep", "ex": "ep", "pp": "pp", "pi": "pp", "sp": "sp", "se": "sp"}


class Degree(NamedTuple):
    """One stated degree: its kind (tp, ep, pp, sp), the number (None for "SP on") and where it was written."""

    kind: str
    value: int | None
    words: str
    start: int
    end: int


def parallel_degrees(text: str) -> list[Degree]:
    """Every parallel degree stated in ``text``, in order."""
    return [Degree(_KIND[m.group(1)[:2].lower()], int(m.group(2)) if m.group(2) else None, m.group(0), m.start(),
                   m.end()) for m in _DEGREE.finditer(text)]
