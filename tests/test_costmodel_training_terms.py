"""Training cost model terms: memory-bound kernels, FP8 linear layers and casts, FlashAttention activations,
context parallel, interleaved pipeline depth, data-parallel overlap."""

from pathlib import Path

import pytest

from agent.costmodel import TrainingWorkload, comm, estimate_training
from agent.costmodel.specs import shape_from_spec
from agent.costmodel.training import bubble_fraction, compute_s, step_flops
from agent.costmodel.training_compute import attention_s, linear_shape_factor
from agent.costmodel.training_comm import BUCKET_MIN_PARAMS, pp_comm_s
from agent.costmodel.training_memory import activation_bytes_per_layer, training_memory_gb
from agent.costmodel.training_traffic import (
    elementwise_terms,
    fp8_cast_bytes,
    fp8_cast_term,
    optimizer_bytes_per_gpu,
    term_bytes_per_gpu,
)
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

DATA = Path(__file__).resolve().parents[1] / "data"
CATALOG = Catalog.load(DATA)
# a small GPT-style shape: MHA, plain (non-gated) MLP of 4h
TINY = shape_from_spec({"id": "tiny", "params_total": 1e9, "hidden_size": 1024, "intermediate_size": 4096,
                        "num_hidden_layers": 2, "num_attention_heads": 8, "head_dim": 128, "vocab_size": 1000,
                        "gated_mlp": False})


def test_activation_bytes_without_and_with_flash_attention():
    s, b, h, a = 1024, 1, 1024, 16
    sbh = s * b * h  # 1,048,576
    # Korthikanti: sbh(34 + 5as/h) = 1,048,576 x (34 + 80)
    assert activation_bytes_per_layer(s, b, h, a, 1, False, "none") == 119_537_664
    # fused attention: the 5as^2b term goes, a 4-byte logsumexp per head and token stays: 34 sbh + 4as
    assert activation_bytes_per_layer(s, b, h, a, 1, False, "none", flash_attention=True) == 34 * sbh + 4 * a * s
    assert 34 * sbh + 4 * a * s == 35_717_120
    # tensor parallel 2 with sequence parallel: everything over 2, logsumexp heads too
    assert activation_bytes_per_layer(s, b, h, a, 2, True, "none", flash_attention=True) == (34 * sbh + 4 * a * s) / 2


def test_fp8_cast_bytes_of_one_linear_input():
    # a 4096-token x 8192-wide bf16 input: read 2 B, write 1 B FP8 and 1 B transposed (Hopper needs TN)
    assert fp8_cast_bytes(4096 * 8192, transposed_copy=True) == 4096 * 8192 * 4 == 134_217_728
    assert fp8_cast_bytes(4096 * 8192, transposed_copy=False) == 4096 * 8192 * 3
    # current scaling reads the tensor once more for its amax before casting
    assert fp8_cast_bytes(4096 * 8192, transposed_copy=True, current_scaling=True) == 4096 * 8192 * 6


def test_current_scaling_costs_more_cast_traffic_than_delayed():
    delayed, current = run(dtype="fp8"), run(dtype="fp8", fp8_scaling="current")
    # per element 4 B -> 6 B on Hopper (transposed copy): 1.5x the cast time, nothing else changes
    assert current.breakdown_s["fp8_cast_s"] == pytest.approx(1.5 * delayed.breakdown_s["fp8_cast_s"])
    assert current.breakdown_s["compute_s"] == delayed.breakdown_s["compute_s"]
    assert any("current scaling" in a for a in current.assumptions)


def test_fp8_cast_term_counts_the_four_linear_layers():
    term = fp8_cast_term(TINY, transposed_copy=True)
    h, q, kv, f = 1024, 1024, 1024, 4096
    assert term.forward.hidden_bytes == 2 * h * 4            # QKV and first MLP inputs
    assert term.forward.sharded_bytes == (q + f) * 4         # out-proj and second MLP inputs
    assert term.backward.hidden_bytes == 2 * h * 4           # out-proj and second MLP output gradients
    assert term.backward.sharded_bytes == (q + 2 * kv + f) * 4  # QKV and first MLP output gradients


