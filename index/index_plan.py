"""Which FAISS index a corpus gets: exact below a size, approximate (HNSW or IVF) above, with its parameters.

The plan is chosen by the caller (from the settings); the layout it yields is recorded in the index meta, so a
saved index built another way is rebuilt and one that differs only in search-time parameters is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import faiss
import numpy as np

FLAT, HNSW, IVF = "flat", "hnsw", "ivf"
ANN_KINDS = (HNSW, IVF)
# Parameters that shape the built index: changing one needs a rebuild. The others (ef_search,
# nprobe) are read at search time.
_BUILD_KEYS = {FLAT: (), HNSW: ("m", "ef_construction"), IVF: ("lists",)}
_IVF_POINTS_PER_LIST = 39  # FAISS warns below this many training points per list
_IVF_TRAIN_POINTS_PER_LIST = 64  # k-means sample: enough for stable lists, a fraction of 1M rows' cost


@dataclass(frozen=True)
class IndexLayout:
    """The kind of one built index (``flat``, ``hnsw``, ``ivf``) and its parameters."""

    kind: str
    params: dict = field(default_factory=dict)

    def describe(self) -> str:
        if not self.params:
            return f"{self.kind} (exact)" if self.kind == FLAT else self.kind
        return f"{self.kind} ({', '.join(f'{k}={v}' for k, v in self.params.items())})"

    def builds_like(self, other: "IndexLayout") -> bool:
        """Same kind and build parameters (search-time parameters may differ)."""
        keys = _BUILD_KEYS.get(self.kind, ())
        return self.kind == other.kind and all(self.params.get(k) == other.params.get(k) for k in keys)


@dataclass(frozen=True)
class IndexPlan:
    """Exact search up to ``exact_max_vectors``, an ANN index of ``ann_kind`` above it.

    Measured on our shared 2-core machine (``bench/synthetic_store.py --recall-queries``, docs/scaling.md):
    exact search costs ~8 ms a query at 100k vectors and 70-90 ms at 1M (STACK.md), so it stays exact
    up to 200k. At 1M clustered vectors IVF (1024 lists) built in 32 s and found every exact top-10
    neighbour at nprobe 32-128 (STACK.md: 0.96 at nprobe 128 on its set); HNSW (M=32, efConstruction
    40) took 17 minutes to build on the loaded machine and reached only 0.91 at efSearch 256.
    """

    exact_max_vectors: int = 200_000
    ann_kind: str = IVF
    hnsw_m: int = 32
    hnsw_ef_construction: int = 40
    hnsw_ef_search: int = 256
    ivf_lists: int = 1024
    ivf_nprobe: int = 128

    def __post_init__(self) -> None:
        if self.ann_kind not in ANN_KINDS:
            raise ValueError(f"unknown ANN index kind {self.ann_kind!r}; use one of {', '.join(ANN_KINDS)}")
        numbers = (self.exact_max_vectors, self.hnsw_m, self.hnsw_ef_construction, self.hnsw_ef_search,
                   self.ivf_lists, self.ivf_nprobe)
        if min(numbers) < 0 or min(numbers[1:]) < 1:
            raise ValueError("index plan parameters must be positive (exact_max_vectors may be 0)")

    def layout_for(self, count: int) -> IndexLayout:
        """What to build for ``count`` vectors."""
        if count <= self.exact_max_vectors:
            return IndexLayout(FLAT)
        if self.ann_kind == HNSW:
            return IndexLayout(HNSW, {"m": self.hnsw_m, "ef_construction": self.hnsw_ef_construction,
                                      "ef_search": self.hnsw_ef_search})
        lists = max(1, min(self.ivf_lists, count // _IVF_POINTS_PER_LIST))
        return IndexLayout(IVF, {"lists": lists, "nprobe": min(self.ivf_nprobe, lists)})


def build_faiss_index(layout: IndexLayout, vectors: np.ndarray) -> faiss.Index:
    """An empty (trained, for IVF) inner-product index of ``layout`` for rows like ``vectors``."""
    dim = int(vectors.shape[1])
    if layout.kind == FLAT:
        return faiss.IndexFlatIP(dim)
    if layout.kind == HNSW:
        index = faiss.IndexHNSWFlat(dim, int(layout.params["m"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(layout.params["ef_construction"])
        return index
    lists = int(layout.params["lists"])
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    # a fixed-seed sample: the same store always trains the same lists
    sample_size = min(len(vectors), lists * _IVF_TRAIN_POINTS_PER_LIST)
    sample = vectors[np.sort(np.random.default_rng(0).choice(len(vectors), sample_size, replace=False))]
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    return index


def layout_of(index: faiss.Index) -> IndexLayout:
    """The kind of a loaded ``IndexIDMap2``'s inner index (parameters come from the meta)."""
    inner = faiss.downcast_index(index.index)
    if isinstance(inner, faiss.IndexHNSW):
        return IndexLayout(HNSW)
    if isinstance(inner, faiss.IndexIVF):
        return IndexLayout(IVF)
    return IndexLayout(FLAT)


def search_parameters(layout: IndexLayout) -> faiss.SearchParameters | None:
    """FAISS per-query parameters for ``layout`` (None for exact search)."""
    if layout.kind == HNSW and "ef_search" in layout.params:
        return faiss.SearchParametersHNSW(efSearch=int(layout.params["ef_search"]))
    if layout.kind == IVF and "nprobe" in layout.params:
        return faiss.SearchParametersIVF(nprobe=int(layout.params["nprobe"]))
    return None
