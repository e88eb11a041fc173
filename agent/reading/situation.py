"""Read what the user is doing and wants: the phase, the objective, and the constraints (lossless, no retraining).

Each cue counts only where its clause asserts it: "not training" and "we could fine-tune a draft if needed" say
nothing about the phase, and "I don't care about latency" is not a latency objective.
"""

from __future__ import annotations

import re

from agent.reading.findings import Found
from agent.reading.scope import Scope

# Phase cues in priority order: a specific activity beats the generic words of serving.
PHASE_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("fine-tuning", re.compile(r"fine[\s-]?tun(?:e|es|ing)\b|finetun(?:e|es|ing)\b|\blora\b|\bqlora\b|\bsft\b|\brlhf\b|"
                               r"\bdpo\b|\bgrpo\b|instruction[\s-]tun\w*|\bpeft\b|continued training|post[\s-]train(?:ing)? (?:run|job)", re.I)),
    ("pre-training", re.compile(r"pre[\s-]?train(?:ing)?\b|from scratch|train(?:ing)? (?:from scratch|a \d|an? (?:\d|llm|model|moe))|"
                                r"\btraining (?:run|step|job|throughput|on|across|with|in|at|from|runs out|cluster|mfu)\b|"
                                r"\bwe (?:still )?train\b|\b(?:data|tensor|pipeline)[\s-]parallel\w* (?:pre-?)?training|"
                                r"\btraining an?\b|\bstep time\b|\bmfu\b", re.I)),
    ("edge", re.compile(r"\bedge\b|on[\s-]device|laptop|phone|mobile|jetson|\borin\b|macbook|mac studio|mac mini|"
                        r"\bm[1-4] (?:pro|max|ultra)\b|raspberry|consumer (?:gpu|card)|\bdesktop\b|\bat home\b|"
                        r"\bembedded\b|\bin[\s-]car\b|\brobot\w*|\bios\b|\bandroid\b|\biphone\b|\binside an? (?:app|application)\b", re.I)),
    ("offline-batch", re.compile(r"offline|batch (?:inference|job|processing|generation|workload)|bulk|whole (?:dataset|corpus)|"
                                 r"overnight|nightly|embarrassingly|evaluat\w* (?:on|over) (?:a|the|our)|synthetic data|"
                                 r"(?:label|classify|summari[sz]e|embed|process|annotate)\w* (?:\d[\d,.]*\s?[mk]?|millions|"
                                 r"thousands|all) (?:of )?(?:documents|docs|records|rows|files|pages|samples|examples)|"
                                 r"\bdataset of\b|(?:whole|entire|full) (?:dataset|corpus|benchmark|catalog|archive|backlog|"
                                 r"collection)|~?\d+(?:\.\d+)?\s?[kKmM]\s+(?:prompts|documents|docs|pairs|strings|rows|samples|"
                                 r"items|records|reviews|tickets|files|responses|examples|queries|articles)\b|eval(?:uation)? "
                                 r"sweeps?|weekend job|around the clock|nobody waits|no (?:one|user) waits|annotation (?:study|job)|"
                                 r"generat\w* (?:synthetic|training|teacher)", re.I)),
    ("serving", re.compile(r"serv(?:e|es|ing|er)\b|deploy|users|chat|\bqps\b|requests?|production|endpoint|\bapi\b|inference|"
                           r"decode|generat|latency|ttft|tpot|prompts?\b", re.I)),
    # a bare "train"/"training" counts only when nothing says serving
    ("pre-training", re.compile(r"\btrain\b|\btraining\b|\bgradients?\b|optimi[sz]er states?", re.I)),
]
# An ability or option, not the activity: "we can fine-tune if needed", "we could train a draft".
_OPTION = re.compile(r"\b(?:could|might|would|maybe|perhaps|if (?:needed|necessary|required|it helps)|later|eventually|"
                     r"done|finished|no more|out of scope|"
                     r"in the future|some ?day|willing to|open to|happy to|able to|(?:we|i) can|allowed to|option)\b", re.I)
# "a fine-tuned model", "our LoRA adapters in production": the words describe the model being served
_DESCRIBES_MODEL = re.compile(r"\b(?:serv\w*|deploy\w*|inference|host\w*|production|prod)\b|"
                              r"(?:sft|fine[\s-]?tuned?|lora|tuned)[\s-]+(?:checkpoint|model|weights|version|variant|adapter)",
                              re.I)

