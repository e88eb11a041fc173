"""Fused attention rate by head dimension and causal mask (FlashAttention-3 Figure 5 bars, data/efficiencies)."""

import pytest

from agent.costmodel.efficiency_data import AttentionShapes, ShapePoint, attention_shape_factor


@pytest.mark.parametrize("head_dim, causal, expected", [
    (128, True, 602 / 746),
    (128, False, 646 / 746),
    (256, False, 1.0),
    (256, True, 628 / 746),
    (64, True, 602 / 746),             # below the measured head dims: the nearest
    (2 ** 7.5, True, (602 + 628) / 2 / 746),  # half-way in log2(head dim)
])
def test_hopper_attention_shape_factor(head_dim, causal, expected):
    assert attention_shape_factor("hopper", head_dim, causal) == pytest.approx(expected)


def test_family_without_a_table_keeps_its_figure():
    assert attention_shape_factor("ampere", 128, True) == 1.0
    assert attention_shape_factor("no-such-arch", 128, True) == 1.0


def test_a_mask_kind_without_points_borrows_the_other_curve():
    table = AttentionShapes(reference=ShapePoint(head_dim=128, causal=False, tflops=100.0),
                            points=[ShapePoint(head_dim=64, causal=False, tflops=50.0),
                                    ShapePoint(head_dim=128, causal=False, tflops=100.0)],
                            source="a hand-made table for the test")
    assert table.factor(64, True) == pytest.approx(0.5)
    assert table.factor(90.5, False) == pytest.approx(0.75, rel=1e-3)  # log2(90.5) ~ 6.5
