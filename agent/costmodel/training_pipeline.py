"""Pipeline stages of a training run: how the layers are split over them and which stage sets the pace.

In a steady pipeline every stage handles every micro-batch in turn, so the step runs at the pace of the stage
with the most work per micro-batch, not at the mean. The layers are split evenly, so the ends carry more: the
last stage also runs the output layer (the LM head GEMMs) and the loss, the first the embedding lookup (a
gather, not timed). Frameworks can count the embedding and the loss as one layer each when they split, which
takes a layer off each end stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.costmodel.workload import TrainingWorkload


@dataclass(frozen=True)
class StageLayout:
    """Transformer layers on the first, a middle and the last pipeline stage."""

    first: float
    middle: float
    last: float
    ends_as_layers: bool = False  # the embedding and the loss each took one layer's place in the split

    def note(self, pp: int) -> str:
        """One line for the assumptions."""
        split = (f"{self.first:g} layers on the first and last stages and {self.middle:g} on the others (the "
                 "embedding and the loss each counted as a layer)" if self.ends_as_layers
                 else f"{self.middle:g} layers per stage")
        return (f"pipeline of {pp} stages: {split}; the last stage also runs the LM head and the loss, and the "
                "slowest stage sets the pace of every micro-batch")


def stage_layout(layers: int, w: TrainingWorkload) -> StageLayout:
    """How Megatron-Core splits `layers` over the pipeline.

    It gives each of the pp x V model chunks the same number of layers, layers // (pp x V)
    (megatron/core/transformer/transformer_block.py, get_num_layers_to_build), so a count that does not divide
    is not run as it stands. A count that divides once the
    embedding and the loss each take a layer's place is run with account_for_embedding_in_pipeline_split and
    account_for_loss_in_pipeline_split (Megatron-Bridge's Llama 3.1 405B recipes: 126 + 2 layers over 8 x 8
    chunks). Any other count is taken as an even, fractional share (assumed).
    """
    if w.pp <= 1:
        return StageLayout(layers, layers, layers)
    chunks = w.pp * (w.interleave if w.schedule == "interleaved" else 1)
    if layers % chunks and (layers + 2) % chunks == 0:
        per_stage = (layers + 2) / w.pp
        return StageLayout(per_stage - 1, per_stage, per_stage - 1, ends_as_layers=True)
    per_stage = layers / w.pp
    return StageLayout(per_stage, per_stage, per_stage)


def slowest_stage_s(layout: StageLayout, pp: int, per_layer_s: float, last_extra_s: float) -> float:
    """Work per step of the busiest stage: its layers at `per_layer_s` each, plus the LM head and loss seconds
    `last_extra_s` on the last stage."""
    stages = [layout.first * per_layer_s, layout.last * per_layer_s + last_extra_s]
    if pp > 2:
        stages.append(layout.middle * per_layer_s)
    return max(stages)


def stage_imbalance_s(layout: StageLayout, w: TrainingWorkload, layers: int, layer_work_s: float,
                      head_spread_s: float, loss_s: float) -> float:
    """Seconds per step the busiest stage adds over the mean-stage accounting of the rest of the model.

    Args:
        layout: the split from :func:`stage_layout`.
        w: the workload (pp).
        layers: transformer layers of the model.
        layer_work_s: kernel and tensor-parallel seconds of layers / pp layers on one GPU.
        head_spread_s: LM head seconds per GPU when spread over every GPU (the last stage runs pp times this).
        loss_s: loss seconds of one last-stage GPU (already charged in full to every stage).
    Returns:
        slowest stage - (layer_work_s + head_spread_s + loss_s), at least 0 (the loss already counted on every
        stage can outweigh a small imbalance).
    """
    if w.pp <= 1:
        return 0.0
    per_layer_s = layer_work_s / (layers / w.pp)
    pace = slowest_stage_s(layout, w.pp, per_layer_s, head_spread_s * w.pp + loss_s)
    return max(pace - (layer_work_s + head_spread_s + loss_s), 0.0)
