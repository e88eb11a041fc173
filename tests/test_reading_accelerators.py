"""The reader on accelerator names: a part outside the catalog is said to be unknown, never read as the catalog GPU
it resembles; machine types and system phrases give the right GPU and count.

Phrasings here are written for the mechanism they test; they are not taken from the eval sets.
"""

from __future__ import annotations

import pytest

from agent.workload import plan_workload


def read(catalog, indexes, text):
    return plan_workload(text, catalog, indexes=indexes)


@pytest.mark.parametrize(("text", "name"), [
    # older NVIDIA Tesla parts, with or without the Tesla prefix
    ("a rack of K40s for batch embedding jobs", "K40s"),
    ("M40 24GB cards from a surplus sale, llama 13b in 8 bit", "M40"),
    ("P4 8GB cards in the old inference fleet, mistral 7b awq", "P4"),
    # Jetson modules other than the AGX Orin the catalog holds
    ("Jetson Orin NX 16GB on the robot, qwen2.5 1.5b", "Jetson Orin NX"),
    ("an AGX Xavier running a tiny llama", "AGX Xavier"),
    # Apple silicon chips and tiers the catalog lacks
    ("M2 Max 96GB MacBook, llama 3 8b in mlx", "M2 Max"),
    ("on my M4 mac mini with 32GB, gemma 2b", "M4"),
    # other vendors' accelerators and their cloud machine types
    ("Cloud TPU v5p pod slice, pretraining a 7b", "Cloud TPU v5p"),
    ("trn1.32xlarge with neuronx, llama 3 8b fine-tune", "trn1.32xlarge"),
    ("our Trainium2 fleet serves llama 70b", "Trainium2"),
    ("Huawei Ascend 910C cluster, qwen 72b serving", "Huawei Ascend 910C"),
    ("Intel Data Center GPU Max 1550, llama 2 13b with ipex", "Intel Data Center GPU Max 1550"),
    ("Radeon PRO W7900 48GB, llama.cpp with rocm", "Radeon PRO W7900"),
    ("a Strix Halo mini PC with 128GB, qwen3 30b a3b", "Strix Halo"),
    # a catalog name carried on by a word that makes it another card
    ("RTX 4080 Super, llama 3 8b with exllama", "RTX 4080 Super"),
    ("my 3090 Ti runs mistral 7b in 8 bit", "3090 Ti"),
    ("RTX 4090 Laptop GPU, phi-3 mini", "RTX 4090 Laptop"),
])
def test_accelerators_outside_the_catalog_are_unknown(catalog, indexes, text, name):
    w = read(catalog, indexes, text)
    assert (w.unknown_gpu, w.origin("gpu")) == (name, "assumed")


@pytest.mark.parametrize(("text", "name"), [
    # the catalog GPU is named only as what to weigh against the part they run
    ("we are on Gaudi 3 today; would H200s be faster for llama 70b?", "Gaudi 3"),
    ("Ascend 910B x8 running qwen 32b, leadership wants us to compare with A800", "Ascend 910B"),
    ("our MI210 box serves mistral 7b; should we move to L40S?", "MI210"),
    # the catalog GPU is the yardstick or the one being left
    ("training is slower than on our old V100s since we got the MI210 boxes", "MI210"),
    ("we moved from A100 to Gaudi 2 for llama 13b", "Gaudi 2"),
    # the catalog GPU is negated
    ("Jetson Orin Nano (not the AGX Orin), llama 3.2 1b", "Jetson Orin Nano"),
    # a cloud machine type named only as an option does not displace what they run
    ("inf2.24xlarge for llama 3 8b; is a g6e.12xlarge worth it instead?", "inf2.24xlarge"),
])
def test_a_catalog_gpu_named_only_for_comparison_leaves_the_unknown_one_run(catalog, indexes, text, name):
    w = read(catalog, indexes, text)
    assert (w.unknown_gpu, w.origin("gpu")) == (name, "assumed")


@pytest.mark.parametrize(("text", "gpu"), [
    # a catalog GPU the user runs stays, whatever else is weighed or named in passing
    ("we serve llama 70b on 4x H100 and are evaluating TPU v5e as an alternative", "h100-sxm"),
    ("Jetson AGX Orin 64GB with TensorRT-LLM, llama 3.2 3b", "jetson-agx-orin"),
    ("M3 Max 128GB, mixtral in llama.cpp", "apple-m3-max"),
    ("p99 latency is 2 s for llama 8b on one L4", "l4"),
    ("p100 TTFT is 900 ms on our A10G", "a10g"),
    ("the 4090 is super slow at prefill for qwen 14b", "rtx-4090"),
    # a GPU named and then taken back: the one after the correction is run
    ("deploy on A10G? no, the target is L4 machines", "l4"),
    ("H100, sorry, H200: llama 405b in fp8", "h200"),
])
def test_catalog_gpus_that_are_run_stay_known(catalog, indexes, text, gpu):
    w = read(catalog, indexes, text)
    assert (w.gpu, w.unknown_gpu, w.origin("gpu")) == (gpu, None, "understood")


@pytest.mark.parametrize(("text", "gpu", "count"), [
    # a count of GPUs said in brackets after a system phrase
    ("one B200 baseboard (8 GPUs) for deepseek v3", "b200", 8),
    ("one GB200 superchip tray (4 Blackwell GPUs) for llama 405b", "gb200", 4),
    # machines with one GPU each are several GPUs, not a single-GPU rule
    ("3 A10G machines (one GPU each) behind a load balancer", "a10g", 3),
    # "N of the <description>"
    ("8 of the 80 gig H100s run llama 70b", "h100-sxm", 8),
    # a system sold by its total memory holds the variant that memory divides into
    ("DGX A100 640GB for llama 70b fine-tuning", "a100-80gb", 8),
    ("an old DGX A100 320GB, llama 8b fine-tuning", "a100-40gb", 8),
    # a machine type whose name holds a GPU name gives its own GPU
    ("Azure ND A100 v4 VM running llama 13b", "a100-40gb", 8),
    # a rate per GPU is not a GPU count; the machine type gives it
    ("ml.g5.12xlarge endpoint, two replicas per GPU, qwen 7b", "a10g", 4),
    # machine types added to data/instances
    ("one a3-highgpu-4g for qwen 72b", "h100-sxm", 4),
    ("an a2-megagpu-16g pretraining run", "a100-40gb", 16),
    ("Standard_NC64as_T4_v3 serving small models", "t4", 4),
    ("p6-b200.48xlarge, llama 405b bf16", "b200", 8),
])
def test_systems_and_machine_types_give_the_gpu_and_count(catalog, indexes, text, gpu, count):
    w = read(catalog, indexes, text)
    assert (w.gpu, w.gpu_count) == (gpu, count)


def test_a_number_inside_an_accelerator_name_counts_no_nodes(catalog, indexes):
    w = read(catalog, indexes, "our Gaudi 3 box serves llama 8b")
    assert (w.unknown_gpu, w.gpu_count) == ("Gaudi 3", 1)


def test_two_hgx_servers_are_two_nodes_of_eight(catalog, indexes):
    w = read(catalog, indexes, "qwen3 32b training with megatron on two HGX H20 servers")
    assert (w.gpu, w.gpu_count) == ("h20", 16)


def test_a_single_gpu_rule_said_in_the_past_is_not_todays(catalog, indexes):
    w = read(catalog, indexes, "we used to keep one GPU per model; now qwen 14b runs on 2x L40S with TP2")
    assert (w.single_gpu, w.gpu_count) == (False, 2)