def test_elementwise_bytes_per_token_and_layer():
    terms = elementwise_terms(TINY, seq_len=1024, flash_attention=True)
    assert set(terms) == {"norm", "residual", "activation", "rotary"}
    h, f = 1024, 4096
    assert terms["norm"].forward.hidden_bytes == 2 * 2 * h * 2       # 2 norms x (read h + write h) x 2 B
    assert terms["norm"].backward.hidden_bytes == 2 * 3 * h * 2
    assert terms["residual"].forward.hidden_bytes == 2 * 3 * h * 2   # 2 adds x (read 2h + write h)
    assert terms["activation"].forward.sharded_bytes == 2 * f * 2    # GELU: read f, write f
    assert terms["activation"].backward.sharded_bytes == 3 * f * 2
    unfused = elementwise_terms(TINY, seq_len=1024, flash_attention=False)
    # softmax (read + write) and dropout (read + write + 1-byte mask) over 8 heads x 1024 scores per token
    assert unfused["softmax_dropout"].forward.sharded_bytes == 8 * 1024 * (4 + 5)
    assert unfused["softmax_dropout"].backward.sharded_bytes == 8 * 1024 * (6 + 5)


@pytest.mark.parametrize("tp, sp, expected", [(1, False, 41_943_040), (2, False, 41_943_040), (2, True, 20_971_520)])
def test_norm_traffic_per_gpu_is_split_only_under_sequence_parallel(tp, sp, expected):
    # 1 sequence of 1024 tokens, 2 layers, (8h + 12h) bytes per token and layer = 20,480 B
    w = TrainingWorkload(seq_len=1024, global_batch=1, gpus=tp, tp=tp, sequence_parallel=sp)
    norm = elementwise_terms(TINY, 1024, True)["norm"]
    assert term_bytes_per_gpu(norm, TINY, w) == expected


def test_full_recompute_repeats_the_forward_traffic():
    norm = elementwise_terms(TINY, 1024, True)["norm"]
    plain = term_bytes_per_gpu(norm, TINY, TrainingWorkload(seq_len=1024, global_batch=1, gpus=1))
    full = term_bytes_per_gpu(norm, TINY, TrainingWorkload(seq_len=1024, global_batch=1, gpus=1, recompute="full"))
    assert full - plain == 1024 * 2 * 8 * 1024  # one more forward: 8h bytes per token and layer


@pytest.mark.parametrize("zero, expected", [(0, 28e9), (1, 3.5e9)])
def test_adam_step_traffic_of_the_shard(zero, expected):
    # 1e9 params; Adam reads 4+4+4+2 and writes 4+4+4+2 bytes per parameter; ZeRO-1 shards over 8 ranks
    w = TrainingWorkload(global_batch=8, gpus=8, zero_stage=zero)
    assert optimizer_bytes_per_gpu(TINY, w) == pytest.approx(expected)


def run(gpu="h100", model="llama-2-7b", **kw):
    defaults = dict(seq_len=2048, global_batch=64, micro_batch=1, gpus=8)
    return estimate_training(CATALOG.resolve_gpu(gpu), CATALOG.resolve_model(model),
                             TrainingWorkload(**{**defaults, **kw}))


def test_memory_bound_terms_are_in_the_breakdown_and_the_step():
    est = run()
    terms = {"norm_s", "residual_s", "activation_s", "rotary_s", "optimizer_s"}
    assert terms <= set(est.breakdown_s) and "fp8_cast_s" not in est.breakdown_s
    assert all(est.breakdown_s[k] > 0 for k in terms)
    assert est.step_time_s == pytest.approx(sum(est.breakdown_s.values()))


def test_fp8_runs_only_linear_gemms_at_fp8_and_adds_casts():
    bf16, fp8 = run(), run(dtype="fp8")
    from agent.costmodel.roofline import rates_for

    rates = rates_for(bf16.gpu)
    flops = step_flops(bf16.model, bf16.workload)
    # attention and the LM head keep their bf16 time; only the linear GEMMs go to the FP8 rate (same shapes)
    shape_f = linear_shape_factor(bf16.model, bf16.workload, rates)
    linear_bf16 = flops.linear / 8 / (rates.compute_tflops("bf16") * 1e12 * shape_f)
    linear_fp8 = flops.linear / 8 / (rates.compute_tflops("fp8") * 1e12 * shape_f)
    assert rates.compute_tflops("fp8") > rates.compute_tflops("bf16")
    assert bf16.breakdown_s["compute_s"] - fp8.breakdown_s["compute_s"] == pytest.approx(linear_bf16 - linear_fp8)
    assert fp8.breakdown_s["fp8_cast_s"] > 0
    assert any("FP8 only in the transformer blocks' linear GEMMs" in a for a in fp8.assumptions)
    # a GPU without FP8 tensor cores trains in bf16: no casts
    assert "fp8_cast_s" not in run(gpu="a100-80gb", dtype="fp8").breakdown_s


