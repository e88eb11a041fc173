"""Accelerator names outside the catalog: GPU-like tokens and the families of accelerators people run that we have
no specs for (Tesla K/P parts, Jetson modules, Apple silicon tiers, TPUs, Inferentia, Ascend, Gaudi, phone SoCs...).

A name of one of these families is never read as the catalog GPU it resembles; the answer assumes the nearest catalog
GPU by name and says so.
"""

from __future__ import annotations

import re
from typing import Any

from agent.names import Mention, NameIndex, closest, normalise
from agent.reading.scope import Scope

# a token that looks like a GPU model number ("A40", "p100", "rtx 2080 ti", "7900 xtx", "gaudi 2", "tpu v5e")
_GPU_LIKE = re.compile(r"\b((?:rtx|gtx|quadro|titan|radeon|rx|arc|instinct|gaudi|tpu|mi|tesla)\s?-?[a-z]?\d{1,4}[a-z]{0,3}"
                       r"(?:\s?(?:ti|super|xtx|xt|max|pro))?|[a-z]{1,2}\d{2,4}[a-z]{0,2}|\d{4}\s?(?:ti|xtx|xt|super))\b", re.I)
# look-alikes that are not GPUs: dtypes, quant formats, percentiles, versions, sizes, cloud bits
_NOT_GPU = re.compile(r"^(?:fp\d+|bf\d+|int\d+|q\d\w*|w\d+a\d+|p\d{2,3}|v\d+|k8s|s3|ec2|gpt\d+|o\d|m\d+|x\d+|e\d+m\d+|"
                      r"mxfp\d|nf\d|tp\d+|pp\d+|ep\d+|dp\d+|cp\d+|sm\d+|cc\d+|cu\d+|py\d+|rocm\d*|h\d|l\d|t\d|a\d|"
                      r"llama\d+|qwen\d+|phi\d+|gemma\d+|mistral\d*|r\d|cpu\d*|zero\d|gen\d|pcie\d|ddr\d|gddr\d\w?|hbm\d\w?)$",
                      re.I)


def unknown_gpu(text: str, known_spans: list[tuple[int, int]], gpu_index: NameIndex) -> Mention | None:
    """A GPU-like name that no catalog entry matches ("A40", "rtx 2080 ti")."""
    for m in _GPU_LIKE.finditer(text):
        name = m.group(1).strip()
        if any(s <= m.start() < e for s, e in known_spans) or _NOT_GPU.match(normalise(name)):
            continue
        if re.search(r"\d[bBmMkK]$", name) or re.fullmatch(r"\d+", name) or gpu_index.lookup(name):
            continue
        # bare model numbers ("2080 ti", "x100") must stand next to a GPU word or a vendor word
        if not re.match(r"(?:rtx|gtx|quadro|titan|radeon|rx|arc|instinct|gaudi|tpu|mi|tesla)", name, re.I):
            around = text[max(0, m.start() - 16):m.end() + 16]
            if not re.search(r"gpus?|cards?|accelerators?|nvidia|amd|intel|\d+\s?gb\b|\bx\d|\bon (?:an? |one |two |\d+ ?x? ?)?$",
                             around, re.I) and not re.search(r"\b(?:on|with|using|an?|\d+x?)\s*$", text[:m.start()], re.I):
                continue
        return Mention("", name, m.start(1), m.start(1) + len(name))
    return None


