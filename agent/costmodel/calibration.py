"""Measured efficiencies kept in the state dir's calibration.json, keyed by device name."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import AccelsageError

FORMAT_VERSION = 1


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class CalibrationEntry:
    """What one device measured: efficiencies against its spec peak plus the raw figures."""

    device_name: str
    device_kind: str                 # "cuda" or "cpu"
    gpu_id: str | None = None        # the GPU spec the efficiencies were computed against
    gemm_efficiency: float | None = None
    memory_efficiency: float | None = None
    attention_efficiency: float | None = None
    measured: dict = field(default_factory=dict)
    measured_at: str | None = None
    # per-op table: fraction of each dtype's dense peak (e.g. {"fp8": 0.6}); bf16 also sits in gemm_efficiency
    gemm_efficiency_by_dtype: dict = field(default_factory=dict)
    attention_efficiency_by_dtype: dict = field(default_factory=dict)
    # all-reduce over the GPU link: small-message time (us) and large-message bus bandwidth (GB/s) at `ranks`
    allreduce: dict = field(default_factory=dict)

    def applies_to(self, gpu_id: str, names: tuple[str, ...]) -> bool:
        """True when this entry was measured on the GPU a spec describes; CPU entries never apply."""
        if self.device_kind != "cuda":
            return False
        if self.gpu_id and _norm(self.gpu_id) == _norm(gpu_id):
            return True
        device = _norm(self.device_name)
        return any(_norm(n) and (_norm(n) == device or _norm(n) in device) for n in names if len(_norm(n)) >= 4)


@dataclass(frozen=True)
class Calibration:
    """All calibration entries of one state directory."""

    entries: tuple[CalibrationEntry, ...] = ()

    def for_gpu(self, gpu_id: str, names: tuple[str, ...] = ()) -> CalibrationEntry | None:
        """The entry measured on this GPU, or None."""
        for entry in self.entries:
            if entry.applies_to(gpu_id, names):
                return entry
        return None


TABLES = ("measured", "gemm_efficiency_by_dtype", "attention_efficiency_by_dtype", "allreduce")


def _table(raw: dict[str, Any], key: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise TypeError(f"'{key}' must be a mapping")
    return dict(value) if key == "measured" else {str(k): float(v) for k, v in value.items()}


def _entry_from(name: str, raw: dict[str, Any]) -> CalibrationEntry:
    known = {k: raw.get(k) for k in ("device_kind", "gpu_id", "gemm_efficiency", "memory_efficiency",
                                     "attention_efficiency", "measured_at")}
    return CalibrationEntry(device_name=name, **{t: _table(raw, t) for t in TABLES},
                            **{k: v for k, v in known.items() if v is not None})


def load_calibration(path: Path) -> Calibration:
    """Read calibration.json; a missing file is an empty calibration, a broken one an AccelsageError."""
    path = Path(path)
    if not path.exists():
        return Calibration()
    try:
        data = json.loads(path.read_text())
        return Calibration(tuple(_entry_from(n, raw) for n, raw in (data.get("devices") or {}).items()))
    except (ValueError, AttributeError, TypeError) as exc:
        raise AccelsageError(f"calibration file {path} is not valid: {exc}") from exc


def save_entry(path: Path, entry: CalibrationEntry) -> None:
    """Add or replace one device's entry in calibration.json (written atomically)."""
    path = Path(path)
    data: dict[str, Any] = {"version": FORMAT_VERSION, "devices": {}}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except ValueError:
            pass  # a broken file is replaced rather than blocking a new measurement
    record = {k: v for k, v in entry.__dict__.items() if k != "device_name" and v is not None and v != {}}
    data.setdefault("devices", {})[entry.device_name] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".calibration.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