def test_unfused_attention_times_softmax_and_uses_gemm_rate():
    fused, unfused = run(), run(flash_attention=False)
    assert "softmax_dropout_s" in unfused.breakdown_s and "softmax_dropout_s" not in fused.breakdown_s
    assert unfused.memory_gb["activations_gb"] > 2 * fused.memory_gb["activations_gb"]


def test_llama_405b_activations_without_the_score_term():
    # the Llama 3 405B layout (arXiv:2407.21783, Table 4): 8,192 GPUs, tp 8, pp 16, dp 64, seq 8,192,
    # 16M tokens per batch; interleaved with 2 chunks per stage
    kw = dict(model="llama-3.1-405b", seq_len=8192, global_batch=2048, gpus=8192, tp=8, pp=16,
              schedule="interleaved")
    est = run(**kw)
    s, h, a, tp = 8192, 16384, 128, 8
    per_layer = s * h * (10 + 24 / tp) + 4 * a * s / tp       # 34 sbh without SP, plus the logsumexp
    held = 16 * (1 + 15 / (16 * 2))                           # p micro-batches x (1 + (p-1)/(p V))
    assert est.memory_gb["activations_gb"] == pytest.approx(per_layer * 126 / 16 * held / 1e9)
    assert est.memory_gb["activations_gb"] < 400  # was 1,316 GB with the S x S scores counted as stored
    unfused = run(**kw, flash_attention=False)
    assert unfused.memory_gb["activations_gb"] > 1300
    assert any("no S x S scores stored" in x for x in est.assumptions)
    with_sp = run(**kw, sequence_parallel=True)
    assert with_sp.memory_gb["activations_gb"] == pytest.approx(s * h * 34 / tp * 126 / 16 * held / 1e9, rel=1e-3)


def test_context_parallel_divides_activations_and_adds_kv_exchange():
    plain = run(gpus=8, global_batch=8, seq_len=32768, tp=2)
    cp2 = run(gpus=8, global_batch=8, seq_len=32768, tp=2, cp=2)
    assert cp2.workload.dp == 2
    assert cp2.memory_gb["activations_gb"] == pytest.approx(plain.memory_gb["activations_gb"] / 2, rel=1e-3)
    assert cp2.breakdown_s["cp_comm_s"] > 0 and "cp_comm_s" not in plain.breakdown_s
    # the same GPUs and tokens: the attention FLOPs per GPU are unchanged in total, split over cp ranks (the linear
    # GEMMs see half the rows per rank, so their tile and wave factor moves a little)
    assert cp2.breakdown_s["compute_s"] == pytest.approx(plain.breakdown_s["compute_s"], rel=0.01)


def test_context_parallel_group_wider_than_a_node_uses_the_internode_link():
    inside = run(gpus=16, global_batch=2, seq_len=65536, tp=4, cp=2)
    across = run(gpus=16, global_batch=2, seq_len=65536, tp=4, cp=4)
    # tp 4 x cp 4 spans 16 GPUs: the K/V ring leaves the node (50 GB/s per GPU instead of NVLink)
    per_pass_inside = inside.breakdown_s["cp_comm_s"] / (1 * 16 / 4)
    assert across.breakdown_s["cp_comm_s"] > 3 * per_pass_inside


@pytest.mark.parametrize("v, expected", [(1, 3 / 11), (2, 3 / 19), (4, 3 / 35)])
def test_interleave_depth_sets_the_bubble(v, expected):
    assert bubble_fraction("interleaved", 4, 8, interleave=v) == pytest.approx(expected)


