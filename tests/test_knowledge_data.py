"""Every bundled data file validates, and the files agree with each other and with papers.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.knowledge.catalog import Catalog, normalize_name, read_front_matter, read_yaml, validate
from agent.knowledge.schemas import DTYPES, TRANSFORM_PARAMS, CardMeta, GpuSpec, ModelSpec, Technique

DATA = Path(__file__).resolve().parents[1] / "data"
GPU_FILES = sorted((DATA / "gpus").glob("*.yaml"))
MODEL_FILES = sorted((DATA / "models").glob("*.yaml"))
TECHNIQUE_FILES = sorted((DATA / "techniques").glob("*.yaml"))
CARD_FILES = sorted((DATA / "cards").glob("*.md"))

REQUIRED_GPUS = {"h100-sxm", "h100-pcie", "h200", "b200", "a100-40gb", "a100-80gb", "a10", "l4", "l40s",
                 "rtx-4090", "rtx-3090", "v100", "mi300x"}
REQUIRED_MODELS = {"llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
                   "llama-3.2-1b", "llama-3.2-3b", "mistral-7b", "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b",
                   "qwen2.5-72b", "deepseek-v3", "opt-13b", "opt-30b", "opt-66b", "opt-175b", "gpt-j-6b",
                   "falcon-40b", "mamba-2.8b", "jamba-v0.1"}
# Card roles that may cite a paper no technique uses.
UNBACKED_ROLES = {"background", "off-topic", "supporting"}
CARD_FIELDS_FROM_PAPERS = ("arxiv_id", "title", "first_author", "year", "topic")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


def _name(path: Path) -> str:
    return path.stem


# ---------------------------------------------------------------- each file validates

@pytest.mark.parametrize("path", GPU_FILES, ids=_name)
def test_gpu_file_validates(path: Path) -> None:
    gpu = validate(GpuSpec, read_yaml(path), str(path))
    assert gpu.id == path.stem


@pytest.mark.parametrize("path", MODEL_FILES, ids=_name)
def test_model_file_validates(path: Path) -> None:
    model = validate(ModelSpec, read_yaml(path), str(path))
    assert model.id == path.stem


@pytest.mark.parametrize("path", TECHNIQUE_FILES, ids=_name)
def test_technique_file_validates(path: Path) -> None:
    tech = validate(Technique, read_yaml(path), str(path))
    assert tech.id == path.stem


@pytest.mark.parametrize("path", CARD_FILES, ids=_name)
def test_card_front_matter_validates(path: Path) -> None:
    meta = validate(CardMeta, read_front_matter(path), str(path))
    assert meta.id == path.stem
    assert "\n## " in path.read_text(encoding="utf-8"), "card has no '## ' sections"


def test_required_gpus_and_models_present(catalog: Catalog) -> None:
    assert REQUIRED_GPUS - set(catalog.gpus) == set()
    assert REQUIRED_MODELS - set(catalog.models) == set()


def test_at_least_70_techniques(catalog: Catalog) -> None:
    assert len(catalog.techniques) >= 70


# ---------------------------------------------------------------- GPUs

def _numeric_leaves(data: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every number (and compute capability / gfx string) in a GPU file."""
    paths: list[str] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key in ("sources", "source"):
            continue
        if isinstance(value, dict):
            paths += _numeric_leaves(value, path + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool) or key in ("compute_capability", "gfx"):
            if value is not None:
                paths.append(path)
    return paths


@pytest.mark.parametrize("path", GPU_FILES, ids=_name)
def test_every_gpu_number_has_a_source(path: Path) -> None:
    raw = read_yaml(path)
    sources = raw.get("sources", {})

    def covered(leaf: str) -> bool:
        parts = leaf.split(".")
        return any(".".join(parts[:i]) in sources for i in range(1, len(parts) + 1))

    assert [leaf for leaf in _numeric_leaves(raw) if not covered(leaf)] == []
    assert [key for key, text in sources.items() if not str(text).strip()] == []


@pytest.mark.parametrize("path", GPU_FILES, ids=_name)
def test_dense_at_most_sparse(path: Path) -> None:
    gpu = validate(GpuSpec, read_yaml(path), str(path))
    for dtype in DTYPES:
        dense, sparse = getattr(gpu.dense_tflops, dtype), getattr(gpu.sparse_tflops, dtype)
        if sparse is not None:
            assert dense is not None and dense <= sparse, dtype
            # 2:4 sparsity doubles the peak; 3% slack for vendor rounding (L40S: 362.05 dense, 733 sparse)
            assert sparse == pytest.approx(2 * dense, rel=0.03), dtype


