"""GEMM efficiency by shape and dtype: tile padding, wave quantization, per-family data files."""

from pathlib import Path

import pytest

from agent.costmodel.efficiency import Tiles, padding_factor, shape_factor, wave_factor, weighted_shape_factor
from agent.costmodel.efficiency_data import (
    EFFICIENCIES_DIR,
    FamilyFile,
    family_for,
    load_families,
    load_links,
)
from agent.costmodel.forward import Setup, gemm_op
from agent.costmodel.knobs import Knobs
from agent.costmodel.roofline import attention_efficiency, gemm_efficiency_by_dtype, rates_for
from agent.costmodel.shapes import layer_counts, param_split
from agent.costmodel.specs import hardware_from_spec, shape_from_spec
from agent.costmodel.workload import ParallelConfig
from agent.knowledge.catalog import Catalog, read_yaml
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
HOPPER = Tiles(tile_m=128, tile_n=128, min_tile_m=64, reference_m=8192, reference_n=8192)


def hw(gpu_id: str):
    return hardware_from_spec(CATALOG.resolve_gpu(gpu_id))


@pytest.mark.parametrize("m, expected", [
    (1, 1 / 64),        # one decode token pays a whole 64-row tile
    (64, 1.0),
    (100, 100 / 128),   # 100 rows round up to one 128-row tile
    (200, 200 / 256),   # two 128-row tiles
    (8192, 1.0),
])
def test_padding_to_whole_tiles(m, expected):
    assert padding_factor(m, HOPPER) == pytest.approx(expected)


def test_waves_over_132_sms():
    # 8192^2 output: 128-wide tiles give 4096 tiles in 32 waves (the last 4/132 full), 64-wide 8192 in 63 waves,
    # 256-wide 2048 in 16; the best of the three is kept
    assert wave_factor(8192, 8192, HOPPER, 132) == pytest.approx(8192 / (63 * 132))
    # 132 tiles fill exactly one wave
    assert wave_factor(128 * 132, 128, HOPPER, 132) == pytest.approx(1.0)
    # 160 tiles of 128 on 148 SMs would leave most of a second wave idle; 64-wide tiles do better (320 in 3 waves)
    assert wave_factor(211, 10240, HOPPER, 148) == pytest.approx(320 / (3 * 148))


def test_split_k_fills_the_sms_of_a_skinny_gemm():
    # 64 x 1024: at most 16 tiles (64 wide); K = 8192 allows up to 32 splits, so 128 blocks on 132 SMs
    assert wave_factor(64, 1024, HOPPER, 132) == pytest.approx(16 / 132)
    assert wave_factor(64, 1024, HOPPER, 132, k=8192) == pytest.approx(128 / 132)


def test_reference_shape_has_factor_one_and_decode_is_lower():
    assert shape_factor(8192, 8192, HOPPER, 132) == pytest.approx(1.0)
    assert shape_factor(8, 8192, HOPPER, 132, k=8192) < 0.2


def test_weighted_factor_weighs_each_gemm_by_its_time():
    fast, slow = (8192.0, 8192.0), (64.0, 8192.0)
    f_fast = shape_factor(4096, 8192, HOPPER, 132, k=8192)
    f_slow = shape_factor(4096, 64, HOPPER, 132, k=8192)
    flops = 8192 * 8192 + 64 * 8192
    expected = flops / (8192 * 8192 / f_fast + 64 * 8192 / f_slow)
    assert weighted_shape_factor(4096, [fast, slow], HOPPER, 132) == pytest.approx(expected)


def test_no_sm_count_means_no_shape_effect():
    assert weighted_shape_factor(1, [(4096.0, 4096.0)], HOPPER, 0) == 1.0


def test_hopper_fp8_has_its_own_fraction():
    effs = gemm_efficiency_by_dtype(hw("h100"))
    assert effs["bf16"] == pytest.approx(0.807)        # accelsage H100 measurement
    assert effs["fp8"] == pytest.approx(0.709)         # MAMF H100 FP8, not the bf16 figure
    rates = rates_for(hw("h100"))
    assert rates.compute_tflops("fp8") == pytest.approx(1978.9 * 0.709)
    assert rates.compute_tflops("fp8") < 2 * rates.compute_tflops("bf16")


