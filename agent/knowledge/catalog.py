"""The catalog: lazy, cached access to everything under ``data/`` and name resolution.

``Catalog.load(data_dir)`` returns one instance per resolved path; each kind (gpus, models,
techniques, papers, cards) is read from disk the first time it is used, never at import time.
With ``cache_dir`` (a folder in the state directory), parsed YAML is kept between processes
(see :mod:`agent.knowledge.cache`), which is what makes a cold ``accelsage ask`` cheap.
"""

from __future__ import annotations

import difflib
import os
import functools
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agent.knowledge.cache import ParsedCache
from agent.knowledge.schemas import CardMeta, Framework, GpuSpec, Instance, ModelSpec, PaperEntry, Technique
from index.errors import AccelsageError, NotFound

M = TypeVar("M", bound=BaseModel)
# Suffixes people add to model names that do not change the shape.
_MODEL_SUFFIXES = ("instruct", "chat", "hf", "base", "it")
# Brand words people put before a GPU name ('NVIDIA GeForce RTX 4090', 'AMD Instinct MI300X').
_GPU_PREFIXES = ("nvidia", "amd", "apple", "geforce", "tesla", "instinct")
_ARXIV_RE = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.IGNORECASE)


def normalize_name(name: str) -> str:
    """Lower-case and drop spaces, hyphens and underscores: 'H100 SXM5' == 'h100-sxm5'."""
    return re.sub(r"[\s\-_]+", "", name.strip().lower())


