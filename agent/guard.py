"""Screen a question before planning: empty, too long, another language, off-field, instructions aimed at us."""

from __future__ import annotations

import re
from dataclasses import dataclass

# words that mark a question as being about running or training models on accelerators
_DOMAIN = re.compile(
    r"\b(?:gpus?|cuda|tensor|h100|a100|h200|b200|l40s?|mi\d{3}\w?|rtx|[345]0[5-9]0\b|llms?|models?|transformers?|"
    r"inference|serv\w*|deploy\w*|train\w*|fine[\s-]?tun\w*|pre[\s-]?train\w*|tokens?|latency|throughput|ttft|tpot|"
    r"kv[\s-]?cache|attention|quantiz\w*|prun\w*|distil\w*|speculat\w*|decod\w*|prefill|batch\w*|context|vram|memory|"
    r"fp8|fp16|bf16|int8|int4|flash|kernels?|parallel\w*|shard\w*|moe|experts?|llama|mistral|mixtral|qwen|deepseek|"
    r"gemma|phi|falcon|gpt|vllm|sglang|tensorrt|deepspeed|megatron|pytorch|checkpoint\w*|offload\w*|accelerat\w*|"
    r"nvlink|all[\s-]?reduce|pipeline|lora|qlora|mamba|rwkv|ssm|rope|\d+\s?b\b)",
    re.I,
)
_INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|your) (?:instructions|prompts?|rules)|"
    r"disregard (?:all |the )?(?:previous|prior|above|your)|you are now|act as (?:a|an) (?!expert)|"
    r"(?:reveal|print|show|repeat|output) (?:me )?(?:your |the )?(?:system )?(?:prompt|instructions)|system prompt|"
    r"jailbreak|developer mode|do anything now|<\s*/?\s*(?:system|assistant|instructions?)\s*>|\bBEGIN (?:SYSTEM|INSTRUCTIONS)\b|"
    r"(?:api|secret) keys?|password|exfiltrat|rm -rf|curl http",
    re.I,
)
_FOREIGN_WORDS = re.compile(
    r"\b(?:qué|cómo|cuál|para|modelo|quiero|puedo|usar|mejor|pour|avec|quel|quelle|comment|modèle|est-ce|"
    r"wie|welche|nicht|mit|für|und|ich|modell|schneller|come|quale|posso|usare|velocidade|como|qual|"
    r"devo|melhor|het|een|voor)\b",
    re.I,
)


@dataclass(frozen=True)
class Screen:
    """The outcome of screening: ``status`` is ok, refused; ``message`` is the reply when refused."""

    status: str
    message: str = ""
    warning: str = ""
    question: str = ""


def _non_latin_fraction(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if ord(c) > 0x24F) / len(letters)


def screen_question(question: str | None, max_chars: int = 4000, context: str = "") -> Screen:
    """Decide whether to plan an answer; never raises.

    Args:
        question: the raw text.
        max_chars: longest question accepted.
        context: the previous turn of a conversation ("what about on A100?" is on topic after it).
    Returns:
        Screen with status "ok" (possibly with a warning) or "refused" and a one-paragraph reply.
    """
    text = (question or "").strip()
    text = "".join(c for c in text if c.isprintable() or c in "\n\t")
    if not text:
        return Screen("refused", "The question is empty. Ask something like: \"Llama-3-70B on 2x H100, 8k-token "
                      "prompts, 512 output tokens, 64 users, latency matters: what should we use?\"")
    if len(text) > max_chars:
        return Screen("refused", f"The question is {len(text)} characters long; the limit is {max_chars}. "
                      "State the GPU, model, prompt/output lengths, load and objective in a few sentences.")
    if _non_latin_fraction(text) > 0.3 or len(_FOREIGN_WORDS.findall(text)) >= 2:
        return Screen("refused", "I can only read questions in English. Please ask again in English, naming the GPU, "
                      "model, prompt and output lengths and what you want to improve.", question=text)
    warning = ""
    if _INJECTION.search(text):
        warning = ("The question contains instructions aimed at the assistant; they were ignored. Only the "
                   "technical content was used.")
        stripped = _INJECTION.sub(" ", text)
        if not _DOMAIN.search(stripped):
            return Screen("refused", "I only answer questions about speeding up LLM training and inference "
                          "(GPUs, models, techniques). Embedded instructions are not followed.", warning, text)
    if not _DOMAIN.search(text) and not (context and _DOMAIN.search(context)):
        return Screen("refused", "That does not look like a question about accelerating LLM training or inference. "
                      "I can help pick techniques (quantization, FlashAttention, speculative decoding, parallelism, ...) "
                      "for a given GPU, model and workload.", warning, text)
    return Screen("ok", warning=warning, question=text)
