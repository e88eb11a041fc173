"""The exact/ANN vector-index plan comes from the settings, the same for every caller."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import Settings
from api.wiring import index_plan


def test_settings_build_the_index_plan(tmp_path):
    plan = index_plan(Settings(home=tmp_path, exact_search_max_vectors=1000, ann_kind="hnsw", hnsw_ef_search=64))
    assert (plan.exact_max_vectors, plan.ann_kind, plan.hnsw_ef_search) == (1000, "hnsw", 64)
    assert index_plan(Settings(home=tmp_path)) == index_plan(Settings(home=tmp_path))  # callers agree


def test_an_unknown_ann_kind_is_refused(tmp_path):
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, ann_kind="lsh")
