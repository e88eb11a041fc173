"""What an answer works out once and reuses: each technique's traits, a catalog's technique labels, an index's mentions
in a text, an effects model's baseline and metric. Each memo gives what working it out afresh gives, and is keyed by
the object it describes, never by a look-alike."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from agent.candidates import named_techniques
from agent.effects import EffectModel
from agent.knowledge.catalog import Catalog
from agent.names import NameIndex, normalise
from agent.ranking import _engine_key, _is_architecture_change, _knob_of, _quality_tier, knob_of, quality_tier, traits_of
from agent.workload import build_indexes, plan_workload

CATALOG = Catalog.load(Path(__file__).resolve().parents[1] / "data")
INDEXES = build_indexes(CATALOG)


def _variant(tech_id: str, **params):
    tech = CATALOG.techniques[tech_id]
    return tech.model_copy(update={"cost_model": tech.cost_model.model_copy(
        update={"params": {**tech.cost_model.params, **params}})})


def test_traits_match_what_each_technique_says_about_itself() -> None:
    for tech in CATALOG.techniques.values():
        traits = traits_of(tech)
        assert (traits.tier, traits.knob, traits.architecture_change) == (
            _quality_tier(tech), _knob_of(tech), _is_architecture_change(tech))
        # engine names compared as both catalogs spell them ("llama_cpp" and "llama.cpp" are one engine)
        assert traits.frameworks == {_engine_key(f) for f in tech.frameworks}
        assert traits.deployable == (len(tech.frameworks) >= 2)
        assert traits.bottlenecks == set(tech.bottlenecks)
        assert traits_of(tech) is traits


@pytest.mark.parametrize("bits, tier", [(8, 1), (4, 2), (2, 3), (16, None)])
def test_a_variant_of_a_technique_has_its_own_traits(bits: int, tier: int | None) -> None:
    """A copy with other params (as the uncertainty range makes) is another object: its tier is its own."""
    awq = CATALOG.techniques["awq"]
    variant = _variant("awq", weight_bits=bits)
    assert quality_tier(variant) == (tier if tier is not None else _quality_tier(variant))
    assert quality_tier(awq) == _quality_tier(awq) == 2
    assert knob_of(variant) == knob_of(awq) == "weight-format"


def _named_afresh(text: str, catalog) -> set[str]:
    """named_techniques written out directly: every label of every technique tried against the text."""
    words = " " + " ".join(normalise(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9.+-]*", text)) + " "
    joined = " " + normalise(text) + " "
    hits = {}
    for tech_id, tech in catalog.techniques.items():
        keys = {normalise(str(x)) for x in (tech_id, tech.name, *tech.aliases) if str(x).isascii()}
        matched = [k for k in keys if len(k) >= 3 and (f" {k} " in words or (len(k) >= 10 and k in joined))]
        if matched:
            hits[tech_id] = matched
    longer = [k for keys in hits.values() for k in keys]

    def alone(key: str) -> bool:
        spans = [(m.start(), m.start() + len(k)) for k in longer if len(k) > len(key) and key in k
                 for m in re.finditer(re.escape(k), joined)]
        return any(not any(a <= m.start() and m.start() + len(key) <= b for a, b in spans)
                   for m in re.finditer(re.escape(key), joined))

    return {tech_id for tech_id, keys in hits.items() if any(alone(k) for k in keys)}


@pytest.mark.parametrize("text", [
    "Is FlashAttention-3 worth the switch from FA2?",
    "flash attention or flash attention 2?",
    "AWQ or GPTQ on an RTX 4090, and does PagedAttention help? vLLM with speculative decoding and EAGLE-2",
    "we run zero-3 with selective recomputation and fp8 training; would ring attention or context parallelism help?",
    "nothing named here at all",
])
def test_named_techniques_finds_what_trying_every_label_finds(text: str) -> None:
    assert named_techniques(text, CATALOG) == _named_afresh(text, CATALOG)


def _catalog(**aliases: list[str]):
    techniques = {tid: SimpleNamespace(name=tid.replace("-", " ").title(), aliases=names) for tid, names in aliases.items()}
    return SimpleNamespace(techniques=techniques)


def test_technique_labels_are_kept_per_catalog_object() -> None:
    """Two catalogs alive at once (or one built after another is dropped) each find their own techniques."""
    first, second = _catalog(**{"draft-heads": ["medusa"]}), _catalog(**{"tree-drafts": ["medusa", "sequoia"]})
    assert named_techniques("would medusa help?", first) == {"draft-heads"}
    assert named_techniques("would medusa help?", second) == {"tree-drafts"}
    for _ in range(3):
        catalog = _catalog(**{"other-heads": ["hydra"]})
        assert named_techniques("hydra or medusa?", catalog) == {"other-heads"}
        del catalog


def test_an_index_remembers_mentions_but_hands_out_its_own_list() -> None:
    text = "Llama-3.1-70B on 8xH100 and two A100s with vLLM"
    gpus = INDEXES.gpus
    first = gpus.find(text)
    first.append("changed by the caller")
    again = gpus.find(text)
    assert again == first[:-1] == NameIndex(CATALOG.gpus, strip_gpu_words=True).find(text)
    assert [(m.item_id, m.text) for m in again] == [("h100-sxm", "H100"), ("a100-80gb", "A100s")]
    # another index looks through the same text (its words read once) for its own names
    assert [(m.item_id, m.text) for m in INDEXES.models.find(text)] == [("llama-3.1-70b", "Llama-3.1-70B")]


def test_an_index_forgets_old_texts_beyond_its_bound() -> None:
    gpus = NameIndex(CATALOG.gpus, strip_gpu_words=True)
    texts = [f"question {i} about the H100" for i in range(40)]
    assert all(len(gpus.find(t)) == 1 for t in texts)
    assert len(gpus._found) <= 16


QUESTION = "Llama-3.1-70B on 2x H100, 8k prompts, 512 output tokens, 64 concurrent users; latency matters"


def _model() -> EffectModel:
    return EffectModel(CATALOG, plan_workload(QUESTION, CATALOG, None, None, INDEXES))


def test_a_fitted_model_has_its_own_baseline_and_metric() -> None:
    """The baseline is kept once run; a model fitted with more techniques measures from its own reference."""
    model = _model()
    before, metric = model.baseline(), model.metric()
    assert before["memory"]["fits"] is False and metric[0] == "memory.total_gb"
    fitted = model.fitted([CATALOG.techniques["fp8-inference"]])
    assert fitted.baseline() != before and fitted.baseline() == _model().fitted([CATALOG.techniques["fp8-inference"]]).baseline()
    assert model.baseline() == before == _model().baseline()
    fitting = model.fitted([CATALOG.techniques["fp8-inference"], CATALOG.techniques["kv-cache-quantization"]])
    assert fitting.baseline()["memory"]["fits"] is True
    assert fitting.metric() == ("latency_ms", "ms", False) and model.metric() == metric


def test_the_metric_follows_the_objective() -> None:
    model = _model().fitted([CATALOG.techniques["fp8-inference"], CATALOG.techniques["kv-cache-quantization"]])
    expected = {"latency": ("latency_ms", "ms", False), "throughput": ("throughput_tokens_per_s", "tokens/s", True),
                "ttft": ("ttft_ms", "ms", False)}
    for objective in ("latency", "throughput", "ttft", "latency"):
        model.workload.objective = objective
        assert model.metric() == expected[objective]