# Accelerator families people run that the catalog has no specs for. A name of one of these is an accelerator
# whatever stands around it, so it is never read as the catalog GPU it resembles (a K80 is no H100, an Orin Nano
# no AGX Orin, an M1 Pro no M-series entry of another chip or tier).
_ACCELERATOR_FAMILIES = (
    r"tesla[\s-]*[kmp]\d{1,3}[a-z]?", r"k(?:20x?|40|80)s?",                           # NVIDIA Tesla K/M/P
    r"jetson(?:[\s-]*(?:agx|orin|xavier|nano|nx|tx[12]|thor|super))+", r"(?:agx[\s-]*)?orin[\s-]*(?:nano|nx)"
    r"(?:[\s-]*super)?", r"(?:agx[\s-]*)?xavier(?:[\s-]*nx)?", r"agx[\s-]*thor",      # Jetson modules
    r"rtx[\s-]*pro[\s-]*\d{4}(?:[\s-]*(?:blackwell|ada))?(?:[\s-]*(?:server|workstation|max-q)(?:[\s-]*edition)?)?",
    r"dgx[\s-]*(?:spark|station)", r"gb10", r"g?b[13]00(?:[\s-]*nvl\d*)?",             # newer NVIDIA parts
    r"(?:apple[\s-]*)?m[1-5][\s-]*(?:pro|max|ultra)",                                   # Apple silicon tiers
    r"(?:google[\s-]*)?(?:cloud[\s-]*)?tpus?(?:[\s-]*v\d[a-z]?(?:-\d+)?)?", r"trillium", r"ironwood",
    r"inferentia[\s-]*\d?", r"trainium[\s-]*\d?", r"(?:ml\.)?(?:inf[12]|trn[12]n?)(?:\.\d*x?large|\.metal)?",
    r"(?:huawei[\s-]*)?ascend[\s-]*\d{3}[a-z]?\d?", r"atlas[\s-]*\d{3}[a-z]?",              # Huawei
    r"gaudi[\s-]*\d?", r"(?:intel[\s-]*)?arc[\s-]*(?:pro[\s-]*)?[ab]\d{2,3}m?", r"ponte[\s-]*vecchio",
    r"(?:intel[\s-]*)?(?:data[\s-]*center[\s-]*)?gpu[\s-]*max[\s-]*1[15]\d0", r"flex[\s-]*1[47]0",    # Intel
    r"(?:amd[\s-]*)?(?:instinct[\s-]*)?mi\d{2,3}[a-z]?", r"radeon(?:[\s-]*(?:pro|rx|ai))*[\s-]*[a-z]?\d{3,4}"
    r"(?:[\s-]*(?:xtx|xt|gre))?", r"rx[\s-]*\d{4}(?:[\s-]*(?:xtx|xt|gre))?", r"strix[\s-]*halo",
    r"ryzen[\s-]*ai[\s-]*max\+?(?:[\s-]*(?:pro[\s-]*)?\d{3})?",                          # AMD
    r"cerebras(?:[\s-]*cs-?\d)?", r"wse-?\d", r"groq(?:[\s-]*lpu)?", r"sambanova(?:[\s-]*sn\d+l?)?", r"sn40l",
    r"graphcore(?:[\s-]*ipu)?", r"tenstorrent(?:[\s-]*(?:wormhole|blackhole|grayskull))?", r"mlu\d{3}",
    r"cambricon(?:[\s-]*mlu\d+)?", r"kunlun(?:xin)?(?:[\s-]*(?:p800|[rk]\d{3}))?", r"moore[\s-]*threads", r"mtt[\s-]*s\d{4}",
    r"qualcomm[\s-]*cloud[\s-]*ai[\s-]*100",
    r"snapdragon(?:[\s-]*(?:x[\s-]*elite|8[\s-]*gen[\s-]*\d|\d{3}))?", r"adreno[\s-]*\d{3}",
    r"(?:google[\s-]*)?pixel[\s-]*\d{1,2}(?:[\s-]*(?:pro|a|xl))?", r"tensor[\s-]*g\d", r"iphone[\s-]*\d{1,2}"
    r"(?:[\s-]*(?:pro(?:[\s-]*max)?|plus|mini))?", r"(?:apple[\s-]*)?a1\d[\s-]*(?:pro|bionic)",
    r"galaxy[\s-]*s\d{2}(?:[\s-]*(?:ultra|\+))?", r"dimensity[\s-]*\d{4}",                  # phones
)
# Short names that are other things too (p99-like percentiles, "m2" sizes): accelerators only beside a hardware word.
_ACCELERATOR_SHORT = (r"p(?:4|6|40|100)s?", r"m(?:[1-5]|10|40|60)s?")
_ACCELERATOR = re.compile(r"\b(?:(" + "|".join(_ACCELERATOR_FAMILIES) + r")|(" + "|".join(_ACCELERATOR_SHORT)
                          + r"))(?![\w.+])", re.I)
_HARDWARE_CONTEXT = re.compile(r"\d+\s?(?:gb|gib|gigs?)\b|\bgpus?\b|\bcards?\b|\bmac\w*|\bapple\b|\bnvidia\b|\btesla\b|"
                               r"\bunified\b|\d\s?[x×](?!\w)|\b[x×]\s?\d", re.I)
