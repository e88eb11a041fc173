"""The workload reader scored on the dev and held-out phrasings (data/eval/workloads*.yaml).

The held-out file was written apart from the reader's code and is never read while tuning it; both scores are
printed (`pytest -s`) so every run shows them side by side. The floors guard against regressions: they sit a little
below the scores measured when they were set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.knowledge.catalog import Catalog
from agent.reading.evaluation import evaluate_reading

DATA = Path(__file__).resolve().parents[1] / "data"
# workloads_dev2.yaml and workloads_dev3.yaml are later dev parts, each written from the README and catalog listings
# only and aimed at the hard fields (objectives said indirectly, memory caps, permissions, targets beside measurements);
# dev3 also has long Slack threads, tickets and pasted configs; dev4 is the everyday mix (short, medium and long);
# dev5 aims at goals said through consequences (bills, idle cards, the pace of the text) and trainers' batch settings;
# dev6 at command lines and configs, memory shares, model nicknames and stated priorities; dev7 at the objective in
# every voice (quality included); dev8 at lengths, loads, counts and targets in hard forms (first scored 0.895 / 0.388)
FLOORS = {"workloads.yaml": (0.97, 0.95), "workloads_dev2.yaml": (0.97, 0.90), "workloads_dev3.yaml": (0.96, 0.78),
          "workloads_dev4.yaml": (0.95, 0.76), "workloads_dev5.yaml": (0.97, 0.90), "workloads_dev6.yaml": (0.96, 0.85), "workloads_dev7.yaml": (0.95, 0.76), "workloads_dev8.yaml": (0.87, 0.35),
          "workloads_heldout.yaml": (0.96, 0.81)}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_reader_scores_on_the_eval_phrasings(name):
    report = evaluate_reading(DATA / "eval" / name, Catalog.load(DATA))
    print(f"\n{name}: {report.summary()}")
    fields, questions = FLOORS[name]
    assert report.field_accuracy >= fields and report.all_right_fraction >= questions


def test_every_expected_id_is_in_the_catalog():
    import yaml

    catalog = Catalog.load(DATA)
    for name in FLOORS:
        for item in yaml.safe_load((DATA / "eval" / name).read_text(encoding="utf-8"))["phrasings"]:
            expect = item["expect"]
            assert expect.get("gpu", "unknown") == "unknown" or expect["gpu"] in catalog.gpus, item["id"]
            assert expect.get("model") is None or expect["model"] in catalog.models, item["id"]
            assert set(expect.get("stack", [])) <= set(catalog.techniques), item["id"]
            assert expect.get("framework") is None or expect["framework"] in catalog.frameworks, item["id"]
