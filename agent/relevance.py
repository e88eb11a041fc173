"""How well each technique's profile matches a question: what it solves and when to use it, in our words.

Each technique carries ``solves`` (symptoms in an engineer's words) and ``when`` in ``data/techniques/``. A question
is matched against them two ways, so that a new phrasing of a known problem still finds its technique: dense
similarity with the embedding model the corpus uses (the best-matching phrase counts), and BM25 over the same
text. The profile vectors are embedded once per catalog and model and kept in a cache file.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

# cosine similarities of all-MiniLM-L6-v2 below this say nothing; above FULL the match is as good as it gets
COSINE_FLOOR = 0.20
COSINE_FULL = 0.65
# dense similarity carries most of the weight; BM25 rewards shared distinctive words
W_DENSE = 0.6
W_LEXICAL = 0.4
BM25_K1, BM25_B = 1.2, 0.75
_STOP = frozenset("a an and are as at be by can do does for from how i in is it its my of on or our so that the this "
                  "to use using we what when which with without you your".split())


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1]


def profile_texts(technique: Any) -> list[str]:
    """The phrases a technique is matched on: each problem it solves, when to use it, and its name with summary."""
    first = technique.summary.strip().split(". ")[0]
    texts = [f"{technique.name}: {first}"]
    texts += [s for s in getattr(technique, "solves", []) if s.strip()]
    if getattr(technique, "when", "").strip():
        texts.append(technique.when.strip())
    return texts


@dataclass
class _Bm25:
    """BM25 over one document per technique (tiny: a Counter per document).

    The per-document length norms and each term's column of counts are worked out once at build time, so a
    query costs one vector operation per query term instead of a Python loop over every document.
    """

    docs: list[Counter]
    lengths: np.ndarray
    idf: dict[str, float]
    norms: np.ndarray = field(default=None, repr=False)  # K1 * (1 - B + B * length / mean length), per document
    counts: dict[str, np.ndarray] = field(default=None, repr=False)  # term -> its count in each document

    def __post_init__(self) -> None:
        if self.norms is None:
            avg = float(self.lengths.mean()) if len(self.lengths) else 1.0
            self.norms = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths / avg)
        if self.counts is None:
            self.counts = {w: np.array([float(d[w]) for d in self.docs]) for w in self.idf}

    @classmethod
    def build(cls, documents: list[str]) -> "_Bm25":
        docs = [Counter(_words(d)) for d in documents]
        lengths = np.array([sum(d.values()) for d in docs], dtype=np.float64)
        df = Counter(w for d in docs for w in d)
        n = len(docs)
        idf = {w: math.log(1 + (n - k + 0.5) / (k + 0.5)) for w, k in df.items()}
        return cls(docs, lengths, idf)

    def scores(self, query: str) -> np.ndarray:
        terms = [w for w in set(_words(query)) if w in self.idf]
        out = np.zeros(len(self.docs))
        for w in terms:
            # a document without the term adds 0.0, which leaves its sum unchanged (same terms, same order)
            tf = self.counts[w]
            out += self.idf[w] * tf * (BM25_K1 + 1) / (tf + self.norms)
        return out


class TechniqueProfiles:
    """Profile vectors and a BM25 index over the catalog's techniques."""

    def __init__(self, ids: list[str], owners: np.ndarray, vectors: np.ndarray, bm25: _Bm25,
                 embed: Callable[[list[str]], np.ndarray]) -> None:
        self.ids = ids
        self.owners = owners
        self.vectors = vectors
        self.bm25 = bm25
        self.embed = embed

    def relevance(self, question: str, query_vector: np.ndarray | None = None) -> dict[str, float]:
        """Technique id -> how well its profile matches the question, 0 (nothing) to 1 (as good as it gets)."""
        q = query_vector if query_vector is not None else self.embed([question])[0]
        cosine = self.vectors @ np.asarray(q, dtype=np.float32)
        best = _best_per_owner(cosine, self.owners, len(self.ids))
        dense = np.clip((best - COSINE_FLOOR) / (COSINE_FULL - COSINE_FLOOR), 0.0, 1.0)
        lexical = self.bm25.scores(question)
        top = lexical.max() if len(lexical) else 0.0
        lexical = lexical / top if top > 0 else lexical
        score = W_DENSE * dense + W_LEXICAL * lexical
        return {tech_id: round(float(v), 4) for tech_id, v in zip(self.ids, score)}


def _best_per_owner(values: np.ndarray, owners: np.ndarray, count: int) -> np.ndarray:
    """The largest of ``values`` per owner (owners 0..count-1; -1 for one with none), as float64.

    Profile rows come grouped by owner in order, so one ``maximum.reduceat`` over the groups does what an
    unbuffered ``maximum.at`` does row by row; owners out of order fall back to it.
    """
    best = np.full(count, -1.0)
    if not len(owners):
        return best
    if np.all(owners[1:] >= owners[:-1]):
        starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        # max is exact, so taking it in float32 and widening gives what widening first and taking it gives
        best[owners[starts]] = np.maximum(np.maximum.reduceat(values, starts).astype(np.float64), -1.0)
        return best
    np.maximum.at(best, owners, values)
    return best


