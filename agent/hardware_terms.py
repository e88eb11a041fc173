"""Read the hardware out of text: which GPU, how many, nodes of GPUs, single- or multi-GPU wording."""

from __future__ import annotations

import re
from typing import Any

from agent.findings import Found
from agent.names import (
    NUM_WORDS,
    NameIndex,
    contrasted,
    first_unnegated,
    gpu_class,
    gpu_count_near,
    word_number,
)

GPUS_PER_NODE = 8  # a typical server ("an H200 node", "a DGX H100") holds eight GPUs

_GPU_ADJ = r"(?:(?:consumer|gaming|older|old|identical|more|extra|spare|local|cloud|nvidia|amd|datacenter|data-center)[\s-]+)?"
_GPU_COUNT_GENERIC = re.compile(r"\b(\d+|" + "|".join(NUM_WORDS) + r")[\s-]*(?:x\s*)?" + _GPU_ADJ
                                + r"(?:gpus?|cards?|accelerators?|devices?)\b", re.I)
_NODE_AFTER = re.compile(r"s?\s*(?:nodes?|servers?|boxe?s?|machines?)\b", re.I)
_NODES = re.compile(r"\b(\d+)\s*nodes?\b", re.I)
_GPU_LIKE = re.compile(r"\b((?:[A-Z]{1,3}|MI|RTX\s?|GTX\s?)\d{2,4}[A-Za-z]{0,3})\b")
# words that only make sense with several GPUs; an unstated count then defaults to one 8-GPU node
MULTI_GPU_HINT = re.compile(r"pipeline[\s-]parallel|tensor[\s-]parallel|data[\s-]parallel|expert[\s-]parallel|sequence[\s-]parallel|across (?:\w+ )?(?:gpus|nodes)|all[\s-]?reduce|all[\s-]to[\s-]all|\bnodes?\b|cluster|distributed|multi[\s-]gpu|pipeline (?:bubbles?|stages?|schedule)|different number of gpus|reshard|shard", re.I)
SINGLE_GPU = re.compile(r"single[\s-]gpu|one gpu|\b1 gpu\b|only one (?:gpu|card)|a single (?:\w+ )?(?:gpu|card)", re.I)


def _count_at_mention(text: str, m: Any, found: Found) -> None:
    """The GPU count written at one GPU name; "an H200 node" / "a DGX H100" hint at eight GPUs a node."""
    near = gpu_count_near(text, m.start, m.end)
    lo = max(0, m.start - 6)
    after, before = _NODE_AFTER.match(text, m.end), re.search(r"\b[dh]gx\s*$", text[lo:m.start], re.I)
    if (after or before) and not (near and near[2]):
        nodes = near[0] if near else 1
        words = text[near[1] if near else (lo + before.start() if before else m.start):after.end() if after else m.end]
        found.hint("gpu_count", nodes * GPUS_PER_NODE,
                   f"'{words.strip()}' taken as {nodes} node{'s' if nodes > 1 else ''} of {GPUS_PER_NODE} GPUs"
                   f" ({nodes * GPUS_PER_NODE} in all); say how many GPUs if not")
    elif near and not contrasted(text, near[1]):
        found.put("gpu_count", near[0], text[near[1]:m.end])


def find_hardware(text: str, catalog: Any, gpu_index: NameIndex, found: Found) -> None:
    """Put the GPU kind and count stated (or hinted) in ``text`` into ``found``; note an unknown GPU name."""
    mentions = gpu_index.find(text)
    if mentions:
        m = mentions[-1] if len({x.item_id for x in mentions}) > 1 and re.search(r"\b(?:on|to|instead|switch)\b", text[mentions[-1].start - 12:mentions[-1].start]) else mentions[0]
        found.put("gpu", m.item_id, m.text)
        for other in [m, *(x for x in mentions if x.item_id == m.item_id and x is not m)]:
            _count_at_mention(text, other, found)
    else:
        kind = gpu_class(text, gpu_index.lookup)
        if kind:
            gpu_id, words, cls = kind
            name = getattr(catalog.gpus.get(gpu_id), "name", gpu_id)
            found.hint("gpu", gpu_id, f"'{words}' read as {cls.label}: {name} assumed as a representative; {cls.caveat}")
        for cand in _GPU_LIKE.findall(text):
            if not re.fullmatch(r"\d+|[A-Z]\d{1,2}|[Kk]\d+", cand.strip()) and not re.search(r"\d[bB]$", cand):
                found.unknown_gpu = cand.strip()
                break
    m = first_unnegated(_GPU_COUNT_GENERIC, text)
    if m:
        found.put("gpu_count", word_number(m.group(1)) or 1, m.group(0))
    nodes = _NODES.search(text)
    if nodes and "gpu_count" in found.values and re.search(r"per node|each|nodes? of", text, re.I):
        found.values["gpu_count"] *= int(nodes.group(1))