@pytest.mark.parametrize("path", GPU_FILES, ids=_name)
def test_gpu_efficiency_is_measured_or_marked_assumed(path: Path) -> None:
    gpu = validate(GpuSpec, read_yaml(path), str(path))
    assert bool(gpu.measured) != gpu.efficiency.assumed
    if gpu.efficiency.assumed:
        assert "assumption" in gpu.efficiency.source and "assumption" in gpu.sources["efficiency.gemm"]


@pytest.mark.parametrize(("gpu_id", "gemm_tflops", "copy_tb_s"), [("h100-sxm", 798, 3.0), ("h200", 788, 4.3)])
def test_hopper_efficiency_matches_measurement(catalog: Catalog, gpu_id: str, gemm_tflops: float,
                                               copy_tb_s: float) -> None:
    gpu = catalog.gpus[gpu_id]
    assert gpu.efficiency.gemm * gpu.peak_flops("bf16") / 1e12 == pytest.approx(gemm_tflops, rel=0.005)
    assert gpu.efficiency.memory * gpu.bandwidth_bytes_s / 1e12 == pytest.approx(copy_tb_s, rel=0.005)


# ---------------------------------------------------------------- models

def _params_from_shape(m: ModelSpec) -> tuple[float, float]:
    """Weights of a (non-MLA) transformer from its shape: embeddings, attention, MLP or experts.

    Norms, biases, routers and attention sinks are left out (well under 1%). q/o projections are
    heads x head_dim wide, which differs from hidden_size in Gemma, Qwen3 and gpt-oss. Routed experts are
    moe_intermediate_size wide (Mixtral-style configs reuse intermediate_size); shared experts run for every
    token, shared_expert_intermediate_size wide where the config gives it (Qwen2-MoE: one such expert).
    """
    h = m.hidden_size
    matrices = 3 if m.gated_mlp else 2
    embeddings = m.vocab_size * h * (1 if m.tie_word_embeddings else 2)
    attention = 2 * h * m.num_attention_heads * m.head_dim + 2 * h * m.kv_heads * m.head_dim
    mlp = matrices * h * (m.intermediate_size or 0)
    expert = matrices * h * (m.moe_intermediate_size or m.intermediate_size or 0)
    n_shared = m.n_shared_experts or (1 if m.shared_expert_intermediate_size else 0)
    shared = n_shared * matrices * h * (m.shared_expert_intermediate_size or m.moe_intermediate_size
                                        or m.intermediate_size or 0)
    moe_layers = m.moe_layer_count
    dense_layers = m.num_hidden_layers - moe_layers
    base = embeddings + m.attention_layer_count * attention + dense_layers * mlp + moe_layers * shared
    experts_total = moe_layers * (m.num_experts or 0) * expert
    experts_active = moe_layers * (m.num_experts_per_tok or 0) * expert
    return base + experts_total, base + experts_active


# MLA attention (DeepSeek) and SSM mixers (Mamba, Jamba) have other weight shapes than q/k/v/o projections.
SHAPE_CHECKED = sorted(p.stem for p in MODEL_FILES if p.stem not in {"deepseek-v3", "mamba-2.8b", "jamba-v0.1"})


@pytest.mark.parametrize("model_id", SHAPE_CHECKED)
def test_params_match_shape(catalog: Catalog, model_id: str) -> None:
    model = catalog.models[model_id]
    total, active = _params_from_shape(model)
    assert total == pytest.approx(model.params_total, rel=0.01)
    assert active == pytest.approx(model.params_active, rel=0.01)