def test_mi300x_no_longer_borrows_h100_efficiencies():
    mi = rates_for(hw("mi300x"))
    assert mi.gemm_efficiency == pytest.approx(0.511)  # MAMF MI300X bf16
    assert mi.memory_gb_s == pytest.approx(5300 * 0.81)
    assert mi.tiles.tile_m == 256 and mi.sm_count == 304


@pytest.mark.parametrize("gpu_id, dtype, expected", [
    ("h100", "bf16", 0.75),       # FlashAttention-3 FP16
    ("h100", "fp8", 0.606),       # FlashAttention-3 FP8, ~1.2 PFLOP/s
    ("a100-80gb", "bf16", 0.615),  # FlashAttention-2
    ("mi300x", "bf16", 0.511),    # no published figure: the GEMM fraction
])
def test_attention_efficiency_by_vendor_and_dtype(gpu_id, dtype, expected):
    assert attention_efficiency(hw(gpu_id), dtype) == pytest.approx(expected)


def _gemm_scale(tokens: int) -> float:
    shape = shape_from_spec(CATALOG.resolve_model("llama-3.1-8b"))
    h100 = hw("h100")
    s = Setup(hw=h100, shape=shape, split=param_split(shape), counts=layer_counts(shape),
              parallel=ParallelConfig(), rates=rates_for(h100), knobs=Knobs())
    return gemm_op(s, tokens, 1, True, tokens).compute_scale


def test_decode_gemms_reach_a_lower_fraction_than_prefill():
    assert _gemm_scale(8) < 0.25          # 8 rows padded to 64
    assert _gemm_scale(8192) > 0.9


# --- the data files ---------------------------------------------------------------------------------------


def test_every_efficiency_file_validates():
    families = load_families()
    assert {f.family for f in families} >= {"nvidia-hopper", "nvidia-ampere", "amd-cdna3"}
    assert set(load_links().kinds) >= {"nvlink-4", "nvlink-bridge", "pcie", "infinity-fabric"}


def test_each_architecture_has_at_most_one_family():
    archs = [a for f in load_families() for a in f.architectures]
    assert len(archs) == len(set(archs))


def test_every_gpu_link_kind_is_described():
    kinds = {read_yaml(p)["interconnect"]["kind"] for p in (DATA / "gpus").glob("*.yaml")}
    assert kinds - {"none"} <= set(load_links().kinds)


@pytest.mark.parametrize("path", sorted(EFFICIENCIES_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_measured_figures_name_what_they_were_fitted_from(path):
    raw = read_yaml(path)
    if raw["family"] == "links":
        for kind in raw["kinds"].values():
            for algo in kind["allreduce"].values():
                assert algo.get("assumed") or algo.get("fitted_from"), algo
        return
    family = FamilyFile.model_validate(raw)
    for table in (family.gemm.fraction_of_peak, family.attention.fraction_of_peak):
        for figure in table.values():
            assert figure.assumed or figure.fitted_from
            assert figure.assumed == ("assumed" in figure.source.lower())


def test_family_bf16_figure_matches_a_gpu_file_of_that_family():
    by_arch: dict[str, set[float]] = {}
    for path in (DATA / "gpus").glob("*.yaml"):
        raw = read_yaml(path)
        by_arch.setdefault(raw["architecture"], set()).add(raw["efficiency"]["gemm"])
    for family in load_families():
        bf16 = family.gemm.fraction_of_peak.get("bf16")
        if bf16 is not None:
            assert any(bf16.value in by_arch.get(a, set()) for a in family.architectures), family.family


def test_a_figure_without_a_source_is_an_error(tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "family: bad\narchitectures: [x]\ngemm: {tile_m: 128, tile_n: 128, min_tile_m: 64, reference_m: 1,"
        " reference_n: 1, tiles_source: t, fraction_of_peak: {bf16: {value: 0.5, source: 'a measured figure'}}}\n")
    with pytest.raises(AccelsageError, match="bad.yaml"):
        load_families(tmp_path)


def test_unknown_architecture_has_no_family():
    assert family_for("turing") is None
    assert family_for("Hopper").family == "nvidia-hopper"
