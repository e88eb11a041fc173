"""Read the hardware out of text: which GPU, how many (counts, node layouts), and GPU names we have no specs for.

A count composes with what stands between it and the GPU name: "a single 24GB RTX 4090", "four 48GB L40S cards",
"2 nodes of 8 H100s", "4 nodes × 8 H100", "an 8-GPU H100 node". A negated or contrasted mention ("it doesn't fit on
one H100") gives no count.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent.names import NUM_WORDS, Mention, NameIndex, gpu_class, word_number
from agent.reading.accelerators import nearest_gpu, other_accelerators, other_run, unknown_gpu
from agent.reading.degrees import Degree, parallel_degrees
from agent.reading.findings import Found
from agent.reading.scope import Scope
from agent.reading.stack import moved_to

GPUS_PER_NODE = 8  # a typical server ("an H200 node", "a DGX H100") holds eight GPUs
# GeForce cards (catalog ids rtx-3060 ... rtx-4090): a machine of them, without a count, is a desktop with one
_GEFORCE = re.compile(r"rtx-\d{4}$")

_COUNT = r"\b(\d+|" + "|".join(sorted(NUM_WORDS, key=len, reverse=True)) + r")"
# words that may stand between a count and a GPU name without changing what is counted
_MODIFIER = (r"(?:\d+\s?gb|\d+\s?gib|\d+\s?gigs?|nos\.?|pcs\.?|pieces?(?: of)?|units of|nvidia|amd|geforce|rtx|tesla|quadro|instinct|radeon|consumer|gaming|used|old|older|"
             r"spare|identical|cloud|local|rented|our|my|the|sxm\d?|pcie|nvl|of|x|×|\*|-)")
_COUNT_BEFORE = re.compile(r"(?:" + _COUNT + r"(?:\s*[x×*])?|\b[x×](\d+))(?:[\s-]+" + _MODIFIER + r"){0,3}[\s-]*$", re.I)
_COUNT_AFTER = re.compile(r"(?:s|'s)?\s*(?:\(?-?\d+\s?g(?:b|ib)?\b\)?\s*)?(?:(?:gpus?|workstation|box|server|cards?|pcie|sxm\d?)\s*)?"
                          r"(?:[x×*]\s*(\d+)\b|\((\d+)(?:\s*(?:of them|gpus?|cards?|chips?))?\)|\s*cards?\s*[x×*]\s*(\d+)|"
                          r"[^.;?!\d]{0,30}?\(?\b(\d+) of (?:them|those|these)\b|\s*\((\d+)\s+[\w-]+\s+(?:gpus?|cards?|chips?)\)|"
                          r"\s*[,(]?\s*(\d+)\s*(?:pieces|pcs\.?|nos\.?|units)\b)", re.I)
_GPU_NOUN = r"(?:gpus?|cards?|accelerators?|devices?|chips?)"
# GPUs named by their architecture ("8 of the 80 gig hoppers")
_ARCH_NOUN = r"(?:hoppers|amperes|blackwells|voltas|turings|lovelaces)"
# "4 GPUs", "8 of the 80 gig hoppers"; not a rate per device ("one replica per GPU")
_GPU_COUNT_GENERIC = re.compile(_COUNT + r"(?:[\s-]*[x×])?(?:\s+of\s+(?:the|our|these|those|my))?(?:[\s-]+(?:" + _MODIFIER
                                + r"|(?!per\b|each\b|every\b)[a-z]\w+)){0,2}?[\s-]*\b(?:" + _GPU_NOUN + "|" + _ARCH_NOUN
                                + r")\b", re.I)
# DGX/HGX counts nodes unless a server word follows the GPU name ("two HGX H20 servers": the servers are counted)
_NODE_NOUN = (r"(?:nodes?|servers?|machines?|boxe?s?|hosts?|pods?|vms?|"
              r"(?:dgx|hgx)(?:es)?\b(?![\s-]+[\w.-]+[\s-]+(?:nodes?|servers?|machines?|boxe?s?|hosts?|systems?)\b))")
# "4 nodes", "two H100 nodes", "2x 8xH100 servers", "a DGX", "an 8-GPU node"
_NODES = re.compile(_COUNT + r"(?:\s*[x×])?[\s-]+(?:[\w.-]+[\s-]+){0,2}?" + _NODE_NOUN + r"\b", re.I)
_PER_NODE = re.compile(r"\b(\d+)(?!\d)(?!\s*(?:gb|gib|g)\b)[\s-]*(?:x\s*)?(?:[\w.]+[\s-]+)?" + _GPU_NOUN + r"?\s*(?:per|each|a|in each|on each|/)\s*"
                       + _NODE_NOUN + r"|\b(\d+)[\s-]*gpus?[\s-]+(?:[\w.]+[\s-]+)?" + _NODE_NOUN
                       + r"|" + _NODE_NOUN + r"\s*(?:of|with|[x×*]|each with|each having)\s*(\d+)"
                       + r"|\b(\d+)\s*(?:[a-z]{0,3}\d{2,4}[a-z]?\w*\s+)?(?:gpus?|superchips?|chips?|cards?|[a-z]{0,3}\d{2,4}[a-z]?\w*)\s*(?:each|apiece)\b"
                       # "every machine have 8 A800", "(each 8 GPU)", "(one GPU each)"
                       + r"|\b(?:every|each|per)\s+" + _NODE_NOUN + r"\s+(?:has|have|having|with|holds?|carries)\s+(\d+)"
                       + r"|\beach\s+(?:with\s+|has\s+|having\s+)?(\d+)\s*(?:[x×]\s*)?(?:[\w.-]+\s+)?gpus?\b"
                       + r"|\b(one|two|four|eight)\s+(?:gpus?|cards?)\s+(?:each|apiece)\b", re.I)
_DGX = re.compile(r"\b[dh]gx\b", re.I)
# node counts named by their serving pool ("1 prefill node + 2 decode nodes", "decode: 4 nodes")
_POOL = re.compile(r"\b(?:prefill|decode|prefilling|decoding)\b", re.I)
# a count said as what runs now after a failed one: "it doesn't fit on one H100 so we use 4", "now runs on two of them"
_NOW_COUNT = re.compile(r"\b(?:so|now)\b[^?!;\n]{0,40}?\b(?:use|using|run|runs|running|on|across)\s+(?:all\s+)?"
                        + _COUNT + r"(?:\s+of\s+them|\s+(?:cards?|gpus?))?(?=\s*(?:[,.;:—–(-]|with\b|for\b|and\b|$))", re.I)
# a part of a machine's GPUs in use: "we use 4 of its 8 GPUs", "4 of our 8 A100-40G cards are free", "half of an
# 8-GPU H200 box"
_SHARE_OF = re.compile(r"\b(\d+|one|two|three|four|five|six|seven)\s+of\s+(?:its|our|the|their|those|these|my|an?)\s+(\d+)\s*"
                       r"(?:x\s*)?(?:[\w.-]+[\s-]+){0,2}?(?:gpus?|cards?|devices?)\b|"
                       r"\bhalf (?:of )?(?:an?|the|our|one|its) (\d+)[\s-]*(?:gpus?|cards?)\b", re.I)
# "single GPU", "one card", "only one 4090": one device as a stated constraint
_SINGLE = re.compile(r"\b(?:single|only one|just one|one)[\s-]+(?:" + _MODIFIER + r"[\s-]+){0,2}" + _GPU_NOUN
                     + r"\b|\bsingle[\s-]+gpu\b", re.I)
# "one GPU is always the straggler", "one GPU sits idle": one device among several, said of what it does
_ONE_OF_MANY = re.compile(r"\s*(?:is|was|becomes|became|ends up|stays)\s+(?:always\s+|often\s+|usually\s+|constantly\s+)?"
                          r"(?:the\s+)?(?:straggler|slowest|idle|bottleneck|busy|hot|hotter|pegged|behind|waiting|"
                          r"overloaded|saturated)\b|\s*(?:sits|sat|waits|waited|stalls|lags|runs hotter|finishes last|"
                          r"always)\b", re.I)
# "can't use more than one GPU", "no way we get a second card": one device, said as the limit it is
_NO_MORE = re.compile(r"\b(?:more than|beyond|over) (?:one|a single|1) " + _GPU_NOUN + r"|\b(?:a |any )?(?:second|another|2nd|"
                      r"extra|additional) " + _GPU_NOUN, re.I)
_DENIED = re.compile(r"\b(?:no|not|never|can'?t|cannot|won'?t|don'?t|do not|without|no way)\b[^.;,?!]{0,30}$", re.I)
# "a single 24GB RTX 4090": one device when a GPU name follows
_SINGLE_NAMED = re.compile(r"\b(?:a single|only one|just one|one single|single)\b", re.I)
# words that only make sense with several GPUs; an unstated count then defaults to one 8-GPU node
MULTI_GPU_HINT = re.compile(r"pipeline[\s-]parallel|tensor[\s-]parallel|data[\s-]parallel|expert[\s-]parallel|"
                            r"sequence[\s-]parallel|across (?:\w+ )?(?:gpus|nodes)|all[\s-]?reduce|all[\s-]to[\s-]all|"
                            r"\bnodes?\b|cluster|distributed|multi[\s-]gpu|pipeline (?:bubbles?|stages?|schedule)|"
                            r"different number of gpus|reshard|shard", re.I)
# the GPUs of a system said in brackets after it: "one GB200 compute tray (4 Blackwell GPUs)"
_PAREN_COUNT = re.compile(r"(?:[\s-]+[a-z][\w-]*){0,2}?\s*\(\s*" + _COUNT
                          + r"\s+(?:(?!per\b|each\b|every\b)[\w-]+\s+){0,2}?(?:gpus?|cards?|chips?|accelerators?)\s*\)", re.I)


def _count_before(text: str, start: int) -> tuple[int, int] | None:
    """The count written before a GPU name, skipping memory sizes and adjectives: (count, where it starts)."""
    lo = max(0, start - 40)
    m = _COUNT_BEFORE.search(text[lo:start])
    if not m:
        return None
    group = 1 if m.group(1) else 2
    if group == 1 and re.fullmatch(r"\d+", m.group(1)) and re.match(r"\s*(?:gb|gib)\b", text[lo + m.end(1):], re.I):
        return None
    return (word_number(m.group(group)) or 1), lo + m.start(group)


def gpu_count_near(text: str, start: int, end: int) -> tuple[int, int, bool] | None:
    """The count written next to a GPU name: (count, where it starts, whether written as a multiplier after it)."""
    after = _COUNT_AFTER.match(text, end)
    if after:
        group = next(i for i, g in enumerate(after.groups(), 1) if g)
        return int(after.group(group)), after.start(group), True
    said = _PAREN_COUNT.match(text, end)
    if said:
        return word_number(said.group(1)) or 1, said.start(1), True
    before = _count_before(text, start)
    return (before[0], before[1], False) if before else None


def _node_layout(text: str, scope: Scope, gpu_count: tuple[int, int, bool] | None,
                 name_spans: tuple[tuple[int, int], ...] = ()) -> tuple[int, int, int] | None:
    """GPUs when the text gives nodes: (total, start, end of the words read); total < 0 means that many nodes of an
    unstated size. None when it names no nodes.

    Args:
        gpu_count: the count written at the GPU name (value, where, written as a multiplier after the name).
        name_spans: where hardware names stand; a number inside one ("Gaudi 3 box") counts no nodes.
    """
    per = _PER_NODE.search(text)
    candidates = [m for m in _NODES.finditer(text) if not scope.negated(m.start())
                  and not any(s <= m.start(1) < e for s, e in name_spans)]
    nodes = next((m for m in candidates if not (per and per.start() <= m.start(1) < per.end())),
                 candidates[0] if candidates else None)
    per_node = next((word_number(g) for g in per.groups() if g), None) if per else None
    if nodes is None and per is None:
        return None
    count = (word_number(nodes.group(1)) or 1) if nodes else 1
    pools = [m for m in candidates if _POOL.search(text[max(0, m.start() - 12):m.end()])]
    if len(pools) >= 2:  # "1 prefill node + 2 decode nodes": the pools add up
        count = sum(word_number(m.group(1)) or 1 for m in pools)
        nodes = pools[0]
    if nodes and per and per.start() <= nodes.start(1) < per.end() and nodes.group(1).isdigit() \
            and int(nodes.group(1)) == per_node:
        count = 1  # "an 8-GPU node": the number counts GPUs, not nodes
    if per_node is None and gpu_count and gpu_count[0] > 1:
        singular = nodes is not None and not re.search(r"(?:s|es)$", nodes.group(0).strip(), re.I)
        if nodes is None or gpu_count[1] != nodes.start(1):
            per_node = gpu_count[0]
            # "64 A100s (8 nodes)": a count that the nodes divide is the total, unless it sits in the node phrase
            if nodes is not None and not (nodes.start() <= gpu_count[1] < nodes.end()) and count > 1 \
                    and gpu_count[0] % count == 0 and gpu_count[0] // count <= 16:
                return gpu_count[0], nodes.start(), nodes.end()
        elif gpu_count[2] or singular:  # "H100 x 8 node", "an 8 x 80GB H100 node": one node of eight
            count, per_node = 1, gpu_count[0]
    spans = [m.span() for m in (nodes, per) if m]
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    if per_node is None:
        return None if nodes is None else (-count, start, end)
    return count * per_node, start, end


# a speaker taking back what they just named: "on M2 Ultra? no — target is M3 Max", "A100, sorry, H100"
_CORRECTION = re.compile(r"\b(?:no|nope|sorry|correction|actually|wait|scratch that|i mean|i meant)\b"
                         r"\s*(?:[,—–:!]|-{1,2}\s|\.{3})", re.I)


# a GPU named as a point of comparison: "like people do on H100", "compared with the A100", "than on an L4"
_COMPARED = re.compile(r"\b(?:like|as|than|versus|vs\.?|compared (?:to|with)|similar to|people|others|everyone|folks|"
                       r"blogs?|benchmarks?)\b[^.;?!]{0,24}$", re.I)


def _main_mention(text: str, mentions: list[Any], scope: Scope) -> Any:
    """The GPU the user runs: an asserted mention; with several kinds, the one named after a correction ("M2 Ultra?
    no — M3 Max") or the one moved to ("from A100 to H100")."""
    kinds = {m.item_id for m in mentions}
    if len(kinds) > 1:
        for fix in _CORRECTION.finditer(text):
            later = [m for m in mentions if m.start >= fix.end()]
            if later and any(m.end <= fix.start() and m.item_id != later[0].item_id for m in mentions):
                return later[0]
        last = mentions[-1]
        if re.search(r"\b(?:on|to|instead|switch)\b", text[max(0, last.start - 12):last.start]) \
                and not scope.proposed(last.start) and (not scope.past(last.start) or moved_to(text, last.start)) \
                and not _COMPARED.search(text[max(0, last.start - 40):last.start]) \
                and not re.search(r"\b(?:old|older|previous|former|earlier)\s+$", text[max(0, last.start - 12):last.start], re.I):
            return last
        asserted = [m for m in mentions if not scope.negated(m.start, m.end)]
        if asserted:
            return asserted[0]
    return mentions[0]


# a proposed count with the current one after it: "on one L40S instead of two", "on 2 L40S instead of the 4 it uses"
_INSTEAD_OF = re.compile(r"[^.;?!]{0,12}?\binstead of (?:the |our |its |their )?(\d+|one|two|three|four|five|six|seven|"
                         r"eight|ten|twelve|sixteen)\b(?!\s*(?:gb|tb|%|x\b|times|users|requests))", re.I)


def _read_count(text: str, scope: Scope, mentions: list[Any], main: Any, found: Found,
                name_spans: tuple[tuple[int, int], ...] = ()) -> None:
    counts: list[tuple[int, int, bool, str]] = []
    for m in [main, *(x for x in mentions if main and x.item_id == main.item_id and x is not main)] if main else []:
        near = gpu_count_near(text, m.start, m.end)
        if near and not scope.contrasted(near[1]):
            today = _INSTEAD_OF.match(text, m.end)
            if today and (word_number(today.group(1)) or today.group(1).isdigit()):
                # "on 2 L40S instead of the 4 it uses today": the count after "instead of" is what runs now
                now = word_number(today.group(1)) or int(today.group(1))
                counts.append((now, near[1], near[2], text[min(near[1], m.start):today.end()]))
                continue
            counts.append((*near, text[min(near[1], m.start):max(m.end, near[1] + 1)]))
    if not counts:
        generic = next((g for g in _GPU_COUNT_GENERIC.finditer(text)
                        if not scope.contrasted(g.start()) and not _ONE_OF_MANY.match(text, g.end())), None)
        if generic:
            counts.append((word_number(generic.group(1)) or 1, generic.start(), False, generic.group(0)))
    layout = _node_layout(text, scope, counts[0][:3] if counts else None, name_spans)
    dgx = _DGX.search(text[max(0, main.start - 6):main.start]) if main else None
    if layout:
        start, end = layout[1], layout[2]
        if main and 0 <= main.start - end <= 8:
            end = main.end
        elif main and 0 <= start - main.end <= 8:
            start = main.start
        words = text[start:end].strip()
    if layout and layout[0] > 0:
        found.put("gpu_count", layout[0], words)
    elif layout or dgx:
        nodes = -layout[0] if layout else 1
        words = words if layout else text[main.start - 4:main.end].strip()
        if nodes == 1 and not dgx and main is not None and _GEFORCE.match(main.item_id):
            # "an RTX 4090 box", "my 3090 workstation": a desktop holds one such card unless a count says more
            found.hint("gpu_count", 1, f"'{words}' taken as one card; say how many GPUs if not")
            return
        found.hint("gpu_count", nodes * GPUS_PER_NODE,
                   f"'{words}' taken as {nodes} node{'s' if nodes > 1 else ''} of "
                   f"{GPUS_PER_NODE} GPUs ({nodes * GPUS_PER_NODE} in all); say how many GPUs if not")
    elif counts:
        found.put("gpu_count", counts[0][0], counts[0][3])
    elif main is not None and _ONE_OWNED.search(text[max(0, main.start - 8):main.start]) \
            and not _plural(text, main) and len({m.item_id for m in mentions}) == 1:
        # "my 4090", "our H200": one card of one's own, said in the singular
        found.put("gpu_count", 1, text[max(0, main.start - 8):main.end].strip())


# "my 4090", "our H200 runs ...": a possessive before a GPU named in the singular
_ONE_OWNED = re.compile(r"\b(?:my|our)\s+$", re.I)
# ...unless it names a group: "our H100s", "our H100 cluster", "our A100 nodes"
_MANY_AFTER = re.compile(r"(?:\s*\d+\s?gb)?(?:s\b|'s\b|\s+(?:cluster|clusters|nodes?|fleet|pool|pods?|servers?|boxes|"
                         r"machines|cards|gpus|instances|racks?|farm)\b)", re.I)


def _plural(text: str, mention: Any) -> bool:
    """Whether a GPU is named as a group: "H100s", "our H100 cluster" (an "L40s" is a card, not L40 cards)."""
    return bool(_MANY_AFTER.match(text, mention.end) or re.search(r"(?<!40)s$", mention.text, re.I))


def build_instance_index(catalog: Any) -> NameIndex:
    """Alias index over machine types (cloud instances, DGX systems) by every name they go by."""
    from types import SimpleNamespace  # noqa: PLC0415

    def names(entry: Any) -> list[str]:
        # SageMaker names AWS instance types with an "ml." prefix
        return [*entry.names, *(f"ml.{n}" for n in entry.names if "xlarge" in n)]

    return NameIndex({key: SimpleNamespace(name=key, aliases=names(entry)) for key, entry in catalog.instances.items()})


# "3x8 H100": nodes times GPUs per node written as one product
_PRODUCT = re.compile(r"\b(\d+)\s*[x×]\s*(\d+)\s*(?![bBmM]\b)(?=[A-Za-z])", re.I)
# launcher and config keys: "--nproc_per_node 4", "devices: 8", "num_nodes: 4"
_PER_NODE_KEY = re.compile(r"(?:nproc[_-]per[_-]node|gpus[_-]per[_-]node|devices|num[_-]gpus|n[_-]gpus?|--gpus|nvidia\.com/gpu)"
                           r"\s*[:=]?\s*(\d+)", re.I)
_NODES_KEY = re.compile(r"(?:num[_-]nodes|nnodes)\s*[:=]?\s*(\d+)", re.I)
# a total said outright: "(so 2 GPUs)", "16 GPUs in total"
_TOTAL = re.compile(r"\b(?:so|i\.e\.|that's|that is|=)\s*(\d+)\s*gpus?\b|\b(\d+)\s*gpus?\s*(?:in total|total|overall|altogether)\b",
                    re.I)


def _stated_totals(text: str, found: Found) -> bool:
    """Counts written as a product, in launcher keys, or as an outright total; True when one was found."""
    total = _TOTAL.search(text)
    if total:
        found.put("gpu_count", int(total.group(1) or total.group(2)), total.group(0))
        return True
    per, nodes = _PER_NODE_KEY.search(text), _NODES_KEY.search(text)
    if per:
        found.put("gpu_count", int(per.group(1)) * (int(nodes.group(1)) if nodes else 1),
                  " ".join(m.group(0) for m in (per, nodes) if m))
        return True
    product = _PRODUCT.search(text)
    if product and 1 < int(product.group(2)) <= 16 and int(product.group(1)) <= 64:
        found.put("gpu_count", int(product.group(1)) * int(product.group(2)), product.group(0))
        return True
    return False


# the memory a system is sold by, written after its name: "DGX A100 320GB", "DGX H100 (640 GB)"
_SYSTEM_MEMORY = re.compile(r"[\s-]*\(?(\d[\d,]*)\s?(?:gb|gib)\b", re.I)


def _system_gpu(text: str, end: int, entry: Any, catalog: Any) -> str:
    """The catalog GPU of a machine type: the variant whose memory times the count makes the system memory written
    after its name ("DGX A100 320GB" holds eight A100 40GB), else the entry's own GPU."""
    sold = _SYSTEM_MEMORY.match(text, end)
    own = catalog.gpus.get(entry.gpu)
    if not sold or own is None:
        return entry.gpu
    per_gpu = float(sold.group(1).replace(",", "")) / entry.count
    if abs(own.memory_gib - per_gpu) <= 0.03 * per_gpu:
        return entry.gpu
    variants = [g.id for g in catalog.gpus.values() if (g.vendor, g.architecture) == (own.vendor, own.architecture)
                and abs(g.memory_gib - per_gpu) <= 0.03 * per_gpu]
    return variants[0] if len(variants) == 1 else entry.gpu


def _instances(text: str, catalog: Any, index: NameIndex | None, scope: Scope, found: Found,
               main: Mention | None = None) -> None:
    """A named machine type gives the GPU (when none is named, or the one named is part of its name: "ND A100 v4")
    and the count (times machines: "2x p5.48xlarge"). One named only as an option to weigh ("would a p5 be worth
    it?") says nothing when the hardware is already read."""
    if index is None:
        return
    for m in index.find(text):
        if scope.negated(m.start, m.end) or (not scope.asserted(m.start, m.end)
                                             and (found.unknown_gpu or "gpu" in found.values)):
            continue
        entry = catalog.instances[m.item_id]
        machines = _count_before(text, m.start)
        share = re.search(r"\b(half|quarter)\s+(?:of\s+)?(?:an?|one|the)\s*$", text[max(0, m.start - 20):m.start], re.I)
        count = entry.count * (machines[0] if machines else 1)
        if share:
            count = max(1, count // (2 if share.group(1).lower() == "half" else 4))
        gpu = _system_gpu(text, m.end, entry, catalog)
        if main is not None and main.item_id and m.start <= main.start and main.end <= m.end:
            found.values.pop("gpu", None)
            # "a GB200 NVL72 rack": the article counted the GPU name inside the system's name; the system says how many
            if re.fullmatch(r"(?:an?|one)\s+" + re.escape(main.text), found.evidence.get("gpu_count", ""), re.I):
                found.values.pop("gpu_count", None)
        found.put("gpu", gpu, m.text)
        found.put("gpu_count", count, m.text)
        return


# cloud instances with their GPUs each: "8 A10G instances (one GPU each)", "6 g5 VMs with 4 GPUs each"
_PER_INSTANCE = re.compile(_COUNT + r"[\s-]+(?:[\w.-]+[\s-]+){0,2}?(?:instances|vms)\s*\(?\s*(?:with\s+)?"
                           r"(one|a single|two|four|eight|\d+)\s+(?:gpus?|cards?)\s+(?:each|apiece)\b", re.I)


def find_hardware(text: str, catalog: Any, gpu_index: NameIndex, found: Found, scope: Scope | None = None,
                  instance_index: NameIndex | None = None) -> None:
    """Put the GPU kind and count stated (or hinted) in ``text`` into ``found``; note an unknown GPU name."""
    scope = scope or Scope(text)
    now = _NOW_COUNT.search(text)
    now_count = word_number(now.group(1)) if now else None
    if now_count and now_count > 1:
        found.put("gpu_count", now_count, now.group(0))
    share = _SHARE_OF.search(text)
    if share and not (scope.negated(share.start()) or scope.proposed(share.start()) or scope.in_question(share.start())):
        # "4 of its 8 GPUs", "half of an 8-GPU box": the part in use is what runs this
        used = word_number(share.group(1)) if share.group(1) else int(share.group(3)) // 2
        if used:
            found.put("gpu_count", used, share.group(0))
            now_count = used
    _stated_totals(text, found)
    instances = _PER_INSTANCE.search(text)
    if instances and not scope.negated(instances.start()):
        found.put("gpu_count", (word_number(instances.group(1)) or 1) * (word_number(instances.group(2)) or 1),
                  instances.group(0))
    mentions = gpu_index.find(text)
    others = other_accelerators(text, mentions, gpu_index)
    mentions = [m for m in mentions if not any(o.start <= m.start and m.end <= o.end for o in others)]
    unknown = other_run(others, mentions, scope)
    main = _main_mention(text, mentions, scope) if mentions and unknown is None else None
    if main:
        found.put("gpu", main.item_id, main.text)
    else:
        unknown = unknown or unknown_gpu(text, [], gpu_index)
        if unknown:
            found.unknown_gpu = unknown.text
            main, mentions = unknown, [unknown]
            near = nearest_gpu(unknown.text, catalog)
            if near:
                found.hint("gpu", near, f"no specs for '{unknown.text}': the numbers assume "
                                        f"{catalog.gpus[near].name}, the closest name in the catalog; pass --gpu to choose")
        else:
            kind = gpu_class(text, gpu_index.lookup)
            if kind:
                gpu_id, words, cls = kind
                name = getattr(catalog.gpus.get(gpu_id), "name", gpu_id)
                found.hint("gpu", gpu_id, f"'{words}' read as {cls.label}: {name} assumed as a representative; {cls.caveat}")
    _read_count(_without_settings(text), scope, mentions, main, found, tuple((o.start, o.end) for o in [*mentions, *others]))
    _instances(text, catalog, instance_index, scope, found, main)
    singles = [*_SINGLE.finditer(text), *(m for m in _SINGLE_NAMED.finditer(text) if _names_gpu_after(text, m.end(), mentions))]
    # "one GPU each" counts per machine, and a rule said in the past ("we used to insist on one GPU") is not today's
    single = next((m for m in singles if not scope.contrasted(m.start()) and not scope.past(m.start())
                   and not re.match(r"\s*(?:each|apiece|a piece|instead of)\b", text[m.end():], re.I)
                   and not _ONE_OF_MANY.match(text, m.end())
                   and not re.search(r"\bthan\b[^,.;]{0,16}$", text[max(0, m.start() - 24):m.start()], re.I)), None)
    if single is None and (found.values.get("gpu_count") or 1) <= 1:  # "no other GPU" beside 2x 3090 keeps two
        # the negation is the rule here, so a negated scope does not discount it
        single = next((m for m in _NO_MORE.finditer(text) if _DENIED.search(text[max(0, m.start() - 40):m.start()])
                       and not scope.past(m.start())), None)
    if single and not (now_count and now_count > 1):
        found.put("single_gpu", True, single.group(0))
        found.put("gpu_count", 1, single.group(0))
    # "on A100s", "our H100 cluster": several GPUs of that kind, their number unsaid
    found.multi_gpu_hint = (main is not None and "gpu" in found.values and _plural(text, main)) \
        or bool(MULTI_GPU_HINT.search(text))


# values of command-line flags, settings, addresses and ports: "--port 8080 RTX 4080" and "localhost:8000 server" count
# no GPUs or servers (flags that do state a layout, --tp 8 and the like, are read as parallel degrees)
_SETTING_VALUE = re.compile(r"(?:(?<=\s)|^)--?[A-Za-z][\w.-]*(?:=|[ \t]+)(?!-)([^\s,;]+)|\b[A-Za-z_][\w.-]*=([^\s,;]+)|"
                            r"\b(\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?)|\b[A-Za-z][\w.-]*:(\d{2,5})\b")


def _without_settings(text: str) -> str:
    """The text with setting values blanked (same length, so positions still hold)."""
    if "-" not in text and "=" not in text and ":" not in text:
        return text
    chars = list(text)
    for m in _SETTING_VALUE.finditer(text):
        group = next((i for i, g in enumerate(m.groups(), 1) if g), None)
        if group is not None:  # digits only: the punctuation around them still ends what it ended
            chars[m.start(group):m.end(group)] = ["_" if c.isdigit() else c for c in m.group(group)]
    return "".join(chars)


def _names_gpu_after(text: str, end: int, mentions: list[Any]) -> bool:
    """Whether a GPU name follows within a few modifier words ("a single 24GB RTX 4090")."""
    return any(0 <= m.start - end <= 20 and re.fullmatch(r"[\s-]*(?:(?:\d+\s?gb|nvidia|geforce|rtx|amd)[\s-]*)*",
                                                        text[end:m.start], re.I) for m in mentions)


def count_from_parallel_degrees(text: str, found: Found) -> None:
    """With no GPU count stated, a tensor-, expert- and pipeline-parallel layout says how many GPUs one replica uses."""
    if "gpu_count" in found.values or found.values.get("single_gpu") or "gpu_count" in found.hinted:
        return  # a count, one GPU, or whole nodes said ("two HGX servers") say more than a layout's degrees
    first: dict[str, Degree] = {}
    for d in parallel_degrees(text):
        if d.kind in ("tp", "pp", "ep") and d.value is not None and 1 < d.value <= 64:
            first.setdefault(d.kind, d)
    # experts are spread over the tensor-parallel group or beside it: a replica spans the wider of the two
    wide = max((first[k] for k in ("tp", "ep") if k in first), key=lambda d: d.value, default=None)
    used = [d for d in (wide, first.get("pp")) if d is not None]
    if used:
        found.put("gpu_count", math.prod(d.value for d in used), " ".join(d.words for d in used))
