"""What the question is about, read from its words: families and techniques it points at.

A cost model cannot see that "extend the context to 128k" wants long-context methods or that
"the pipeline has bubbles" wants a better schedule; these rules carry that signal into ranking.
Weights are relative boosts (1.0 = a clear pointer).
"""

from __future__ import annotations

import re

# (pattern, {family or technique id: weight})
INTENT_RULES: list[tuple[re.Pattern[str], dict[str, float]]] = [
    (re.compile(r"extend\w* (?:the )?context|longer context|context (?:window )?(?:extension|length extension)|beyond (?:its|the) (?:trained|training) (?:context|length)|rope scal|position interpolation|longer than (?:it was )?trained", re.I),
     {"long-context": 1.5}),
    # no draft model to hand: schemes that draft without a second model
    (re.compile(r"no (?:separate |small |extra )?draft(?:er)? model|without (?:a |any )?(?:separate )?draft(?:er)? model|don'?t have a draft", re.I),
     {"speculative-decoding": -4.0, "specinfer": -4.0, "lookahead-decoding": 1.0, "jacobi-decoding": 1.0, "rest": 1.0,
      "self-speculative-decoding": 1.0}),
    (re.compile(r"draft model|speculat|guess\w* (?:several|multiple) tokens|more than one token per (?:step|forward)|tokens per forward|multiple tokens", re.I),
     {"speculative-decoding": 1.2}),
    (re.compile(r"decode|tpot|per[\s-]token latency|inter[\s-]token|memory[\s-]bound|low batch|batch (?:size )?(?:of )?1\b|single user|one user|interactive|chat", re.I),
     {"speculative-decoding": 0.6, "quantization": 0.3, "compiler-fusion": 0.2}),
    (re.compile(r"kv[\s-]?cache|key[\s-]value cache|cache (?:grows|memory)", re.I),
     {"kv-cache": 1.0, "attention-kernel": 0.2}),
    # long inputs point at the KV cache only indirectly
    (re.compile(r"long (?:prompts|contexts|documents)|\d+\s?k[\s-]*(?:token)?s?\s*(?:context|prompt)", re.I),
     {"kv-cache": 0.6, "attention-kernel": 0.4}),
    (re.compile(r"evict|sliding[\s-]window|streaming (?:dialogue|generation|llm)|unbounded|fixed[\s-]size (?:kv )?cache|(?:shrink|compress|reduce|cap)\w* (?:the )?kv|kv[\s-]?cache (?:compression|eviction|budget)|infinite (?:length|stream)", re.I),
     {"attention-sinks": 1.0, "kv-cache-compression": 1.0}),
    (re.compile(r"shared (?:system )?prompt|same (?:system )?prompt|common prefix|multi[\s-]turn|few[\s-]shot (?:examples|prefix)|repeated prefix|rag (?:documents|context)", re.I),
     {"prefix-caching": 2.0}),
    # the user describes running without the default scheduler: the baseline assumption does not hold for them
    (re.compile(r"waits? for the (?:longest|slowest)|static batch|whole batch (?:finishes|to finish)|pad\w* (?:every request )?to the longest|new requests wait", re.I),
     {"continuous-batching": 2.0}),
    (re.compile(r"stall\w*|interfer\w*|(?:tpot|decode|inter[\s-]token) (?:spikes|jitter)|prefill (?:blocks|interrupts|pauses)", re.I),
     {"chunked-prefill": 1.5, "pd-disaggregation": 1.0}),
    (re.compile(r"separate (?:gpu )?pools|prefill and decode on (?:separate|different)|disaggregat|split prefill (?:and|from) decode", re.I),
     {"pd-disaggregation": 2.0}),
    (re.compile(r"quantiz\w* (?:the )?attention|(?:8|4)[\s-]?bit attention|(?:int8|fp8|int4|fp4) attention|attention in (?:int8|fp8|8[\s-]bit|4[\s-]bit)|\bq and k\b|queries and keys in", re.I),
     {"sage-attention": 3.0, "sage-attention-2": 3.0, "sage-attention-3": 2.5}),
    (re.compile(r"concurren|many users|\d+\s*users|qps|requests per second|throughput|batch(?:ing)?\b|utili[sz]ation", re.I),
     {"scheduling": 0.8, "kv-cache": 0.5}),
    (re.compile(r"prefill|ttft|time[\s-]to[\s-]first|first token|long prompts|stall|interference|tail latency|p99", re.I),
     {"chunked-prefill": 0.8, "pd-disaggregation": 0.8, "attention-kernel": 0.5, "prefix-caching": 0.3}),
    (re.compile(r"attention (?:kernel|is slow|dominates|cost|bottleneck)|softmax|quadratic|o\(n\^?2\)|s\s?[x×]\s?s|attention (?:memory|speed)|faster attention|attention layer", re.I),
     {"attention-kernel": 1.2}),
    (re.compile(r"\bfit\b|\bfits\b|out of memory|\boom\b|too (?:big|large)|vram|weights? (?:don'?t|do not|won'?t) fit|memory", re.I),
     {"quantization": 0.8, "kv-cache": 0.4, "offload-edge": 0.3}),
    (re.compile(r"quantiz|4[\s-]?bit|8[\s-]?bit|int4|int8|fp8|fp4|low[\s-]bit|low[\s-]precision (?:arithmetic|inference|formats?|weights)|smaller weights|compress\w* (?:the )?(?:weights|model)", re.I),
     {"quantization": 1.2}),
    (re.compile(r"prun|sparsif|(?:remov|drop|delet|cut)\w* (?:whole |entire |some |redundant |the )?(?:layers|weights|heads|blocks)|fewer layers|smaller model|distil|student|compress\w* (?:the )?model", re.I),
     {"pruning-distillation": 1.4}),
    (re.compile(r"skip (?:layers|neurons)|early[\s-]exit|exit early|activation sparsity|sparse activations|dynamic sparsity|contextual sparsity|adaptive (?:depth|computation)", re.I),
     {"early-exit-sparsity": 1.5}),
    (re.compile(r"linear[\s-]time|sub[\s-]?quadratic|state[\s-]space|\bssm\b|recurrent|rnn|constant[\s-]memory|attention[\s-]free|linear attention|without (?:a )?(?:growing )?kv|million[\s-]token|architecture (?:choice|alternatives?)|alternative to (?:the )?transformer", re.I),
     {"ssm-linear": 1.5}),
    (re.compile(r"tensor parallel|model parallel|split (?:the )?model|shard (?:the )?model|across (?:\d+ |multiple |several )?gpus|multi[\s-]gpu|does not fit on one", re.I),
     {"parallelism": 1.0}),
    (re.compile(r"pipeline (?:parallel|bubble|schedule|stage)|bubbles?|micro[\s-]?batch|1f1b|gpipe", re.I),
     {"pipeline-gpipe": 0.8, "pipeline-1f1b": 1.0, "zero-bubble-pipeline": 1.2, "chimera-pipeline": 0.8, "breadth-first-pipeline": 0.8}),
    (re.compile(r"optimi[sz]er state|adam state|zero[\s-]?[123]?\b|shard\w* (?:the )?(?:optimi[sz]er|gradients|parameters)|fsdp|data[\s-]parallel memory", re.I),
     {"zero-1": 1.0, "zero-2": 1.0, "zero-3": 1.2, "zero-offload": 0.6, "zero-infinity": 0.5}),
    (re.compile(r"long[\s-]sequence training|sequence (?:length )?parallel|context parallel|ring attention|\d+\s?k[\s-]token (?:sequences|training)|train\w* on (?:very )?long|million[\s-]token context", re.I),
     {"ring-attention": 1.2, "striped-attention": 1.0, "unified-sequence-parallel": 1.0, "sequence-parallel": 0.8}),
    (re.compile(r"communicat|all[\s-]?reduce|all[\s-]?gather|reduce[\s-]scatter|nccl|interconnect|bandwidth between|overlap|network|ethernet|infiniband|nvlink", re.I),
     {"communication": 1.3}),
    (re.compile(r"gradient (?:compression|sparsif|quantiz)|slow network|low[\s-]bandwidth|ethernet", re.I),
     {"gradient-compression": 1.5}),
    (re.compile(r"kernel launch|launch overhead|cpu overhead|python overhead|many small kernels|gpu (?:is )?idle|compile|fusion|fuse|megakernel|cuda graph", re.I),
     {"compiler-fusion": 1.4}),
    (re.compile(r"mixture[\s-]of[\s-]experts|\bmoe\b|experts?\b|mixtral|deepseek[\s-]?v[23]|qwen\d?[\s-]?moe|router|all[\s-]to[\s-]all", re.I),
     {"moe": 1.5, "expert-parallel": 1.0}),
    (re.compile(r"checkpoint|resume|restart|activation memory|recomput|rematerial|reshard|failure|preempt", re.I),
     {"checkpointing": 1.4}),
    (re.compile(r"laptop|consumer|offload|cpu ram|ssd|flash storage|nvme|phone|edge|on[\s-]device|doesn'?t fit in (?:gpu|vram)|more than (?:the )?gpu memory|exceeds? (?:gpu )?memory", re.I),
     {"offload-edge": 1.5}),
    (re.compile(r"mixed[\s-]precision|fp16 training|bf16 training|fp8 training|train\w* in fp8|loss scal|low[\s-]precision training|8[\s-]bit training", re.I),
     {"training-precision": 1.5}),
    (re.compile(r"lora|qlora|fine[\s-]?tun\w* (?:on|with) (?:a |one )?single|fine[\s-]?tun\w* .{0,40}\b(?:on|with) (?:a |one )?(?:single )?\d+\s?gb (?:gpu|card)|fine[\s-]?tun\w* a \d+\s?b|parameter[\s-]efficient", re.I),
     {"qlora": 1.5}),
    (re.compile(r"diffusion|video generation|image generation|dit\b", re.I),
     {"sparse-linear-attention": 1.5, "sage-attention": 0.8, "sage-attention-2": 0.8}),
    (re.compile(r"\bgqa\b|grouped[\s-]query|multi[\s-]query|\bmla\b|latent attention|fewer kv heads|kv heads|design(?:ing)? (?:a|the|our) (?:new )?model|new architecture|architecture for", re.I),
     {"grouped-query-attention": 1.2, "multi-head-latent-attention": 1.2}),
]


# a rule weight at or above this is a clear pointer: the question asks about that technique or family
EXPLICIT_WEIGHT = 1.0


def read_explicit(text: str) -> set[str]:
    """Technique ids and families a single rule points at clearly (weight >= 1.0): what the question asks about,
    as opposed to hints summed from its context ("64 users", "8k prompts")."""
    out: set[str] = set()
    for pattern, boosts in INTENT_RULES:
        strong = [key for key, weight in boosts.items() if weight >= EXPLICIT_WEIGHT]
        if strong and pattern.search(text):
            out.update(strong)
    return out


def read_intents(text: str) -> dict[str, float]:
    """Boost per family or technique id that the question's words point at (summed over rules)."""
    out: dict[str, float] = {}
    for pattern, boosts in INTENT_RULES:
        if pattern.search(text):
            for key, weight in boosts.items():
                out[key] = out.get(key, 0.0) + weight
    return out
