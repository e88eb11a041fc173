"""Score the agent on data/eval/questions.yaml: family hit@k, citation validity, bad-input handling, latency."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.answer import Answer, Citation

KS = (1, 3, 5)


@dataclass
class EvalReport:
    """Aggregate scores over an evaluation set, plus the misses for inspection."""

    questions: int = 0
    family_hit: dict[int, float] = field(default_factory=dict)
    technique_hit_at5: float = 0.0
    first_pick: float = 0.0
    must_not_first_violations: int = 0
    citations_checked: int = 0
    citation_validity: float = 1.0
    bad_inputs: int = 0
    bad_input_pass: float = 1.0
    latency_ms_p50: float = 0.0
    latency_ms_p95: float = 0.0
    misses: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def load_eval_set(path: str | Path) -> tuple[list[dict], list[dict]]:
    """Questions and bad inputs from the YAML file (``question_repeat`` expands to a long text)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    bad = []
    for item in data.get("bad_inputs", []):
        item = dict(item)
        if "question_repeat" in item:
            rep = item.pop("question_repeat")
            item["question"] = rep["text"] * int(rep["times"])
        bad.append(item)
    return list(data["questions"]), bad


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def citation_valid(store: Any, cit: Citation) -> bool:
    """The cited chunk exists, belongs to the cited paper, and carries the cited text."""
    rows = store.get_chunks([cit.chunk_id])
    if not rows:
        return False
    row = rows[0]
    shown = _squash(cit.text)
    if shown.endswith("..."):
        shown = shown[:-3].rstrip()
    return row["paper_id"] == cit.paper_id and _squash(row["text"]).startswith(shown)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def _family_rank(answer: Answer, expect: dict) -> int | None:
    families = set(expect.get("families", []))
    techniques = set(expect.get("techniques", []))
    for rec in answer.recommendations:
        if rec.family in families or rec.technique in techniques:
            return rec.rank
    return None


def first_pick_right(answer: Answer, item: dict) -> bool:
    """The first recommendation is one of the expected techniques."""
    return bool(answer.recommendations) and answer.recommendations[0].technique in set(item["expect"].get("techniques", []))


def must_not_first_violated(answer: Answer, item: dict) -> bool:
    """The first recommendation is a technique, or of a family, the question marks as a harmful first pick."""
    banned = set(item.get("must_not_first", []))
    first = answer.recommendations[0] if answer.recommendations else None
    return first is not None and (first.technique in banned or first.family in banned)


def evaluate(answerer: Any, questions: list[dict], bad_inputs: list[dict] = ()) -> EvalReport:
    """Answer every question and bad input; score rankings, citations and safe replies."""
    report = EvalReport(questions=len(questions), bad_inputs=len(bad_inputs))
    latencies, ranks, tech_hits, checked, valid, firsts = [], [], 0, 0, 0, 0
    store = answerer.store
    for item in questions:
        started = time.perf_counter()
        answer = answerer.answer(item["question"])
        latencies.append((time.perf_counter() - started) * 1000)
        rank = _family_rank(answer, item["expect"])
        ranks.append(rank)
        top5 = {r.technique for r in answer.recommendations[:5]}
        tech_hits += bool(top5 & set(item["expect"].get("techniques", [])))
        firsts += first_pick_right(answer, item)
        report.must_not_first_violations += must_not_first_violated(answer, item)
        if rank is None or rank > 5:
            report.misses.append({"id": item["id"], "status": answer.status,
                                  "got": [r.technique for r in answer.recommendations]})
        for rec in answer.recommendations:
            for cit in rec.citations:
                checked += 1
                valid += citation_valid(store, cit) if store is not None else 0
    passed = 0
    for item in bad_inputs:
        answer = answerer.answer(item["question"])
        ok = answer.status == item["expect_status"] and not answer.recommendations
        passed += ok
        if not ok:
            report.misses.append({"id": item["id"], "status": answer.status, "expected": item["expect_status"]})
    n = max(1, len(questions))
    report.family_hit = {k: sum(1 for r in ranks if r is not None and r <= k) / n for k in KS}
    report.technique_hit_at5 = tech_hits / n
    report.first_pick = firsts / n
    report.citations_checked = checked
    report.citation_validity = valid / checked if checked else 1.0
    report.bad_input_pass = passed / len(bad_inputs) if bad_inputs else 1.0
    report.latency_ms_p50 = round(statistics.median(latencies), 2) if latencies else 0.0
    report.latency_ms_p95 = round(percentile(latencies, 95), 2)
    return report