# words after a catalog name that make it another part ("RTX 3080 Ti", "Jetson Orin Nano", "4090 Laptop"); "super"
# is a card only after a desktop model number, and not as an intensifier ("the 4090 is super slow")
_VARIANT_AFTER = re.compile(r"[\s-]*(ti|xtx|xt|gre|laptop|mobile|max-?q|nano|nx|super(?![\s-]+(?:fast|slow|quick\w*|"
                            r"long|short|high|low|cheap|expensive|hot|loud|well|easy|hard|good|bad|useful|happy|annoying)\b))\b",
                            re.I)
_DESKTOP_CARD = re.compile(r"(?:(?:nvidia|geforce|rtx|gtx)[\s-]*)*\d{4}\b", re.I)


def other_accelerators(text: str, mentions: list[Mention], gpu_index: NameIndex) -> list[Mention]:
    """Accelerator names outside the catalog, in text order: a family name from the vocabulary above, or a catalog
    name carried on by a word that makes it another part. A catalog mention inside one is not that GPU."""
    out = []
    for m in _ACCELERATOR.finditer(text):
        name = m.group(0)
        if m.group(2) and not name.lower().endswith("s") and not (
                _HARDWARE_CONTEXT.search(text[max(0, m.start() - 16):m.start()])
                or _HARDWARE_CONTEXT.search(text[m.end():m.end() + 16])):
            continue
        if gpu_index.lookup(name) or any(k.start <= m.start() and m.end() <= k.end for k in mentions):
            continue
        out.append(Mention("", name, m.start(), m.end()))
    for k in mentions:
        variant = _VARIANT_AFTER.match(text, k.end)
        if variant and variant.group(1).lower() in ("ti", "super", "laptop", "mobile", "max-q", "maxq") \
                and not _DESKTOP_CARD.fullmatch(k.text):  # an "M3 Max laptop" is the M3 Max
            variant = None
        if variant and not gpu_index.lookup(text[k.start:variant.end()]) \
                and not any(o.start <= k.start < o.end for o in out):
            out.append(Mention("", text[k.start:variant.end()], k.start, variant.end()))
    return sorted(out, key=lambda o: o.start)


# a GPU being left for what is named after it: "moving from A100s to Gaudi 2", "migrating off our V100s"
_MOVED_FROM = re.compile(r"\b(?:from|off|off of|away from|replacing)\s+(?:[\w-]+\s+){0,2}$", re.I)
# a GPU named as the yardstick: "slower than on our old A800s", "compared with H20"
_COMPARED = re.compile(r"\b(?:than|vs\.?|versus|compared? (?:to|with)|against)\s+(?:[\w-]+\s+){0,3}$", re.I)


def other_run(others: list[Mention], mentions: list[Mention], scope: Scope) -> Mention | None:
    """The accelerator outside the catalog that the user runs: the first one stated, unless a catalog GPU is stated
    as run too. A catalog GPU named only as an option, a yardstick or the one being left ("would L4s be cheaper?",
    "not the 6000 Ada", "slower than on our A800s", "from A100 to Gaudi 2") does not displace it."""
    named = [o for o in others if not scope.negated(o.start, o.end)]
    if not named:
        return None
    stated = [o for o in named if scope.asserted(o.start, o.end)]
    if not mentions:
        return (stated or named)[0]
    run = [m for m in mentions if scope.asserted(m.start, m.end)
           and not _COMPARED.search(scope.text[max(0, m.start - 32):m.start])
           and not (_MOVED_FROM.search(scope.text[max(0, m.start - 24):m.start]) and any(o.start > m.end for o in stated))]
    return stated[0] if stated and not run else None


def nearest_gpu(name: str, catalog: Any) -> str | None:
    """The catalog GPU whose name is closest to an unknown one (used as an assumption, and said so)."""
    names = {g.name: gid for gid, g in catalog.gpus.items()} | {gid: gid for gid in catalog.gpus}
    for alias_owner in catalog.gpus.values():
        for alias in alias_owner.aliases:
            names.setdefault(alias, alias_owner.id)
    hits = closest(name, names, limit=1)
    return names[hits[0]] if hits else None
