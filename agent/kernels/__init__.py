"""Kernel tools: analytical rooflines (no torch) and PyTorch microbenchmarks (torch imported lazily)."""

from agent.kernels.roofline import KernelRoofline, roofline_allreduce, roofline_attention, roofline_gemm

__all__ = ["KernelRoofline", "roofline_allreduce", "roofline_attention", "roofline_gemm"]
