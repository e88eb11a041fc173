"""The parsed-catalog cache: same objects as a fresh parse, rebuilt when stale or broken, never a hard error."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import agent.knowledge.catalog as catalog_mod
from agent.knowledge.cache import ParsedCache
from agent.knowledge.catalog import Catalog
from index.errors import AccelsageError

REPO = Path(__file__).resolve().parents[1]
KINDS = ["gpus", "models", "techniques", "papers", "cards"]


@pytest.fixture(scope="module")
def data_copy(tmp_path_factory) -> Path:
    """A private copy of the shipped data (the tests edit files in it)."""
    root = tmp_path_factory.mktemp("data")
    for kind in ("gpus", "models", "techniques", "cards"):
        shutil.copytree(REPO / "data" / kind, root / kind)
    shutil.copy(REPO / "data" / "papers.yaml", root / "papers.yaml")
    return root


@pytest.fixture()
def data(tmp_path, data_copy) -> Path:
    root = tmp_path / "data"
    shutil.copytree(data_copy, root)
    return root


def _no_parsing(monkeypatch) -> None:
    def refuse(path):
        raise AssertionError(f"parsed {path} although the cache is fresh")

    monkeypatch.setattr(catalog_mod, "read_yaml", refuse)
    monkeypatch.setattr(catalog_mod, "read_front_matter", refuse)


@pytest.mark.parametrize("kind", KINDS)
def test_cached_catalog_equals_a_fresh_parse(kind, data, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    fresh = getattr(Catalog(data), kind)
    first = getattr(Catalog(data, cache_dir=cache), kind)
    assert list(cache.glob(f"catalog-{kind}-*.json"))
    _no_parsing(monkeypatch)
    second = getattr(Catalog(data, cache_dir=cache), kind)
    assert fresh and first == fresh and second == fresh


def test_changed_file_is_reparsed(data, tmp_path):
    cache = tmp_path / "cache"
    assert Catalog(data, cache_dir=cache).gpus["h100-sxm"].sm_count != 7
    path = data / "gpus" / "h100-sxm.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nsm_count: 132\n", "\nsm_count: 7\n", 1), encoding="utf-8")
    assert Catalog(data, cache_dir=cache).gpus["h100-sxm"].sm_count == 7


@pytest.mark.parametrize("change", ["add", "remove"])
def test_added_or_removed_file_is_seen(change, data, tmp_path):
    cache = tmp_path / "cache"
    before = set(Catalog(data, cache_dir=cache).models)
    victim = sorted(before)[0]
    if change == "add":
        text = (data / "models" / f"{victim}.yaml").read_text(encoding="utf-8")
        (data / "models" / "zz-copy.yaml").write_text(text.replace(f"id: {victim}", "id: zz-copy", 1), encoding="utf-8")
        expected = before | {"zz-copy"}
    else:
        (data / "models" / f"{victim}.yaml").unlink()
        expected = before - {victim}
    assert set(Catalog(data, cache_dir=cache).models) == expected


@pytest.mark.parametrize("garbage", [b"", b"{not json", b"[1, 2]", b'{"key": 1, "items": 3}', b"\xff\xfe\x00"])
def test_unreadable_cache_is_ignored_and_rewritten(garbage, data, tmp_path):
    cache = tmp_path / "cache"
    expected = Catalog(data, cache_dir=cache).techniques
    (target,) = cache.glob("catalog-techniques-*.json")
    target.write_bytes(garbage)
    assert Catalog(data, cache_dir=cache).techniques == expected
    assert target.read_bytes() != garbage


def test_unwritable_cache_dir_only_costs_speed(data, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    assert Catalog(data, cache_dir=blocker).gpus == Catalog(data).gpus
    assert blocker.read_text() == "a file where the cache folder should be"


def test_invalid_yaml_still_errors_and_is_not_cached(data, tmp_path):
    cache = tmp_path / "cache"
    (data / "gpus" / "broken.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(AccelsageError, match="broken.yaml"):
        Catalog(data, cache_dir=cache).gpus
    assert not list(cache.glob("catalog-gpus-*.json"))
    (data / "gpus" / "broken.yaml").unlink()
    assert Catalog(data, cache_dir=cache).gpus


def test_data_dir_is_never_written(data, tmp_path):
    before = sorted((p, p.stat().st_mtime_ns) for p in data.rglob("*"))
    catalog = Catalog(data, cache_dir=tmp_path / "cache")
    for kind in KINDS:
        getattr(catalog, kind)
    assert sorted((p, p.stat().st_mtime_ns) for p in data.rglob("*")) == before


def test_two_data_dirs_share_a_cache_dir_without_mixing(data, data_copy, tmp_path):
    cache = tmp_path / "cache"
    (data / "gpus" / "h100-sxm.yaml").unlink()
    assert "h100-sxm" in Catalog(data_copy, cache_dir=cache).gpus
    assert "h100-sxm" not in Catalog(data, cache_dir=cache).gpus
    assert "h100-sxm" in Catalog(data_copy, cache_dir=cache).gpus


def test_values_json_would_change_are_parsed_every_time(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("x")
    calls = []

    def parse(path):
        calls.append(path)
        return {"when": datetime.date(2024, 1, 2)}

    cache = ParsedCache(tmp_path / "cache", tmp_path)
    assert cache.load("kind", [source], parse) == cache.load("kind", [source], parse) == [{"when": datetime.date(2024, 1, 2)}]
    assert len(calls) == 2 and not list((tmp_path / "cache").glob("*.json"))


def test_load_shares_one_instance_per_path_and_cache(tmp_path):
    assert Catalog.load(REPO / "data") is Catalog.load(REPO / "data" / ".." / "data")
    assert Catalog.load(REPO / "data", cache_dir=tmp_path) is Catalog.load(REPO / "data", cache_dir=tmp_path)
    assert Catalog.load(REPO / "data", cache_dir=tmp_path) is not Catalog.load(REPO / "data")


def test_a_warm_cache_needs_no_yaml_import(data, tmp_path):
    cache = tmp_path / "cache"
    catalog = Catalog(data, cache_dir=cache)
    for kind in KINDS:
        getattr(catalog, kind)
    code = (
        "import sys; from pathlib import Path; from agent.knowledge.catalog import Catalog\n"
        f"c = Catalog(Path({str(data)!r}), cache_dir=Path({str(cache)!r}))\n"
        f"sizes = [len(getattr(c, k)) for k in {KINDS!r}]\n"
        "print(all(sizes), 'yaml' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELSAGE_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