OBJECTIVE_CUES: list[tuple[str, re.Pattern[str]]] = [
    ("ttft", re.compile(r"\bttft\b|time[\s-]to[\s-]first[\s-]token|first[\s-]token|prefill (?:latency|time)|"
                        r"prompt processing|until the first (?:word|token|chunk|character)|first (?:word|chunk) (?:appears|shows)",
                        re.I)),
    ("tpot", re.compile(r"\btpot\b|\bitl\b|inter[\s-]token|per[\s-]token latency|time per (?:output )?token|"
                        r"decode (?:latency|speed)|tok(?:en)?s?/s(?:ec)? per (?:user|request|stream)|ms per token|"
                        r"(?:faster|speed up|slow|accelerat\w*) decod\w*|decod\w* (?:is )?(?:slow|faster)|per[\s-]token (?:latency|speed|time)|"
                        r"tokens per second per (?:user|request)|generation speed|streaming speed|ms/tok(?:en)?|"
                        r"tokens? per second (?:for|to) (?:a|one|each) user|speed of (?:each|every|one|a single) user|"
                        r"per[\s-]user speed|speed\w* (?:for|of|in) decod\w*", re.I)),
    ("memory", re.compile(r"\bfits?\b(?!\s+(?:in(?:to)?\s+)?(?:the |our |a )?(?:[\w-]+\s+){0,2}?(?:window|deadline|schedule|"
                          r"time|slot|sla))|out of memory|"
                          r"\bcan (?:we|i|it|one \w+|a single \w+) (?:even )?(?:run|deploy|host|serve|load|hold)\b|"
                          r"\b(?:is|are) (?:that|it|this|they) enough\b|enough (?:memory|vram)|\boom\w*|\bvram\b|\bkv[\s-]?cache (?:size|grows)|too big|"
                          r"doesn'?t fit|won'?t fit|memory (?:usage|footprint|budget|limit|pressure)|\bmemory\b", re.I)),
    # cost stated per unit of work beats the word "tokens" in it ("maximise tokens per dollar")
    ("cost", re.compile(r"per (?:dollar|\$)|\$\s*(?:/|per)|cost per|cheap|\bbill\b|save money|saving money|"
                        r"smaller instance|cheaper (?:gpu|instance|card)|spend", re.I)),
    ("throughput", re.compile(r"throughput|thr?o?u?ghput|projected (?:at|to)|\b\d+\s*(?:days|weeks)\b|"
                              r"push (?:\w+ ){0,4}through|tokens?/s(?:ec)?\b|tok/s\b|tokens per second|maximi[sz]e .*tokens|more requests|"
                              r"samples per second|\bmfu\b|step time|faster training|train faster|speed up training|"
                              r"finish (?:faster|sooner)|as fast as possible|how (?:long|fast) .{0,20}(?:take|finish)|"
                              r"wall[\s-]?clock|total (?:time|hours)|requests per second|\brps\b|tokens per (?:hour|day)|"
                              r"shorten (?:the )?(?:run|job|training)|finish by", re.I)),
    ("cost", re.compile(r"\bcost|cheap|\$|budget|dollar|fewer gpus|price", re.I)),
    ("quality", re.compile(r"accuracy|quality|perplexity|preserv\w* (?:quality|accuracy)", re.I)),
    ("latency", re.compile(r"latency|fast(?:er)? (?:responses?|answers?)|respon\w+ time|snappy|interactive|real[\s-]?time|"
                           r"end[\s-]to[\s-]end|\be2e\b", re.I)),
]
# Words that single out one objective among several ("only tokens/sec per GPU", "latency matters most").
_STRONG = re.compile(r"\b(?:only|most|main|primary|priority|kpi|goal|the (?:one )?thing|above all|best|care (?:about|for)|"
                     r"all (?:we|i) care|matters|is king|critical|crucial|paramount|what counts)\b", re.I)
# Words that make a cue what the user wants rather than a number they report.
_WANT = re.compile(r"\b(?:want|need|improve|reduc\w*|lower|cut|minimi[sz]e|maximi[sz]e|increase|boost|optimi[sz]e|"
                   r"priority|prioriti[sz]e|matters?|care about|goal|target|slo|sla|under|below|within|bound|"
                   r"faster|better|higher|more|less|too (?:slow|high|long)|bottleneck|focus|main concern|"
                   r"make it|get it|speed up|help)\b", re.I)

