"""Analytical cost model: roofline estimates of LLM inference and training, and technique transforms.

Pure Python (no torch, no LangChain). Entry points: :func:`estimate_inference`, :func:`estimate_training`.
"""

from agent.costmodel.calibration import Calibration, CalibrationEntry, load_calibration
from agent.costmodel.inference import InferenceEstimate, estimate_inference
from agent.costmodel.training import TrainingEstimate, estimate_training
from agent.costmodel.workload import InferenceWorkload, ParallelConfig, TrainingWorkload

__all__ = [
    "Calibration", "CalibrationEntry", "InferenceEstimate", "InferenceWorkload", "ParallelConfig",
    "TrainingEstimate", "TrainingWorkload", "estimate_inference", "estimate_training", "load_calibration",
]
