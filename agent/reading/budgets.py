"""Read a memory budget, and memory the user measured.

"must stay under 20 GB" is a memory budget, while "a 24GB RTX 4090" only describes a GPU. A budget said as a share
of the card ("at most 70% of HBM", "--gpu-memory-utilization 0.35") or as what is left of it ("keep 10 GB free")
needs the GPU's memory: ``settle_memory_budget`` works it out once the hardware reader has run
(``agent.workload.extract`` calls it after the readers).
"""

from __future__ import annotations

import re

from agent.reading.findings import Found
from agent.reading.targets import _NUMBER

_GB = r"(?:gb|gib|g|gigs?|gigabytes?)\b(?!/s|\s*/\s*s|ps)"
_ABOUT_GB = r"(?:about |around |~|only |roughly |approx\w* )?"
# a figure with a GB unit that is not a GPU's name ("under 24GB GPUs", "a 16GB card") but may be memory ("20GB GPU memory")
_GB_FIGURE = (_NUMBER + r"\s*" + _GB + r"(?!\s*(?:gpus?(?!\s*(?:memory|mem|ram|vram))|cards?|rtx|a100|h100|l40|a6000|version|"
              r"variant|model))")
# every way of stating a cap before its figure: a bound ("stay inside", "bring that down to", "Target: <="), a grant
# ("this one gets", "the LLM can have", "the scheduler only grants jobs"), what is left ("leaves us", "realistically")
_CAP_BEFORE = (r"(?:under|below|within|inside|at most|less than|maximum(?: of)?|max of|no more than|not more than|"
               r"only (?:have|got|has)|budget of|(?:hard |soft )?limit(?:ed)? (?:of|to)|"
               r"(?:gpu memory|memory|vram|ram|mem)\s+(?:cap|limit|budget)(?:\s+(?:of|at|to|is))?\s*[:=]?|"
               r"cap\w* (?:\w+ ){0,3}?(?:of|at|to)|restricted to|constrained to|target\s*[:=]?\s*(?:<=?|under|below)?|"
               r"<=?|(?:bring|get|cut|reduce|trim|shrink)\s+(?:\w+\s+){0,2}?(?:down\s+)?to|"
               r"gets?|can (?:have|use)|(?:is |are )?(?:given|granted|allotted|allowed)|grants?\s+\w+|"
               r"leaves?(?: (?:us|me|it|them))?|leaving(?: (?:us|me|it))?|realistically|effectively|"
               r"fit(?:s|ting)? (?:in|into|within)(?: the [\w']+)?|"
               # a key, a rule or a slice: "max memory: 45 gb", "no job may take more than 60G", "each job sees about
               # 100 GB", "in the other ~50 GB", "so I've got 24 GB per card"
               r"max(?:imum)?\s+(?:gpu\s+)?mem(?:ory)?\s*[:=]?|"
               r"(?:no\s+\w+\s+(?:may|can|is allowed to|gets to)|(?:may|must|can)(?:\s*not|n't)|cannot)\s+"
               r"(?:take|use|get|have|exceed|allocate)\s+(?:more than|over)?|"
               r"(?:jobs?|process(?:es)?|pods?|containers?|tenants?|models?|llms?)\s+(?:sees?|gets?)|"
               r"(?:in|into|on)\s+the (?:other|remaining|last)|(?:i'?ve|we'?ve) got|"
               r"(?:live|run|fit|stay|squeeze|keep (?:it|this|that|us|me))\s+(?:in|into|inside|within|under|below)|"
               r"(?:slice|share|partition|ceiling|quota|allowance)\b[^.;?!]{0,30}?\b(?:is|of|at)|"
               r"lets? (?:\w+ ){0,2}?(?:take|use|have)|(?:really|effectively|actually) (?:has|have|gets?))\s*")
# ... or after it: "6 GB is the ceiling", "3 GB tops", "10 GB of VRAM free", "the 30 GB slice"
_CAP_AFTER = (r"\s*(?:of\s+)?(?:(?:gpu |device )?(?:vram|memory|ram|hbm)\s+)?(?:free|available|left|spare|to spare|of headroom|"
              r"for (?:the |our |this )?(?:llm|model|inference|chatbot|bot|generator)\b(?!\s+(?:weights|itself))|"
              r"budget|(?:per[- ](?:gpu|card|device|node) )?limit|cap|max|tops|or less|at most|slice|slot|partition|"
              r"(?:for (?:the |our |this )?(?:model|llm|inference|process|job) )?(?:is|as) (?:the|our|a|my|its) "
              r"(?:hard )?(?:ceiling|cap|limit|max\w*|budget)|\)?\s*(?:is|are) (?:ours|mine))\b")
# "kills us above ~3 GB": a figure above which something fails is the cap
_FAILS_ABOVE = r"(?:kill\w*|crash\w*|oom\w*|evict\w*)\b[^.;?!\d]{0,24}?(?:above|over|past|beyond)\s*"
_BUDGET = re.compile(r"(?:" + _CAP_BEFORE + r"|" + _FAILS_ABOVE + r")" + _ABOUT_GB + _GB_FIGURE + r"|" + _NUMBER + r"\s*" + _GB
                     + _CAP_AFTER, re.I)