@functools.cache
def _yaml() -> tuple[Any, Any]:
    """PyYAML and its fastest safe loader, imported on first parse (a cached catalog never needs it)."""
    import yaml  # noqa: PLC0415

    # libyaml is much faster; fall back to the pure-Python loader where it is missing
    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file; AccelsageError naming the file when it is not valid YAML."""
    yaml, loader = _yaml()
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise AccelsageError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from exc


def read_front_matter(path: Path) -> dict[str, Any]:
    """The YAML front matter (between the first two '---' lines) of a Markdown card."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        raise AccelsageError(f"{path}: card has no YAML front matter")
    parts = text.split("\n---", 1)
    if len(parts) < 2:
        raise AccelsageError(f"{path}: card front matter is not closed by '---'")
    yaml, loader = _yaml()
    try:
        data = yaml.load(parts[0][3:], Loader=loader)
    except yaml.YAMLError as exc:
        raise AccelsageError(f"{path}: invalid front matter ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise AccelsageError(f"{path}: front matter is not a mapping")
    return data


def validate(model: type[M], data: Any, where: str) -> M:
    """Build a schema object; a one-line AccelsageError naming the file and field on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top)"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise AccelsageError(f"{where}: {loc}: {first['msg']}{more}") from exc


def _load_dir(folder: Path, model: type[M], cache: ParsedCache | None = None) -> dict[str, M]:
    """Every ``*.yaml`` in a folder as schema objects keyed by id; the id must equal the file stem."""
    items: dict[str, M] = {}
    if not folder.is_dir():
        return items
    paths = sorted(folder.glob("*.yaml"))
    raws = cache.load(folder.name, paths, read_yaml) if cache else [read_yaml(p) for p in paths]
    for path, raw in zip(paths, raws):
        item = validate(model, raw, str(path))
        if item.id != path.stem:  # type: ignore[attr-defined]
            raise AccelsageError(f"{path}: id {item.id!r} does not match the file name")  # type: ignore[attr-defined]
        items[item.id] = item  # type: ignore[attr-defined]
    return items


class Catalog:
    """Bundled knowledge under one data directory, loaded lazily per kind."""

    def __init__(self, data_dir: Path, cache_dir: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.cache = ParsedCache(cache_dir, self.data_dir)

    @classmethod
    def load(cls, data_dir: str | Path, cache_dir: str | Path | None = None) -> "Catalog":
        """The catalog for ``data_dir``, one shared instance per resolved path (and cache folder).

        Args:
            cache_dir: where parsed files are cached between processes (e.g. ``<state>/cache``); None: no cache.
        """
        cache = Path(cache_dir).resolve() if cache_dir is not None else None
        return _cached_catalog(Path(data_dir).resolve(), cache)

    # ------------------------------------------------------------ kinds
    @functools.cached_property
    def gpus(self) -> dict[str, GpuSpec]:
        return _load_dir(self.data_dir / "gpus", GpuSpec, self.cache)

    @functools.cached_property
    def models(self) -> dict[str, ModelSpec]:
        return _load_dir(self.data_dir / "models", ModelSpec, self.cache)

    @functools.cached_property
    def techniques(self) -> dict[str, Technique]:
        return _load_dir(self.data_dir / "techniques", Technique, self.cache)

    @functools.cached_property
    def frameworks(self) -> dict[str, Framework]:
        return _load_dir(self.data_dir / "frameworks", Framework, self.cache)

    @functools.cached_property
    def instances(self) -> dict[str, Instance]:
        """Machine types by their first name (data/instances/*.yaml: lists under ``instances``)."""
        out: dict[str, Instance] = {}
        for path in sorted((self.data_dir / "instances").glob("*.yaml")):
            raw = read_yaml(path) or {}
            for i, item in enumerate(raw.get("instances", [])):
                entry = validate(Instance, item, f"{path} entry {i}")
                out[entry.names[0]] = entry
        return out

    @functools.cached_property
    def papers(self) -> dict[str, PaperEntry]:
        path = self.data_dir / "papers.yaml"
        if not path.is_file():
            return {}
        raw = self.cache.load("papers", [path], read_yaml)[0] or []
        entries = [validate(PaperEntry, item, f"{path} entry {i}") for i, item in enumerate(raw)]
        return {entry.id: entry for entry in entries}

    @functools.cached_property
    def cards(self) -> dict[str, CardMeta]:
        """Card front matter by card id (the Markdown bodies are read by ingest, not here)."""
        folder = self.data_dir / "cards"
        paths = sorted(folder.glob("*.md"))
        raws = self.cache.load("cards", paths, read_front_matter)
        metas = [validate(CardMeta, raw, str(p)) for p, raw in zip(paths, raws)]
        return {meta.id: meta for meta in metas}

    # ------------------------------------------------------------ lookups
    def resolve_gpu(self, name: str) -> GpuSpec:
        """A GPU by id or alias ('h100', 'H100 SXM5 80GB'); NotFound with the closest names."""
        key = normalize_name(name)
        while key not in self._gpu_index and key.startswith(_GPU_PREFIXES):
            key = next(key[len(p):] for p in _GPU_PREFIXES if key.startswith(p))
        if key in self._gpu_index:
            return self.gpus[self._gpu_index[key]]
        return self.gpus[_resolve(name, self._gpu_index, "GPU", self.gpus)]

    def resolve_model(self, name: str) -> ModelSpec:
        """A model by id, alias or HF repo id ('llama3-70b', 'meta-llama/Llama-3.1-70B-Instruct')."""
        short = name.rsplit("/", 1)[-1]  # HF repo ids: drop the organisation
        key = normalize_name(short)
        for suffix in _MODEL_SUFFIXES:
            stem = key[: -len(suffix)]
            if key.endswith(suffix) and key not in self._model_index and stem in self._model_index:
                return self.models[self._model_index[stem]]
        # a bare family name that starts exactly one id ('jamba' -> jamba-v0.1) resolves to it
        starts = {i for k, i in self._model_index.items() if key.isalpha() and k.startswith(key)}
        if len(starts) == 1:
            return self.models[starts.pop()]
        return self.models[_resolve(short, self._model_index, "model", self.models)]

    def resolve_technique(self, name: str) -> Technique:
        """A technique by id or alias ('fa2', 'FlashAttention-2'); NotFound with the closest names."""
        return self.techniques[_resolve(name, self._technique_index, "technique", self.techniques)]

    def paper(self, paper_id: str) -> PaperEntry:
        """A paper by id, accepting 'arXiv:2205.14135' and versioned ids ('2205.14135v2')."""
        key = paper_id.strip()
        match = _ARXIV_RE.match(key)
        if match:
            key = match.group(1)
        if key in self.papers:
            return self.papers[key]
        close = difflib.get_close_matches(key, list(self.papers), n=3, cutoff=0.5)
        raise NotFound(f"unknown paper {paper_id!r}", close)

    def techniques_for_paper(self, paper_id: str) -> list[Technique]:
        """Techniques whose ``papers`` list cites this paper, in id order."""
        pid = self.paper(paper_id).id
        return [t for _, t in sorted(self.techniques.items()) if pid in t.papers]

    # ------------------------------------------------------------ name indexes
    @functools.cached_property
    def _gpu_index(self) -> dict[str, str]:
        return build_name_index(self.gpus)

    @functools.cached_property
    def _model_index(self) -> dict[str, str]:
        return build_name_index(self.models)

    @functools.cached_property
    def _technique_index(self) -> dict[str, str]:
        return build_name_index(self.techniques)


def build_name_index(items: dict[str, Any]) -> dict[str, str]:
    """Normalised id, name and aliases -> id. An alias shared by two entries is an error."""
    index: dict[str, str] = {}
    for item_id, item in items.items():
        for label in (item_id, item.name, *item.aliases):
            key = normalize_name(str(label))
            owner = index.setdefault(key, item_id)
            if owner != item_id:
                raise AccelsageError(f"name {label!r} is used by both {owner} and {item_id}")
    return index


SUGGESTIONS = 3  # closest names an unknown one is answered with
SUGGEST_CUTOFF = 0.3  # a name that shares no start or word with the unknown one must be at least this similar
_WORDS = re.compile(r"[a-z0-9]+")


def _resolve(name: str, index: dict[str, str], kind: str, items: dict[str, Any]) -> str:
    key = normalize_name(name)
    if key in index:
        return index[key]
    raise NotFound(f"unknown {kind} {name!r}", suggest(name, items))


def suggest(name: str, items: dict[str, Any], limit: int = SUGGESTIONS) -> list[str]:
    """Ids of the entries closest to an unknown name, best first.

    Ranked by how much of a start the name shares with one of the entry's labels (id, name, aliases):
    'flash' starts 'flash-attention', 'h1000' extends 'h100'; then by the words they share, a word that
    starts a label's word counting ('kv quant' shares two with 'KV-cache quantization'); then by difflib's
    ratio. Spelling alone (difflib first) sent 'flash' to multi-head-latent-attention.
    """
    key, words = normalize_name(name), set(_WORDS.findall(name.lower()))
    matcher = difflib.SequenceMatcher(None, "", key)  # the unknown name is analysed once, as get_close_matches does
    best: dict[str, tuple[int, int, int, float]] = {}
    for item_id, item in items.items():
        for n, label in enumerate((item_id, item.name, *item.aliases)):
            score = _closeness(matcher, key, words, str(label), primary=n < 2)
            if score is not None and score > best.get(item_id, (-1, -1, -1, -1.0)):
                best[item_id] = score
    return sorted(best, key=lambda item_id: best[item_id], reverse=True)[:limit]


def _closeness(matcher: difflib.SequenceMatcher, key: str, words: set[str], label: str,
               primary: bool) -> tuple[int, int, int, float] | None:
    """(shared start, shared words, id or name rather than an alias, difflib ratio) of a normalised unknown name
    and one label ('flash' is closer to FlashAttention than to MLA, whose alias FlashMLA it also starts); None:
    not close at all."""
    other = normalize_name(label)
    start = len(os.path.commonprefix([key, other]))
    # a shared start counts when it is all of the shorter ('h1000' extends 'h100') or 4 characters and more
    # ('a100' of 'a100 96gb' and 'A100 40GB'); 'bla' alone does not make 'blast' close to 'blaze'
    if not (start >= 2 and start == min(len(key), len(other))) and start < 4:
        start = 0
    label_words = set(_WORDS.findall(label.lower()))
    # a word shared whole, or one of 3+ characters that starts a label's word ('quant' -> 'quantization')
    shared = sum(w in label_words or (len(w) >= 3 and any(lw.startswith(w) for lw in label_words)) for w in words)
    matcher.set_seq1(other)
    if not start and not shared and (matcher.real_quick_ratio() < SUGGEST_CUTOFF
                                     or matcher.quick_ratio() < SUGGEST_CUTOFF):
        return None  # the cheap upper bounds already rule it out
    ratio = matcher.ratio()
    if not start and not shared and ratio < SUGGEST_CUTOFF:
        return None
    return start, shared, int(primary), round(ratio, 6)


@functools.cache
def _cached_catalog(resolved: Path, cache_dir: Path | None) -> Catalog:
    return Catalog(resolved, cache_dir)
