"""The facts read from one question, before defaults fill the gaps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Found:
    """Workload facts found in text: stated values with their evidence, plus hints, measurements and notes."""

    values: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unknown_gpu: str | None = None
    unknown_model: str | None = None
    model_size_b: float | None = None
    # the shape built for a model named only by its size (a ModelSpec), or None
    model_spec: Any = None
    multi_gpu_hint: bool = False
    # values the text hints at without stating them: name -> (value, note)
    hinted: dict[str, tuple[Any, str]] = field(default_factory=dict)
    # figures the user measured on their own setup: name (ttft_ms, mfu, ...) -> value, with the words read
    measured: dict[str, float] = field(default_factory=dict)
    measured_evidence: dict[str, str] = field(default_factory=dict)
    # every figure read for a metric, the first one being ``measured``'s ("normal ITL 25 ms; during the incident 78 ms")
    measured_all: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    # techniques the user says they run (id -> words read) and say they do not run
    stack: dict[str, str] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    # techniques the question proposes or asks about ("is prefix caching worth turning on?"): not known to run
    proposed: set[str] = field(default_factory=set)
    # the version written after the framework's name ("vLLM 0.4.2"), when one is
    framework_version: str = ""
    # character spans already read as a model's name: a framework word inside one ("Mistral-NeMo") names the model
    name_spans: list[tuple[int, int]] = field(default_factory=list)

    def inside_name(self, start: int, end: int) -> bool:
        """True when [start, end) lies inside a span already read as a name."""
        return any(a <= start and end <= b for a, b in self.name_spans)

    def put(self, name: str, value: Any, evidence: str) -> None:
        if value is not None and name not in self.values:
            self.values[name] = value
            self.evidence[name] = evidence.strip()

    def hint(self, name: str, value: Any, note: str) -> None:
        if name not in self.hinted:
            self.hinted[name] = (value, note)
            self.notes.append(note)

    def measure(self, name: str, value: float, evidence: str) -> None:
        self.measured_all.setdefault(name, []).append((value, evidence.strip()))
        if name not in self.measured:
            self.measured[name] = value
            self.measured_evidence[name] = evidence.strip()
