"""Catalog loading (lazy, cached per path) and name resolution for GPUs, models, techniques and papers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.knowledge.catalog import Catalog, build_name_index
from agent.knowledge.schemas import CostModelSpec, ModelSpec, Technique
from index.errors import AccelsageError, NotFound

DATA = Path(__file__).resolve().parents[1] / "data"


def technique_record(tech_id: str, **changes: object) -> dict:
    """A valid technique file body; keyword arguments replace top-level fields."""
    record = {
        "id": tech_id, "name": tech_id.replace("-", " ").title(), "aliases": [], "family": "attention-kernel",
        "summary": "test entry", "phases": ["prefill"], "bottlenecks": ["memory-bandwidth"],
        "quality": {"lossless": True, "impact": "exact", "source": "test"},
        "requires": {"min_compute_capability": 8.0},
        "cost_model": {"transform": "attention_io", "params": {}, "param_sources": {}},
        "relations": {"composes_with": [], "conflicts_with": [], "supersedes": []},
        "papers": ["2307.08691"],
    }
    record.update(changes)
    return record


def write_mini_data(root: Path) -> Path:
    """A small data dir: two techniques, three papers, one card, no GPUs or models."""
    (root / "techniques").mkdir(parents=True)
    (root / "cards").mkdir()
    techniques = [
        technique_record("flash-attention-2", name="FlashAttention-2", aliases=["FA2", "flash attention 2"],
                         relations={"supersedes": ["gptq-test"]}),
        technique_record("gptq-test", name="GPTQ", aliases=["gptq 4bit"], family="quantization",
                         papers=[2210.17323, "2307.08691"],
                         cost_model={"transform": "weight_quant", "params": {"weight_bits": 4, "group_size": 128},
                                     "param_sources": {"weight_bits": "paper", "group_size": "paper"}}),
    ]
    for record in techniques:
        (root / "techniques" / f"{record['id']}.yaml").write_text(yaml.safe_dump(record))
    papers = [
        {"id": "2307.08691", "arxiv_id": "2307.08691", "title": "FlashAttention-2", "first_author": "Dao",
         "year": 2023, "venue": None, "topic": "attention-kernel", "kind": "paper", "card": "2307.08691.md"},
        {"id": "2210.17323", "arxiv_id": "2210.17323", "title": "GPTQ", "first_author": "Frantar", "year": 2022,
         "venue": None, "topic": "quantization", "kind": "paper", "card": "2210.17323.md"},
        {"id": "some-blog-post", "arxiv_id": None, "title": "A blog", "first_author": None, "year": None,
         "venue": None, "topic": "other", "kind": "blog", "card": "some-blog-post.md"},
    ]
    (root / "papers.yaml").write_text(yaml.safe_dump(papers))
    (root / "cards" / "2307.08691.md").write_text(
        "---\nid: '2307.08691'\narxiv_id: '2307.08691'\ntitle: FlashAttention-2\nfirst_author: Dao\nyear: 2023\n"
        "venue: null\ntopic: attention-kernel\nkind: paper\nrole: core\ntechniques: [flash-attention-2]\n---\n"
        "## Idea\nBetter work partitioning.\n")
    return root


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(DATA)


@pytest.fixture
def mini(tmp_path: Path) -> Catalog:
    return Catalog.load(write_mini_data(tmp_path / "data"))


@pytest.mark.parametrize(
    ("name", "gpu_id"),
    [
        ("h100", "h100-sxm"), ("H100 SXM5 80GB", "h100-sxm"), ("h100_sxm", "h100-sxm"), ("H100-SXM", "h100-sxm"),
        ("  NVIDIA H100  ", "h100-sxm"), ("H100 PCIe", "h100-pcie"), ("H200", "h200"), ("h200 sxm 141gb", "h200"),
        ("A100", "a100-80gb"), ("A100 40GB", "a100-40gb"), ("a100_sxm4_80gb", "a100-80gb"), ("B200", "b200"),
        ("RTX 4090", "rtx-4090"), ("4090", "rtx-4090"), ("GeForce RTX 3090", "rtx-3090"), ("L40S", "l40s"),
        ("l4", "l4"), ("A10", "a10"), ("Tesla V100", "v100"), ("MI300X", "mi300x"), ("AMD Instinct MI300X", "mi300x"),
        ("NVIDIA GeForce RTX 4090 24GB", "rtx-4090"), ("NVIDIA Tesla V100", "v100"),
    ],
)
def test_resolve_gpu(catalog: Catalog, name: str, gpu_id: str) -> None:
    assert catalog.resolve_gpu(name).id == gpu_id


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("llama-3.1-70b", "llama-3.1-70b"), ("llama3-70b", "llama-3.1-70b"), ("Llama-3-70B", "llama-3.1-70b"),
        ("Llama 3.1 70B Instruct", "llama-3.1-70b"), ("meta-llama/Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b"),
        ("Llama-3-8B", "llama-3.1-8b"), ("LLAMA_3.1_8B", "llama-3.1-8b"), ("Vicuna-13B", "llama-2-13b"),
        ("lmsys/vicuna-13b-v1.5", "llama-2-13b"), ("Llama-2-7b-chat-hf", "llama-2-7b"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b"), ("Mixtral 8x22B", "mixtral-8x22b"),
        ("Qwen/Qwen2.5-72B-Instruct", "qwen2.5-72b"), ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
        ("OPT-175B", "opt-175b"), ("facebook/opt-13b", "opt-13b"), ("EleutherAI/gpt-j-6b", "gpt-j-6b"),
        ("Falcon 40B", "falcon-40b"), ("state-spaces/mamba-2.8b", "mamba-2.8b"), ("Jamba", "jamba-v0.1"),
        ("Llama 3.2 1B Instruct", "llama-3.2-1b"), ("Mistral-7B-Instruct-v0.1", "mistral-7b"),
    ],
)
def test_resolve_model(catalog: Catalog, name: str, model_id: str) -> None:
    assert catalog.resolve_model(name).id == model_id


@pytest.mark.parametrize(
    ("kind", "name", "expected_suggestion"),
    [("gpu", "h1000", "h100-sxm"), ("gpu", "a100 96gb", "a100-80gb"), ("model", "llama-3.1-7b", "llama-3.1-8b"),
     ("model", "mixtral-8x9b", "mixtral-8x7b")],
)
def test_unknown_name_suggests_closest(catalog: Catalog, kind: str, name: str, expected_suggestion: str) -> None:
    resolve = catalog.resolve_gpu if kind == "gpu" else catalog.resolve_model
    with pytest.raises(NotFound) as info:
        resolve(name)
    assert expected_suggestion in info.value.suggestions
    assert 1 <= len(info.value.suggestions) <= 3
    assert "\n" not in str(info.value) and name in str(info.value)


@pytest.mark.parametrize(
    ("kind", "name", "first"),
    [("technique", "flash", "flash"), ("technique", "flashatten", "flash-attention"),
     ("technique", "kv-quant", "kv-cache-quantization"), ("technique", "kv quant", "kv-cache-quantization"),
     ("technique", "sage", "sage-attention"), ("technique", "tensor par", "tensor-parallel"),
     ("gpu", "h1000", "h100-sxm"), ("gpu", "l40x", "l40"), ("model", "mixtral-8x9b", "mixtral-8x7b")],
)
def test_suggestions_rank_shared_starts_and_words_before_spelling(catalog: Catalog, kind: str, name: str,
                                                                  first: str) -> None:
    resolve = {"technique": catalog.resolve_technique, "gpu": catalog.resolve_gpu, "model": catalog.resolve_model}
    with pytest.raises(NotFound) as info:
        resolve[kind](name)
    assert info.value.suggestions[0].startswith(first)
    if name == "flash":  # every suggestion is a Flash* technique; MLA (alias FlashMLA) is not one
        assert all(catalog.techniques[t].name.lower().startswith("flash") for t in info.value.suggestions)
        assert "multi-head-latent-attention" not in info.value.suggestions


def test_suggestion_order_start_then_words_then_id_or_name_then_spelling() -> None:
    from types import SimpleNamespace

    from agent.knowledge.catalog import suggest

    def entry(name: str, *aliases: str) -> SimpleNamespace:
        return SimpleNamespace(name=name, aliases=list(aliases))

    items = {"blaze-kernels": entry("Blaze Kernels"),  # starts like 'blaze': first
             "turbo-cache": entry("Turbo Cache", "BlazeCache"),  # starts like it only through an alias
             "kernel-blaze-fusion": entry("Kernel Blaze Fusion"),  # shares the word
             "blast": entry("Blast")}  # spelt alike, nothing more
    assert suggest("blaze", items) == ["blaze-kernels", "turbo-cache", "kernel-blaze-fusion"]
    assert suggest("zzzz", items) == []


@pytest.mark.parametrize(("name", "tech_id"), [("FA2", "flash-attention-2"), ("flash attention 2", "flash-attention-2"),
                                               ("FlashAttention-2", "flash-attention-2"), ("GPTQ_4BIT", "gptq-test")])
def test_resolve_technique(mini: Catalog, name: str, tech_id: str) -> None:
    assert mini.resolve_technique(name).id == tech_id


def test_unknown_technique(mini: Catalog) -> None:
    with pytest.raises(NotFound) as info:
        mini.resolve_technique("fa3")
    assert info.value.suggestions[0] == "flash-attention-2"


@pytest.mark.parametrize(("query", "paper_id"), [("2307.08691", "2307.08691"), ("arXiv:2307.08691v2", "2307.08691"),
                                                 ("some-blog-post", "some-blog-post")])
def test_paper_lookup(mini: Catalog, query: str, paper_id: str) -> None:
    assert mini.paper(query).id == paper_id


def test_techniques_for_paper(mini: Catalog) -> None:
    assert [t.id for t in mini.techniques_for_paper("2307.08691")] == ["flash-attention-2", "gptq-test"]
    assert [t.id for t in mini.techniques_for_paper("arXiv:2210.17323")] == ["gptq-test"]
    assert mini.techniques_for_paper("some-blog-post") == []
    with pytest.raises(NotFound):
        mini.techniques_for_paper("2307.0869")


def test_yaml_numbers_become_strings(mini: Catalog) -> None:
    tech = mini.techniques["gptq-test"]
    assert tech.papers == ["2210.17323", "2307.08691"]
    assert tech.requires.min_compute_capability == "8.0"
    assert mini.cards["2307.08691"].role == "core"


def test_load_is_cached_per_resolved_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_mini_data(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert Catalog.load(root) is Catalog.load("data") is Catalog.load(str(root) + "/")
    other = write_mini_data(tmp_path / "other")
    assert Catalog.load(other) is not Catalog.load(root)


def test_kinds_load_lazily(tmp_path: Path) -> None:
    root = write_mini_data(tmp_path / "data")
    (root / "gpus").mkdir()
    (root / "gpus" / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
    catalog = Catalog.load(root)
    assert len(catalog.techniques) == 2  # a broken GPU file does not stop techniques from loading
    with pytest.raises(AccelsageError, match="broken.yaml"):
        _ = catalog.gpus


@pytest.mark.parametrize(
    ("change", "message"),
    [({"famly": "quantization"}, "famly"), ({"family": "magic"}, "family"), ({"papers": []}, "papers"),
     ({"phases": ["inference"]}, "phases"), ({"id": "Bad_Id"}, "id")],
)
def test_bad_technique_file_names_file_and_field(tmp_path: Path, change: dict, message: str) -> None:
    root = write_mini_data(tmp_path / "data")
    record = technique_record("bad-one", **change)
    (root / "techniques" / "bad-one.yaml").write_text(yaml.safe_dump(record))
    with pytest.raises(AccelsageError, match=rf"bad-one\.yaml: .*{message}"):
        _ = Catalog.load(root).techniques


def test_file_name_must_equal_id(tmp_path: Path) -> None:
    root = write_mini_data(tmp_path / "data")
    (root / "techniques" / "renamed.yaml").write_text(yaml.safe_dump(technique_record("other-id")))
    with pytest.raises(AccelsageError, match="does not match the file name"):
        _ = Catalog.load(root).techniques


def test_transform_params_are_checked() -> None:
    with pytest.raises(ValueError, match="takes no params"):
        CostModelSpec(transform="kv_quant", params={"weight_bits": 4})
    with pytest.raises(ValueError):
        CostModelSpec(transform="not_a_transform")


def test_alias_shared_by_two_entries_is_an_error() -> None:
    a = Technique.model_validate(technique_record("tech-a", aliases=["same"]))
    b = Technique.model_validate(technique_record("tech-b", aliases=["SAME"]))
    with pytest.raises(AccelsageError, match="(?i)same"):
        build_name_index({"tech-a": a, "tech-b": b})


def test_gpu_conveniences(catalog: Catalog) -> None:
    h100, a100, v100 = catalog.gpus["h100-sxm"], catalog.gpus["a100-80gb"], catalog.gpus["v100"]
    assert h100.peak_flops("bf16") == pytest.approx(989.4e12)
    assert h100.peak_flops("bfloat16") == h100.peak_flops("BF16")
    assert h100.peak_flops("fp8") == pytest.approx(1978.9e12)
    assert h100.memory_bytes == 80 * 2**30
    assert h100.bandwidth_bytes_s == pytest.approx(3.35e12)
    assert (h100.supports("fp8"), a100.supports("fp8"), a100.supports("bf16"), v100.supports("bf16")) == (
        True, False, True, False)
    with pytest.raises(AccelsageError, match="no fp8"):
        a100.peak_flops("fp8")
    with pytest.raises(AccelsageError, match="unknown dtype"):
        h100.supports("fp7")


def test_model_shape_defaults_follow_hf() -> None:
    base = {"id": "tiny", "name": "Tiny", "family": "test", "architecture": "dense", "attention": "mha",
            "params_total": 1e6, "params_active": 1e6, "hidden_size": 256, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 1000, "source": "test"}
    model = ModelSpec.model_validate(base)
    assert (model.head_dim, model.kv_heads, model.is_moe, model.moe_layer_count) == (64, 4, False, 0)
    with pytest.raises(ValueError, match="params_active"):
        ModelSpec.model_validate({**base, "params_active": 2e6})
    with pytest.raises(ValueError, match="num_local_experts"):
        ModelSpec.model_validate({**base, "architecture": "moe"})
