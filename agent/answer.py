"""The answer's JSON shape (pydantic models) and its Markdown rendering."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FieldOrigin(BaseModel):
    """Where one workload field came from: ``explicit`` (flag/API field), ``understood`` (read from the question) or ``assumed`` (default)."""

    origin: str
    value: Any = None
    note: str = ""


class MeasuredComparison(BaseModel):
    """A figure the user measured next to the cost model's figure for the same thing."""

    metric: str = Field(description="What was measured, in words.")
    key: str = Field(description="The workload.measured key: ttft_ms, tpot_ms, latency_ms, throughput_tok_s, mfu, memory_gb.")
    measured: float
    modelled: float | None = None
    ratio: float | None = Field(None, description="measured / modelled.")
    note: str = ""


class StackEntry(BaseModel):
    """A technique running in the user's stack today, and how that is known."""

    technique: str
    name: str
    origin: str = Field(description="'<framework> <version> default', 'stated' (the question says so) or 'assumed baseline'.")


class WorkloadView(BaseModel):
    """The workload the answer planned for, with which fields were assumed."""

    gpu: str | None = None
    gpu_name: str | None = None
    gpu_count: int = 1
    model: str | None = None
    model_name: str | None = None
    phase: str = "serving"
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    batch: int | None = None
    qps: float | None = None
    objective: str = "latency"
    lossless: bool = False
    no_retraining: bool = False
    single_gpu: bool = False
    framework: str | None = None
    fields: dict[str, FieldOrigin] = Field(default_factory=dict)
    assumed: list[str] = Field(default_factory=list, description="Names of the fields that were assumed (defaults).")
    notes: list[str] = Field(default_factory=list)
    stack: list[StackEntry] = Field(default_factory=list, description="Techniques running today: the framework's "
                                    "defaults and those the question says are on; the cost model's 'before'.")
    measured: dict[str, float] = Field(default_factory=dict, description="Figures the user measured: ttft_ms, tpot_ms, "
                                       "latency_ms, throughput_tok_s, mfu (a fraction), memory_gb.")
    slo: dict[str, float] = Field(default_factory=dict, description="Stated latency targets: ttft_ms, tpot_ms, latency_ms.")
    memory_budget_gb: float | None = Field(None, description="A memory cap the question states, in GB.")


class PaperRef(BaseModel):
    """A backing paper of a technique."""

    arxiv_id: str | None = None
    paper_id: str
    title: str


class Citation(BaseModel):
    """A passage from the store that supports a recommendation; checked to exist before it is shown."""

    chunk_id: int
    paper_id: str
    arxiv_id: str | None = None
    title: str
    page: int | None = None
    section: str | None = None
    text: str


class Estimate(BaseModel):
    """Cost-model numbers for the objective before and after applying a technique."""

    metric: str
    unit: str
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    speedup: float | None = None
    fits_before: bool | None = None
    fits_after: bool | None = None
    range: dict[str, Any] | None = Field(None, description="The speed-up over the plausible span of an uncertain "
                                         "input: {input, low, high, speedup_low, speedup_high}.")


class Option(BaseModel):
    """One option the question names ("X or Y?", "is X worth it?"), on the user's workload."""

    technique: str
    name: str
    estimate: Estimate | None = None
    ruled_out: str | None = Field(None, description="Why it cannot run here, or that it already runs in the stack.")
    quality: str = Field("", description="Its effect on outputs: lossless, near-lossless, small or notable loss, ...")
    rank: int | None = Field(None, description="Its place among the recommendations, when it is one.")


class Recommendation(BaseModel):
    """One ranked technique with why, numbers, caveats and citations."""

    rank: int
    technique: str
    name: str
    family: str
    score: float
    why: str
    estimate: Estimate | None = None
    caveats: list[str] = Field(default_factory=list)
    frameworks: dict[str, str] = Field(default_factory=dict)
    settings: str | None = Field(None, description="How to switch it on in the framework the user runs, when known.")
    papers: list[PaperRef] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)


class Stack(BaseModel):
    """A combined set of composable techniques and its estimated effect."""

    techniques: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)
    estimate: Estimate | None = None
    excluded: dict[str, str] = Field(default_factory=dict, description="technique id -> why it was left out of the stack")
    fit: list[str] = Field(default_factory=list, description="The techniques of the stack that make the setup fit in memory.")
    on_top: Estimate | None = Field(None, description="The rest of the stack measured on the fitted setup (objective metric).")