def test_interleave_depth_multiplies_pipeline_messages():
    shape = shape_from_spec(CATALOG.resolve_model("llama-2-70b"))
    one = TrainingWorkload(gpus=8, pp=4, tp=2, global_batch=16, schedule="1f1b")
    four = TrainingWorkload(gpus=8, pp=4, tp=2, global_batch=16, schedule="interleaved", interleave=4)
    m, p = one.micro_batches, 4
    assert pp_comm_s(shape, four, 450.0) / pp_comm_s(shape, one, 450.0) == pytest.approx((4 * m + p - 1) / (m + p - 1))
    assert run(model="llama-2-70b", gpus=8, pp=4, tp=2, global_batch=16, schedule="interleaved",
               interleave=4).bubble_fraction == pytest.approx((p - 1) / (4 * m + p - 1))


def test_interleave_deeper_than_the_stage_is_refused():
    with pytest.raises(AccelsageError, match="interleave"):
        run(model="llama-2-7b", gpus=8, pp=8, global_batch=64, schedule="interleaved", interleave=8)


def test_data_parallel_reduction_hides_behind_backward_but_the_last_bucket():
    kw = dict(model="llama-2-7b", gpu="a100-80gb", gpus=16, global_batch=16, dp_link_gb_s=12.5)
    overlapped, serial = run(**kw), run(**kw, overlap_grad_reduce=False)
    assert "dp_overlapped_s" not in serial.breakdown_s
    hidden = -overlapped.breakdown_s["dp_overlapped_s"]
    dp_s = overlapped.breakdown_s["dp_comm_s"]
    assert dp_s == pytest.approx(comm.ring_allreduce_s(2 * overlapped.model.params_total, 16, 12.5))
    last_bucket = dp_s * BUCKET_MIN_PARAMS / overlapped.model.params_total
    per_micro = overlapped.breakdown_s["compute_s"] + sum(
        overlapped.breakdown_s[k] for k in ("norm_s", "residual_s", "activation_s", "rotary_s", "loss_s",
                                            "kernel_boundary_s"))
    assert hidden == pytest.approx(min(dp_s - last_bucket, per_micro * 2 / 3))
    assert serial.step_time_s - overlapped.step_time_s == pytest.approx(hidden)


@pytest.mark.parametrize("kw, words", [
    ({"gpus": 10, "tp": 4}, "multiple of tp x pp x cp"),
    ({"gpus": 16, "tp": 2, "cp": 2, "dp": 2}, "must equal gpus"),
    ({"gpus": 8, "cp": 2, "flash_attention": False}, "fused attention"),
    ({"gpus": 8, "interleave": 0}, "at least 1"),
    ({"gpus": 8, "fp8_scaling": "mxfp8"}, "fp8_scaling must be one of delayed, current"),
])
def test_inconsistent_layouts_are_refused_in_one_line(kw, words):
    with pytest.raises(AccelsageError, match=words) as err:
        TrainingWorkload(**{"global_batch": 64, **kw})
    assert "\n" not in str(err.value)


def test_compute_s_sums_its_parts():
    est = run()
    flops = step_flops(est.model, est.workload)
    from agent.costmodel.roofline import rates_for

    rates = rates_for(est.gpu)
    gemm = rates.compute_tflops("bf16") * 1e12
    shape_f = linear_shape_factor(est.model, est.workload, rates)
    expected = (flops.linear / (gemm * shape_f) + flops.lm_head / gemm
                + attention_s(flops, est.model, est.workload, rates)) / 8
    assert compute_s(flops, est.model, est.workload, rates, "bf16") == pytest.approx(expected)
    # the estimate runs the fused attention at the rate of llama-2-7b's causal 128-wide heads (FA3 Figure 5)
    shaped = (flops.linear / (gemm * shape_f) + flops.lm_head / gemm
              + attention_s(flops, est.model, est.workload, rates, 602 / 746)) / 8
    assert est.breakdown_s["compute_s"] == pytest.approx(shaped)


def test_training_memory_keeps_the_zero_figures():
    mem = training_memory_gb(TINY, TrainingWorkload(global_batch=8, gpus=8, zero_stage=3), 80.0)
    assert mem["params_gb"] + mem["grads_gb"] + mem["optimizer_gb"] == pytest.approx(16 * 1e9 / 8 / 1e9)
