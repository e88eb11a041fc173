"""data/papers.yaml holds every paper of the shared manifest, facts unchanged."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT.parent / "shared" / "papers_manifest.yaml"


def load_builder():
    spec = importlib.util.spec_from_file_location("build_papers_yaml", ROOT / "scripts" / "build_papers_yaml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_builder_merges_duplicate_listings() -> None:
    manifest = [
        {"title": "A", "first_author": "X", "year": 2024, "arxiv_id": "2401.00001", "topic": "t", "kind": "paper",
         "source": "000", "seed_no": 1},
        {"title": "A", "first_author": "X", "year": 2024, "arxiv_id": "2401.00001", "topic": "t", "kind": "paper",
         "source": "001", "seed_no": 7},
        {"title": "Some Whitepaper: Part 2", "first_author": "V", "year": 2023, "arxiv_id": None, "topic": "hardware",
         "kind": "whitepaper", "source": "001", "seed_no": 2, "note": "vendor document"},
    ]
    papers = load_builder().build(manifest)
    assert [p["id"] for p in papers] == ["2401.00001", "some-whitepaper-part-2"]
    assert papers[0]["listed_in"] == ["000#1", "001#7"]
    assert papers[1]["no_arxiv_reason"] == "vendor document"


@pytest.mark.skipif(not MANIFEST.is_file(), reason="../shared/papers_manifest.yaml is not beside this checkout")
def test_papers_yaml_is_up_to_date_with_the_manifest() -> None:
    expected = load_builder().build(yaml.safe_load(MANIFEST.read_text()))
    actual = yaml.safe_load((ROOT / "data" / "papers.yaml").read_text())
    assert actual == expected