LOSSLESS = re.compile(
    r"without chang\w* (?:the )?outputs?|lossless|exact(?:ly the same)? outputs?|same outputs?|bit[\s-]?(?:exact|identical|"
    r"for[\s-]bit)|identical (?:outputs?|results?|to)|no (?:quality|accuracy) (?:loss|drop|hit|regression)|"
    r"without (?:any )?(?:quality|accuracy) (?:loss|drop|hit)|must not change|outputs? (?:must|should|need to|has to|have to) "
    r"(?:stay|remain|be|match)|(?:must|should|need to|has to|have to) (?:stay|remain) (?:exact|identical|the same)|"
    r"without (?:hurting|harming|degrading|losing|sacrificing|reducing|compromising|affecting|impacting|touching|"
    r"any loss (?:of|in)) (?:the |any |model |its |our )*(?:accuracy|quality|outputs?)|"
    r"no (?:loss|drop|degradation) (?:in|of) (?:accuracy|quality)|"
    r"(?:can(?:no|')t|cannot|must not|may not|won't|can not) (?:lose|hurt|drop|sacrifice|degrade|change|alter|touch) "
    r"(?:any |the |model )*(?:accuracy|quality|outputs?|results?)|"
    r"no (?:quanti[sz]\w*|quant\b|approximations?|lossy)|(?:must|should|has to|have to|needs? to) match [^.;]{0,40}?"
    r"(?:outputs?|results?|answers?|logits)|quanti[sz]\w* (?:is |are )?(?:not (?:allowed|an option|acceptable)|off the table|"
    r"forbidden|banned|a no[\s-]go)|(?:not allowed|can(?:no|')t|cannot) (?:to )?quanti[sz]\w*|"
    r"(?:match|matches|matching) (?:the )?(?:fp16|bf16|fp32|reference|original) (?:outputs?|results?|exactly)|"
    r"(?:regulated|compliance)[^.]{0,40}(?:exact|identical)", re.I)
# lossy compression named as ruled out: "no quantisation is allowed", "anything but quantization", "no int4 tricks"
_LOSSY_WORD = re.compile(r"quanti[sz]\w*|\b(?:fp4|nvfp4|int4|int8|int3|nf4|[2-8][\s-]?bits?)\b", re.I)
_RULED_OUT_AFTER = re.compile(r"^[^.;?!]{0,40}?\b(?:not (?:approved|allowed|permitted|acceptable|an option)|forbidden|banned|"
                              r"off the table|ruled out|a no[\s-]go)\b", re.I)
_ANYTHING_BUT = re.compile(r"\b(?:anything|everything) (?:but|except|other than)\s+$", re.I)
# "no quantisation", "no fp4/int4 tricks": a rule; "we don't use quantization yet" only describes the stack
_NO_BEFORE = re.compile(r"\b(?:no|without|never)\s+(?:[\w-]+[\s/]+){0,2}$", re.I)
# "some quality loss is fine": the opposite, read as an explicit False
# "don't want any quality loss", "without changing model output": a change to outputs, negated
_OUTPUT_CHANGE = re.compile(r"(?:quality|accuracy|precision|output) (?:loss|drop|degradation|regression|hit|changes?)|"
                            r"chang\w* (?:the )?(?:model(?:'s)? )?(?:outputs?|results?|answers?)|"
                            r"(?:outputs?|results?|answers?) (?:may|must|can|should|cannot|can't)\s*(?:not )?(?:change|differ)",
                            re.I)
LOSSY_OK = re.compile(r"(?:some|a (?:little|bit of)|small|minor|slight) (?:quality|accuracy) (?:loss|drop|hit|degradation) "
                      r"(?:is |would be )?(?:ok|okay|fine|acceptable|allowed)|lossy is (?:ok|fine)|"
                      r"quanti[sz]\w* (?:is |are )?(?:ok|okay|fine|allowed|acceptable)|happy to quanti[sz]|"
                      r"don'?t mind (?:some |a little )?(?:quality|accuracy) loss", re.I)
NO_RETRAIN = re.compile(r"no (?:more )?(?:re-?)?training|without (?:any )?(?:re-?)?training|without (?:any )?fine[\s-]?tun\w*|"
                        r"no fine[\s-]?tun\w*|(?:can(?:no|')t|cannot|can not|won'?t|unable to|not allowed to|don'?t want to) "
                        r"(?:re-?train|train|fine[\s-]?tune|touch the weights)|no (?:time|budget|compute|data|gpus) (?:for|to) "
                        r"(?:re-?)?train|off[\s-]the[\s-]shelf|post[\s-]training only|(?:training|fine[\s-]?tuning) is "
                        r"(?:not|out of)|weights? (?:are|is) frozen|frozen weights|as[\s-]is\b", re.I)