# any figure in GB: looked for first, since most questions have none and the full pattern is slow
_ANY_GB = re.compile(r"\d\s*" + _GB, re.I)
# memory the user keeps back for something else: what is left of the card is the budget ("keep 10 GB free")
_RESERVE = re.compile(r"\b(?:keep|keeping|leave|leaving|reserves?|reserved|reserving|set(?:ting)? aside|hold(?:s|ing)? back)"
                      r"\s+(?:(?:about|around|~|at least|roughly)\s*)?" + _NUMBER + r"\s*" + _GB, re.I)
# what is left of the card for the model: every other tenant's use said before it counts ("the game already uses ~5 GB
# so the LLM gets the rest", "Whisper takes 6 GB and the ROS stack another 10 GB; the LLM gets what's left")
_REMAINDER = re.compile(r"\b(?:whatever is left|what(?:'s| is) left|the rest\b|the remainder|remaining|left over|leftover)",
                        re.I)
_USED = re.compile(r"\b(?:uses?|using|takes?|taking|eats?|eating|needs?|occup\w+|pinned|holds?|consum\w+|grabs?|"
                   r"another|already)\s+(?:\w+\s+){0,2}?(?:about |around |~|roughly |up to )?" + _NUMBER + r"\s*" + _GB, re.I)
# a MIG profile names its memory slice: "3g.40gb", "1g.10gb"
_MIG_PROFILE = re.compile(r"\b\d+g\.(\d+)gb\b", re.I)
# HAMi vGPU limits in a pod spec: "nvidia.com/gpumem: 30000" (MiB), "nvidia.com/gpumem-percentage: 50"
_HAMI_MIB = re.compile(r"nvidia\.com/gpumem\s*:\s*[\"']?(\d+)", re.I)
_SHARE_WORDS = {"half": 0.5, "a third": 1 / 3, "one third": 1 / 3, "a quarter": 0.25, "one quarter": 0.25,
                "two thirds": 2 / 3, "three quarters": 0.75}
_CARD = (r"(?:(?:the |a |an |one |each |its |their )?(?:(?:[a-z]*\d+[\w-]*|rtx|ada|pro|max|sxm|pcie)(?:'s)? ){0,3}?"
         r"(?:gpu'?s? |card'?s? |device'?s? )?(?:\d+\s?gb|hbm|vram|gpu memory|memory|card|gpu|device)\b|"
         # a card named by its model: "a third of an L40S", "half of each A10G"
         r"(?:the |a |an |one |each )(?:[a-z]+ )?[a-z]*\d+[a-z]*\b)")
# a share of the card: "at most 70% of HBM", "no job gets more than half the card", "--gpu-memory-utilization 0.35"
_SHARE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:%|percent)\s*of\s+" + _CARD + r"|\b(" + "|".join(_SHARE_WORDS) + r")\s+(?:of\s+)?"
                    + _CARD + r"|(?:gpu[-_ ]memory[-_ ]utili[sz]ation|mem[-_ ]fraction[-_ ]static|gpumem-percentage)"
                    r"[\"']?\s*[=:]?\s*[\"']?(\d*\.?\d+)", re.I)
# words before a share that make it a cap rather than a measurement ("uses 90% of VRAM")
_SHARE_CAP = re.compile(r"\b(?:at most|up to|no more than|not more than|more than|max\w*|limit\w*|only|cap\w*|allowed|"
                        r"spare|grant\w*|give[ns]?|dedicat\w*|assign\w*|"
                        r"allocate|may|gets?|budget|under|below|within|less than|share|policy)\b[^.;?!]{0,24}$", re.I)
# the card's memory as the user states it: "the 24 GB card", "the RTX 6000 Ada's 48GB"
_STATED_CARD = re.compile(r"\bthe (?:[\w-]+ ){0,3}?(\d+(?:\.\d+)?)\s?gb (?:card|gpu)\b|"
                          r"\b(?:[a-z]*\d+\w*|ada|gpu|card)'s (\d+(?:\.\d+)?)\s?gb\b", re.I)
# a share's figure worked out right after it: "a third of an L40S (16 GB)"
_SAID_AFTER = re.compile(r"\s*\(\s*(?:~|about |around )?(\d+(?:\.\d+)?)\s*gi?b\s*\)", re.I)
# a launcher's memory fraction at or above this is its usual setting (vLLM's default is 0.9), not a budget
_USUAL_FRACTION = 0.85
_MEMORY_FIGURE = re.compile(r"(?:uses?|using|takes?|taking|eats?|consum\w+|occup\w+|allocat\w+|peaks? at|at|hits?|reach\w*|"
                            r"(?:says|shows|reports|reads)|"
                            r"peak (?:memory|vram|usage)(?: is| of| at)?\s*[:=]?|current(?:ly)?\s*[:=]|"
                            r"usage (?:is|of)|footprint (?:is|of)|memory (?:is|of))\s*(?:about |around |~|over |almost )?"
                            + _NUMBER + r"\s*" + _GB + r"|" + _NUMBER + r"\s*" + _GB + r"\s*(?:used|in use|allocated|peak)|"
                            # a share of the card: "we sit at 78 of 80 GB", "memory has headroom (52/80 GB)"
                            + _NUMBER + r"\s*(?:of|/)\s*\d+(?:\.\d+)?\s*" + _GB + r"|"
                            # the memory word, then its figure: "mem 71.2GB", "memory isn't a concern (~40 GB/GPU)"
                            r"\b(?:mem(?:ory)?|vram)\b[^.;?!\d]{0,30}?(?:~|about |around )?" + _NUMBER + r"\s*" + _GB
                            + r"(?=\s*(?:/|per)\s*(?:gpu|rank|card|device)|\s*(?:\)|,|\.|$|so\b|and\b))",
                            re.I)