class Answer(BaseModel):
    """The whole answer, as the CLI's --json and the API return it."""

    question: str
    status: str = "ok"  # ok | clarify | refused | no-corpus
    workload: WorkloadView | None = None
    diagnosis: str | None = Field(None, description="What limits this workload, with the numbers behind it (from the "
                                  "cost model on the user's stack and their own measurements).")
    fit: str | None = Field(None, description="Said first when the setup does not fit in memory: what makes it fit.")
    verdict: str | None = Field(None, description="For 'X or Y?' and 'is X worth it?': the answer to that question.")
    options: list[Option] = Field(default_factory=list, description="The options the question names, side by side.")
    baseline: list[str] = Field(default_factory=list, description="Techniques assumed already in use; gains are measured on top of them.")
    recommendations: list[Recommendation] = Field(default_factory=list)
    stack: Stack | None = None
    answer: str = ""
    clarify: list[str] = Field(default_factory=list)
    follow_up: str | None = Field(None, description="In a conversation: the one question the assistant asks back, "
                                  "about the assumed fact that changes the answer most.")
    excluded: dict[str, str] = Field(default_factory=dict, description="technique id -> why the setup or constraints rule it out")
    warnings: list[str] = Field(default_factory=list)
    measured: list[MeasuredComparison] = Field(default_factory=list, description="The user's own figures next to the "
                                               "cost model's for their stack, with the ratio and a likely reason.")
    answered_by: str = Field("rules", description="'rules' (default path) or 'llm' (prose written by the LLM, checked)")
    answer_citations: list[Citation] = Field(default_factory=list, description="Passages the LLM prose cites, verified.")
    timings_ms: dict[str, float] = Field(default_factory=dict)


# metric keys of the estimate -> words for people
METRIC_WORDS = {"ttft_ms": "time to first token", "tpot_ms": "time per output token", "latency_ms": "end-to-end latency",
                "throughput_tokens_per_s": "throughput", "memory.total_gb": "memory per GPU", "step_time_s": "step time",
                "tokens_per_s": "throughput", "mfu": "model FLOPs utilisation", "max_batch": "largest batch that fits"}
# workload field names -> (words for people, unit shown after the value); a flag shows as its words alone
FIELD_WORDS = {"gpu": ("GPU", ""), "gpu_count": ("GPUs", ""), "model": ("model", ""), "phase": ("phase", ""),
               "prompt_tokens": ("prompt length", "tokens"), "output_tokens": ("output length", "tokens"),
               "batch": ("batch", ""), "qps": ("request rate", "requests/s"), "objective": ("objective", ""),
               "lossless": ("lossless outputs", ""), "no_retraining": ("no retraining", ""),
               "single_gpu": ("a single GPU", ""), "framework": ("framework", ""),
               "slo_ttft_ms": ("time-to-first-token target", "ms"),
               "slo_tpot_ms": ("time-per-output-token target", "ms"), "slo_latency_ms": ("end-to-end latency target", "ms"), "memory_budget_gb": ("memory budget", "GiB")}
GIB_BYTES = 2**30
# a speed-up this close to 1 is the cost model seeing no change: it is said in words, never printed as ×1.00
NO_CHANGE = 0.005


def gib(gb: float) -> float:
    """Decimal gigabytes (the cost model's ``_gb``) in GiB, the unit GPU memory is shown in (an 80 GB H100: 80 GiB)."""
    return gb * 1e9 / GIB_BYTES


def metric_words(metric: str) -> str:
    """Words for an estimate's metric key ("latency_ms" -> "end-to-end latency")."""
    key = metric.rsplit(".", 1)[-1]
    return METRIC_WORDS.get(metric) or key.removesuffix("_ms").removesuffix("_gb").replace("_", " ")


def effect_words(est: Estimate | None) -> str:
    """"×1.35 on time per output token", or that the cost model shows no change (never a bare ×1.00)."""
    if est is None or not est.speedup:
        return "no modelled effect"
    if abs(est.speedup - 1) < NO_CHANGE:
        return f"no modelled change in {metric_words(est.metric)}"
    return f"×{est.speedup:.2f} on {metric_words(est.metric)}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def shown(metric: str, value: Any, unit: str) -> tuple[str, str]:
    """A metric's value and unit as people read them: capacities in GiB, "per GPU" left to the metric's words."""
    if (metric.endswith("_gb") or unit in ("GB", "GB per GPU")) and isinstance(value, (int, float)):
        return _fmt(float(gib(value))), "GiB"
    return _fmt(value), unit


def memory_text(gb: float, per_gpu: bool = False) -> str:
    """'305 GiB' (or '305 GiB per GPU') for a decimal-GB figure of the cost model."""
    return f"{_fmt(float(gib(gb)))} GiB{' per GPU' if per_gpu else ''}"


def change_text(metric: str, before: Any, after: Any, unit: str) -> str:
    """'memory per GPU: 305 → 241 GiB', 'end-to-end latency: 5,262 → 2,047 ms'."""
    (b, shown_unit), (a, _) = shown(metric, before, unit), shown(metric, after, unit)
    return f"{metric_words(metric)}: {b} → {a} {shown_unit}".rstrip()


