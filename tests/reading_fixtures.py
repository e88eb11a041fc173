"""The catalog and its name indexes, built once per session for the reader's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.knowledge.catalog import Catalog
from agent.workload import build_indexes, extract

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load(DATA)


@pytest.fixture(scope="session")
def indexes(catalog):
    return build_indexes(catalog)


@pytest.fixture(scope="session")
def read(catalog, indexes):
    """What the rules read from a text (``agent.workload.extract``), with the session's catalog and indexes."""
    return lambda text: extract(text, catalog, indexes)
