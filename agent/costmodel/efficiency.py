"""GEMM efficiency as a function of shape: tile padding and wave quantization over the SM count.

A GEMM's output C (M x N) is cut into tiles of tile_m x tile_n, one per thread block. A skinny GEMM (decode:
M of a few tokens) still pays a whole tile row, so only M / padded-M of the tensor-core work is useful. The
tiles run in waves of one tile per SM: the last wave leaves SMs idle, so the busy fraction is
tiles / (waves x SMs). The family files give the fraction of peak measured at one reference shape; another
shape's efficiency is that fraction times its padding and wave factors over those of the reference shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Tiles:
    """Tile geometry of one GPU family's GEMM kernels and the shape its efficiencies were measured at."""

    # defaults for GPUs without a family file: assumed Hopper-like 128x128 tiles, 64-row skinny tiles
    tile_m: int = 128
    tile_n: int = 128
    min_tile_m: int = 64
    reference_m: int = 8192
    reference_n: int = 8192


def tile_rows(m: float, tiles: Tiles) -> int:
    """M tile a GEMM of `m` rows uses: the full tile, or the smallest power of two >= m (not below min_tile_m)."""
    if m >= tiles.tile_m:
        return tiles.tile_m
    return max(tiles.min_tile_m, 2 ** math.ceil(math.log2(max(m, 1.0))))


def padding_factor(m: float, tiles: Tiles) -> float:
    """Useful fraction of the M dimension after padding up to whole tiles (1.0 when m fills its tiles)."""
    if m <= 0:
        return 1.0
    rows = tile_rows(m, tiles)
    return m / (math.ceil(m / rows) * rows)


# Libraries split K across thread blocks when a GEMM has fewer output tiles than SMs (cuBLAS and hipBLASLt
# heuristics do); each split keeps at least this much of K. Assumed, not measured.
SPLIT_K_MIN = 256
# Output-tile widths a library may pick, as multiples of the family's tile_n (assumed: cuBLAS and hipBLASLt
# heuristics choose among narrower and wider tiles to limit a partial last wave).
TILE_N_CHOICES = (0.5, 1.0, 2.0)


def _waves(m: float, n: float, tile_n: int, tiles: Tiles, sm_count: int, groups: float, k: float) -> float:
    count = max(groups, 1.0) * math.ceil(m / tile_rows(m, tiles)) * math.ceil(n / tile_n)
    if count < sm_count and k > 0:
        count *= max(1, min(sm_count // count, int(k // SPLIT_K_MIN)))
    waves = math.ceil(count / sm_count)
    return count / (waves * sm_count)


def wave_factor(m: float, n: float, tiles: Tiles, sm_count: int, groups: float = 1.0, k: float = 0.0) -> float:
    """Busy fraction of the SMs over all waves: tiles / (waves x SMs), for the best of the tile widths
    TILE_N_CHOICES x tile_n (libraries pick among several tile configurations per shape).

    `groups` GEMMs of this shape share the waves (a grouped GEMM); with `k` given, a GEMM with fewer tiles than
    SMs is split along K (up to k / SPLIT_K_MIN ways) to fill them.
    """
    if sm_count <= 0 or m <= 0 or n <= 0:
        return 1.0
    widths = {max(int(tiles.tile_n * c), 16) for c in TILE_N_CHOICES}
    return max(_waves(m, n, w, tiles, sm_count, groups, k) for w in widths)


# one answer evaluates the same few layer shapes thousands of times: remember them (pure function of its arguments)
@lru_cache(maxsize=65536)
def shape_factor(m: float, n: float, tiles: Tiles, sm_count: int, groups: float = 1.0, k: float = 0.0) -> float:
    """Efficiency of an (m, n, k) GEMM relative to the reference shape's, from padding and waves."""
    here = padding_factor(m, tiles) * wave_factor(m, n, tiles, sm_count, groups, k)
    ref = padding_factor(tiles.reference_m, tiles) * wave_factor(tiles.reference_m, tiles.reference_n, tiles, sm_count)
    return here / ref


def weighted_shape_factor(m: float, widths_k: list[tuple[float, float]], tiles: Tiles, sm_count: int,
                          groups: float = 1.0) -> float:
    """FLOP-weighted shape factor of several GEMMs sharing M (one layer's projections).

    Args:
        m: rows (tokens) each GEMM multiplies.
        widths_k: (N, K) of each GEMM.
        tiles: the family's tile geometry.
        sm_count: SMs (compute units) of the GPU.
        groups: GEMMs of each shape run side by side (experts of a grouped GEMM).
    Returns:
        time-equivalent factor: total FLOPs / sum(FLOPs_i / factor_i), so slow GEMMs weigh by their time.
    """
    return _weighted(m, tuple(widths_k), tiles, sm_count, groups)


@lru_cache(maxsize=65536)
def _weighted(m: float, widths_k: tuple[tuple[float, float], ...], tiles: Tiles, sm_count: int, groups: float) -> float:
    flops = sum(n * k for n, k in widths_k)
    if m <= 0 or flops <= 0 or sm_count <= 0:  # no SM count (plain peak roofline, Apple): no shape effects
        return 1.0
    time = sum(n * k / shape_factor(m, n, tiles, sm_count, groups, k) for n, k in widths_k)
    return flops / time