_LOADED: dict[str, TechniqueProfiles] = {}


def load_profiles(catalog: Any, embed: Callable[[list[str]], np.ndarray], model_id: str,
                  cache_dir: Path | None = None) -> TechniqueProfiles:
    """The catalog's technique profiles, embedded with ``embed`` once per catalog content and model.

    Args:
        embed: texts -> unit float32 rows (the query embedder, or the batch embedder when warming the cache).
        model_id: the embedding model's id; a different model means different vectors.
        cache_dir: where the vectors are kept between processes (None: only in this process).
    """
    ids = sorted(catalog.techniques)
    texts_by_id = {t: profile_texts(catalog.techniques[t]) for t in ids}
    flat = [(i, text) for i, t in enumerate(ids) for text in texts_by_id[t]]
    key = hashlib.sha256((model_id + "\n" + "\n".join(f"{ids[i]}\t{text}" for i, text in flat)).encode()).hexdigest()[:20]
    if key in _LOADED:  # embedded in this process already: still leave the vectors where other processes look
        if cache_dir is not None and not _cache_path(cache_dir, key).is_file():
            _write_cache(cache_dir, key, _LOADED[key].vectors)
        return _LOADED[key]
    owners = np.array([i for i, _ in flat], dtype=np.int64)
    vectors = _read_cache(cache_dir, key, len(flat))
    if vectors is None:
        vectors = np.asarray(embed([text for _, text in flat]), dtype=np.float32)
        _write_cache(cache_dir, key, vectors)
    bm25 = _Bm25.build([" ".join(texts_by_id[t] + [catalog.techniques[t].summary]) for t in ids])
    profiles = TechniqueProfiles(ids, owners, vectors, bm25, embed)
    _LOADED[key] = profiles
    return profiles


def _cache_path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / f"technique-profiles-{key}.npy"


def _read_cache(cache_dir: Path | None, key: str, rows: int) -> np.ndarray | None:
    if cache_dir is None:
        return None
    try:
        vectors = np.load(_cache_path(cache_dir, key))
    except (OSError, ValueError):
        return None
    return vectors if vectors.ndim == 2 and vectors.shape[0] == rows else None


def _write_cache(cache_dir: Path | None, key: str, vectors: np.ndarray) -> None:
    if cache_dir is None:
        return
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, _cache_path(cache_dir, key))
    except OSError:
        pass  # a read-only state dir only costs the next process the embedding time


# a technique whose profile matches the question this well (0-1), and best among all, is what the question asks about
ASKED_MATCH = 0.55
# how close to the best match a family's best technique must be to count as asked about too
ASKED_SHARE = 0.75
# intent weight given per unit of relevance above the catalog's median match
INTENT_SCALE = 1.5


# a technique whose profile matches the question this much better than any other's is what the question is about
SUBJECT_MARGIN = 0.1


def clear_subject(relevance: dict[str, float]) -> str | None:
    """The technique the question is plainly about: the best profile match, ahead of every other by SUBJECT_MARGIN."""
    if len(relevance) < 2:
        return None
    first, second = sorted(relevance, key=lambda t: -relevance[t])[:2]
    return first if relevance[first] - relevance[second] >= SUBJECT_MARGIN else None


def named_families(text: str, catalog: Any) -> set[str]:
    """Families the question names outright ("which attention kernel", "KV cache", "quantization")."""
    words = " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "
    out = set()
    for family in {t.family for t in catalog.techniques.values()}:
        name = family.replace("-", " ")
        stem = name.rstrip("s")
        if f" {name} " in words or f" {stem} " in words or f" {stem}s " in words:
            out.add(family)
    return out


def intents_from_relevance(relevance: dict[str, float], catalog: Any, text: str = "") -> tuple[dict[str, float], set[str]]:
    """What the question points at, from the profile match and the families it names: (weights per technique and
    family, the techniques and families it clearly asks about)."""
    named = named_families(text, catalog) if text else set()
    if not relevance:
        return {f: 1.0 for f in named}, named
    values = sorted(relevance.values())
    median, best = values[len(values) // 2], values[-1]
    span = max(best - median, 1e-6)
    weights: dict[str, float] = {}
    explicit: set[str] = set()
    for tech_id, value in relevance.items():
        rel = max(0.0, (value - median) / span)
        weights[tech_id] = round(INTENT_SCALE * rel, 4)
        family = catalog.techniques[tech_id].family
        weights[family] = max(weights.get(family, 0.0), round(INTENT_SCALE * rel, 4))
        if value >= ASKED_MATCH and rel >= ASKED_SHARE:
            explicit.update({tech_id, family})
    for family in named:
        weights[family] = max(weights.get(family, 0.0), 1.0)
    if named:
        # a family named outright is what is asked about; profile matches elsewhere are hints, not the question
        explicit = {x for x in explicit if x in named or catalog.techniques.get(x) is not None
                    and catalog.techniques[x].family in named}
    return weights, explicit | named