def _estimate_line(est: Estimate) -> str:
    before = est.before.get(est.metric)
    after = est.after.get(est.metric)
    if before is None or after is None:
        return ""
    text = change_text(est.metric, before, after, est.unit)
    if est.speedup is not None and abs(est.speedup - 1) < NO_CHANGE:
        return text + " (no modelled change)"
    if est.speedup is not None:
        span = est.range
        extra = (f"; ×{span['speedup_low']:.2f}–{span['speedup_high']:.2f} with {span['input']} "
                 f"{span['low']:g}–{span['high']:g}") if span else ""
        text += f" (×{est.speedup:.2f}{extra})"
    return text


def _assumed_text(name: str, value: Any) -> str:
    """One assumed workload field in words: 'prompt length 2048 tokens', 'lossless outputs'."""
    words, unit = FIELD_WORDS.get(name, (name.replace("_", " "), ""))
    if value is True:
        return words
    if name.endswith("_gb") and isinstance(value, (int, float)):
        value = float(gib(value))
    return f"{words} {_fmt(value)}{' ' + unit if unit else ''}"


def _workload_lines(w: WorkloadView) -> list[str]:
    parts = [
        f"{w.gpu_count}× {w.gpu_name or w.gpu or '?'}",
        w.model_name or w.model or "?",
        w.phase,
    ]
    if w.prompt_tokens:
        parts.append(f"prompt {w.prompt_tokens} tok")
    if w.output_tokens:
        parts.append(f"output {w.output_tokens} tok")
    if w.batch:
        parts.append(f"batch {w.batch}")
    parts.append(f"objective {w.objective}")
    lines = ["**Workload:** " + ", ".join(parts)]
    if any(w.fields.get(n) and w.fields[n].value not in (None, False) for n in w.assumed):
        detail = ", ".join(_assumed_text(name, w.fields[name].value) for name in w.assumed
                           if name in w.fields and w.fields[name].value not in (None, False))
        lines.append(f"*Assumed:* {detail}")
    lines.extend(f"*Note:* {note}" for note in w.notes)
    return lines


def _recommendation_lines(rec: Recommendation) -> list[str]:
    lines = [f"### {rec.rank}. {rec.name} (`{rec.technique}`, {rec.family})", rec.why]
    if rec.estimate and _estimate_line(rec.estimate):
        lines.append(f"- Estimate: {_estimate_line(rec.estimate)}")
    lines.extend(f"- Caveat: {c}" for c in rec.caveats)
    if rec.settings:
        lines.append(f"- In your stack: {rec.settings}")
    if rec.frameworks:
        lines.append("- Frameworks: " + "; ".join(f"{k}: {v}" for k, v in rec.frameworks.items()))
    if rec.papers:
        lines.append("- Papers: " + "; ".join(f"{p.title} ({p.arxiv_id or p.paper_id})" for p in rec.papers))
    for cit in rec.citations:
        where = ", ".join(x for x in (f"p. {cit.page}" if cit.page else "", cit.section or "") if x)
        snippet = cit.text if len(cit.text) <= 280 else cit.text[:277] + "..."
        lines.append(f"  > [{cit.arxiv_id or cit.paper_id}{', ' + where if where else ''}] {snippet}")
    return lines


def _stack_line(stack: Stack) -> str:
    text = " + ".join(stack.names)
    if stack.estimate and _estimate_line(stack.estimate):
        text += f" — {_estimate_line(stack.estimate)}"
    if stack.on_top and _estimate_line(stack.on_top):
        text += f"; on top of the fitted setup, {_estimate_line(stack.on_top)}"
    return text


def render_markdown(answer: Answer) -> str:
    """Render an answer as Markdown for the terminal or the web page."""
    lines: list[str] = []
    if answer.status != "ok":
        lines.append(answer.answer)
        lines.extend(f"- {q}" for q in answer.clarify)
        lines.extend(f"> warning: {w}" for w in answer.warnings)
        return "\n".join(lines) + "\n"
    if answer.verdict:
        lines += [f"**Answer:** {answer.verdict}", ""]
        lines += [f"- {o.name}: " + (o.ruled_out or effect_words(o.estimate) + f" ({o.quality})")
                  for o in answer.options] + [""]
    if answer.diagnosis:
        lines += [f"**Diagnosis:** {answer.diagnosis}", ""]
    if answer.fit:
        lines += [f"**Memory first:** {answer.fit}", ""]
    if answer.workload:
        lines += _workload_lines(answer.workload) + [""]
    if answer.answer:
        lines += [answer.answer, ""]
    if answer.baseline:
        lines += [f"*Baseline assumed in use (gains are on top of it):* {' + '.join(answer.baseline)}", ""]
    for rec in answer.recommendations:
        lines += _recommendation_lines(rec) + [""]
    if answer.stack and answer.stack.techniques:
        lines += [f"**Combined stack:** {_stack_line(answer.stack)}", ""]
    if answer.follow_up:
        lines += [f"**One question back:** {answer.follow_up}", ""]
    elif answer.clarify:
        lines.append("**To sharpen this answer, tell me:**")
        lines.extend(f"- {q}" for q in answer.clarify)
    lines.extend(f"> warning: {w}" for w in answer.warnings)
    return "\n".join(lines).rstrip() + "\n"