def read_memory(text: str, found: Found) -> None:
    """Put a memory budget stated in GB and a measured memory figure into ``found``."""
    budget = _memory_budget(text, found)
    memory = _MEMORY_FIGURE.search(text)
    if memory and not (budget and budget.start() < memory.end() and memory.start() < budget.end()):
        figure = next(g for g in memory.groups() if g)
        found.measure("memory_gb", float(figure.replace(",", ".")), memory.group(0))


def _memory_budget(text: str, found: Found) -> re.Match[str] | None:
    """A memory cap stated in GB (a bound, a grant, a MIG or vGPU slice); a figure kept back for others is not one."""
    if not _ANY_GB.search(text):
        return None
    for budget in _BUDGET.finditer(text):
        if _RESERVE.search(text, max(0, budget.start() - 32), budget.end()):
            continue  # "keep 10 GB free for the embedding service": the rest of the card is the budget
        found.put("memory_budget_gb", float((budget.group(1) or budget.group(2)).replace(",", ".")), budget.group(0))
        return budget
    mig = _MIG_PROFILE.search(text)
    if mig:
        found.put("memory_budget_gb", float(mig.group(1)), mig.group(0))
        return mig
    hami = _HAMI_MIB.search(text)
    if hami:
        found.put("memory_budget_gb", round(int(hami.group(1)) / 1024, 1), hami.group(0))
        return hami
    return None


# the card's memory as the user gives it, right after the share: "half the card (L40S, 48GB)"
_CARD_AFTER = re.compile(r"\s*\(\s*[\w\s.-]{1,24},\s*(\d+(?:\.\d+)?)\s*gi?b\s*\)", re.I)


def _card_said_after_name(text: str, at: int) -> float | None:
    m = _CARD_AFTER.match(text, at)
    return float(m.group(1)) if m else None


def settle_memory_budget(text: str, found: Found, catalog: object) -> None:
    """A budget stated as a share or a remainder of the card, once the GPU is known (run after every reader).

    "at most 70% of HBM", "half the card", "--gpu-memory-utilization 0.35" take a share of the GPU's memory; "keep
    10 GB free", "the game uses 5 GB so the LLM gets the rest" leave the card's memory less that figure.
    """
    if "memory_budget_gb" in found.values:
        return
    gpu_id = found.values.get("gpu") or (found.hinted.get("gpu") or (None,))[0]
    card_gb = getattr(getattr(catalog, "gpus", {}).get(gpu_id or ""), "memory_gib", None)
    stated = _STATED_CARD.search(text)
    card_gb = float(stated.group(1) or stated.group(2)) if stated else card_gb  # "the rest of the 24 GB card": the user's own figure
    if not card_gb:
        return
    for share in _SHARE.finditer(text):
        if share.group(1):
            fraction = float(share.group(1)) / 100
        elif share.group(2):
            fraction = _SHARE_WORDS[share.group(2).lower()]
        else:
            fraction = float(share.group(3))
            fraction = fraction / 100 if fraction > 1 else fraction
            if fraction >= _USUAL_FRACTION:
                continue
        if not 0 < fraction < 1:
            continue
        if share.group(3) is None and not _SHARE_CAP.search(text, max(0, share.start() - 40), share.start()):
            continue  # "uses 90% of VRAM" is a measurement
        said = _SAID_AFTER.match(text, share.end())  # "a third of an L40S (16 GB)": the figure the user worked out
        figure = float(said.group(1)) if said else None
        if figure is not None and figure >= 0.9 * card_gb:
            card_gb, figure = figure, None  # "two thirds of an RTX A6000 (48GB)": the card's own memory, as stated
        card_gb = _card_said_after_name(text, share.end()) or card_gb
        found.put("memory_budget_gb", figure if figure is not None else round(card_gb * fraction, 1), share.group(0))
        return
    kept = _RESERVE.search(text)
    left = _REMAINDER.search(text)
    # kept back ("keep 10 GB free"), or what every other tenant uses before the model "gets the rest"
    used = [kept] if kept else [m for m in _USED.finditer(text, 0, left.start())] if left else []
    others_gb = sum(float(m.group(1).replace(",", ".")) for m in used)
    if used and 0 < others_gb < card_gb:
        found.put("memory_budget_gb", round(card_gb - others_gb, 1), " + ".join(m.group(0) for m in used))