@pytest.mark.parametrize(
    ("model_id", "head_dim", "kv_heads", "is_moe", "attention_layers", "moe_layers", "ssm_layers", "kv_elements"),
    [
        ("llama-3.1-70b", 128, 8, False, 80, 0, 0, 80 * 2 * 8 * 128),
        ("llama-2-7b", 128, 32, False, 32, 0, 0, 32 * 2 * 32 * 128),
        ("mixtral-8x7b", 128, 8, True, 32, 32, 0, 32 * 2 * 8 * 128),
        ("deepseek-v3", 192, 128, True, 61, 58, 0, 61 * (512 + 64)),
        ("jamba-v0.1", 128, 8, True, 4, 16, 28, 4 * 2 * 8 * 128),
        ("mamba-2.8b", None, 0, False, 0, 0, 64, 0),
        ("gpt-j-6b", 256, 16, False, 28, 0, 0, 28 * 2 * 16 * 256),
    ],
)
def test_model_derived_fields(catalog: Catalog, model_id: str, head_dim: int | None, kv_heads: int, is_moe: bool,
                              attention_layers: int, moe_layers: int, ssm_layers: int, kv_elements: int) -> None:
    m = catalog.models[model_id]
    assert (m.head_dim, m.kv_heads, m.is_moe, m.attention_layer_count, m.moe_layer_count, m.ssm_layer_count,
            m.kv_cache_elements_per_token) == (head_dim, kv_heads, is_moe, attention_layers, moe_layers,
                                               ssm_layers, kv_elements)


# ---------------------------------------------------------------- cross-references

def test_technique_papers_exist(catalog: Catalog) -> None:
    missing = [(t.id, p) for t in catalog.techniques.values() for p in t.papers if p not in catalog.papers]
    assert missing == []


def test_technique_relations_point_at_techniques(catalog: Catalog) -> None:
    bad = [(t.id, kind, other) for t in catalog.techniques.values()
           for kind, others in t.relations.model_dump().items() for other in others
           if other not in catalog.techniques or other == t.id]
    assert bad == []


def test_technique_params_have_sources(catalog: Catalog) -> None:
    bad = [(t.id, k) for t in catalog.techniques.values() for k in t.cost_model.params
           if not t.cost_model.param_sources.get(k)]
    assert bad == []
    assert set(TRANSFORM_PARAMS) >= {t.cost_model.transform for t in catalog.techniques.values()}


def test_card_front_matter_matches_papers(catalog: Catalog) -> None:
    mismatches = []
    for meta in catalog.cards.values():
        paper = catalog.papers.get(meta.id)
        if paper is None:
            mismatches.append((meta.id, "not in papers.yaml"))
            continue
        for field in CARD_FIELDS_FROM_PAPERS:
            if getattr(meta, field) != getattr(paper, field):
                mismatches.append((meta.id, field))
    assert mismatches == []


def test_card_techniques_exist(catalog: Catalog) -> None:
    bad = [(c.id, t) for c in catalog.cards.values() for t in c.techniques if t not in catalog.techniques]
    assert bad == []


def test_papers_yaml_cards_exist(catalog: Catalog) -> None:
    missing = [p.id for p in catalog.papers.values() if p.card and not (DATA / "cards" / p.card).is_file()]
    assert missing == []


def test_every_arxiv_paper_is_backed(catalog: Catalog) -> None:
    cited = {pid for t in catalog.techniques.values() for pid in t.papers}
    unbacked = []
    for paper in catalog.papers.values():
        if not paper.arxiv_id or paper.id in cited:
            continue
        card = catalog.cards.get(paper.id)
        if card is None or card.role not in UNBACKED_ROLES:
            unbacked.append((paper.id, card.role if card else "no card"))
    assert unbacked == []


def test_names_unique_across_kinds(catalog: Catalog) -> None:
    owners: dict[str, set[str]] = {}
    for kind, items in (("gpu", catalog.gpus), ("model", catalog.models), ("technique", catalog.techniques)):
        for item in items.values():
            for label in {item.id, *item.aliases}:
                owners.setdefault(normalize_name(label), set()).add(f"{kind}:{item.id}")
    assert {key: sorted(o) for key, o in owners.items() if len(o) > 1} == {}


def test_technique_params_are_in_range(catalog: Catalog) -> None:
    from agent.knowledge.schemas import PARAM_RANGES, check_param

    assert all(set(names) <= set(PARAM_RANGES.get(t, {})) for t, names in TRANSFORM_PARAMS.items())
    for tech in catalog.techniques.values() if isinstance(catalog.techniques, dict) else catalog.techniques:
        for name, value in tech.cost_model.params.items():
            check_param(tech.cost_model.transform, name, value, label=tech.id)  # raises when out of range