CAN_RETRAIN = re.compile(r"(?:we|i) (?:can|could|are able to|have (?:the )?(?:budget|data|compute) to) (?:re-?train|train|"
                         r"fine[\s-]?tune|distill)|(?:fine[\s-]?tuning|training|retraining) is (?:ok|okay|fine|allowed|possible|"
                         r"an option)|willing to (?:fine[\s-]?tune|train|retrain)|open to (?:fine[\s-]?tuning|training)", re.I)


def read_phase(text: str, scope: Scope, found: Found) -> None:
    """The phase the user is in now: the first phase (by priority) with an asserted cue."""
    for phase, pattern in PHASE_CUES:
        for m in pattern.finditer(text):
            if scope.negated(m.start(), m.end()) or scope.past(m.start()):
                continue
            clause = scope.clause_at(m.start())
            words = text[clause.start:clause.end]
            if phase in ("fine-tuning", "pre-training") and (_OPTION.search(words) or
                                                              (_DESCRIBES_MODEL.search(words) and phase == "fine-tuning")):
                continue
            found.put("phase", phase, m.group(0))
            return


def read_objective(text: str, scope: Scope, found: Found) -> None:
    """The objective: a cue the user wants improved beats one they only report; then by priority."""
    best: tuple[int, int, str, str] | None = None
    masked = NO_RETRAIN.sub(lambda m: " " * len(m.group(0)), LOSSLESS.sub(lambda m: " " * len(m.group(0)), text))
    for rank, (objective, pattern) in enumerate(OBJECTIVE_CUES):
        for m in pattern.finditer(masked):
            if scope.negated(m.start(), m.end()):
                continue
            clause = scope.clause_at(m.start())
            words = text[clause.start:clause.end]
            lo = max(clause.start, m.start() - 24)
            strong = [s for s in _STRONG.finditer(masked, lo, min(clause.end, m.end() + 24))]
            level = 0 if strong else 1 if _WANT.search(words) else 2
            # several cues near a strong word ("the best quality that fits in 16GB"): the closest one is singled out
            gap = min((max(s.start() - m.end(), m.start() - s.end(), 0) for s in strong), default=0)
            key = (level, gap, rank, objective, m.group(0))
            if best is None or key[:3] < best[:3]:
                best = key
    if best:
        found.put("objective", best[3], best[4])
    elif found.values.get("phase") in ("pre-training", "fine-tuning") and _SPEED.search(text):
        found.put("objective", "throughput", _SPEED.search(text).group(0))


# training that is "slow" or should "finish sooner" wants throughput
_SPEED = re.compile(r"\bslow\w*|\bfaster\b|speed\w* (?:it )?up|shorter epochs?|per epoch|\bepochs?\b|\bhours?\b|\b\d+\s?h\b|"
                    r"finish|wall[\s-]?clock|shorten|per step|step time|min(?:ute)?s? per|how far can we get", re.I)


def _asked(text: str, scope: Scope, at: int) -> bool:
    """Whether the clause at ``at`` is a proposal or a question (a rule is stated, not asked)."""
    clause = scope.clause_at(at)
    return scope.proposed(at) or "?" in text[clause.start:clause.end + 1]


def read_constraints(text: str, scope: Scope, found: Found) -> None:
    """Lossless and no-retraining constraints, and their stated opposites."""
    lossless = next((m for m in LOSSLESS.finditer(text) if not scope.proposed(m.start()) or "?" not in
                     text[m.end():scope.clause_at(m.start()).end + 1]), None)
    if lossless is None:
        lossless = next((m for m in _LOSSY_WORD.finditer(text) if not _asked(text, scope, m.start()) and (
            _NO_BEFORE.search(text[max(0, m.start() - 30):m.start()]) or _RULED_OUT_AFTER.match(text[m.end():])
            or _ANYTHING_BUT.search(text[max(0, m.start() - 24):m.start()]))), None)
    if lossless is None:
        lossless = next((m for m in _OUTPUT_CHANGE.finditer(text) if scope.negated(m.start(), m.end())
                         or re.search(r"(?:may|must|can|should)\s*not|cannot|can't", m.group(0), re.I)), None)
    if lossless:
        found.put("lossless", True, lossless.group(0))
    elif (ok := LOSSY_OK.search(text)):
        found.put("lossless", False, ok.group(0))
    no_retrain = NO_RETRAIN.search(text)
    can = CAN_RETRAIN.search(text)
    if can and (not no_retrain or can.start() > no_retrain.start()):
        found.put("no_retraining", False, can.group(0))
    elif no_retrain:
        found.put("no_retraining", True, no_retrain.group(0))
