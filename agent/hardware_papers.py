"""Which hardware papers speak to the user's GPU: a vendor whitepaper backs a claim only on its own hardware.

The H100 whitepaper explains FP8 on Hopper; cited for FP8 on an L4 (Ada) it would back a claim it does not make. A
hardware paper's architectures are read from its title (a GPU of the catalog named in it, or an architecture word);
one that names none (an interconnect overview) is taken to cover its vendor's GPUs.
"""

from __future__ import annotations

import re
from typing import Any

# a whitepaper's "author" is its vendor; Mellanox (InfiniBand) is NVIDIA's networking arm
_VENDOR_OF_AUTHOR = {"nvidia": "nvidia", "mellanox": "nvidia", "amd": "amd", "intel": "intel", "aws": "aws",
                     "google": "google", "apple": "apple"}


def _architectures_in(title: str, catalog: Any) -> set[str]:
    words = set(re.findall(r"[a-z0-9]+", title.lower()))
    out = set()
    for gpu_id, gpu in catalog.gpus.items():
        arch = str(getattr(gpu, "architecture", "") or "").lower()
        if gpu_id.split("-")[0] in words or (arch and arch in words):
            out.add(arch)
    return out


def paper_covers_gpu(entry: Any, gpu: Any, catalog: Any) -> bool:
    """False only for a hardware paper about other hardware than ``gpu``; True for every other paper."""
    if gpu is None or getattr(entry, "topic", None) != "hardware":
        return True
    architectures = _architectures_in(str(getattr(entry, "title", "") or ""), catalog)
    if architectures:
        return str(getattr(gpu, "architecture", "") or "").lower() in architectures
    vendor = _VENDOR_OF_AUTHOR.get(str(getattr(entry, "first_author", "") or "").lower())
    return vendor is None or vendor == getattr(gpu, "vendor", None)
