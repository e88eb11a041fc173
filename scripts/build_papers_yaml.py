"""Regenerate data/papers.yaml from the shared manifest (facts only, one entry per paper).

Run from the repository root: ``python scripts/build_papers_yaml.py ../shared/papers_manifest.yaml``.
Entries listed in several seed lists are merged into one paper that remembers every listing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

HEADER = """\
# Every paper listed in the seed documents, one entry per paper (duplicates across lists merged).
# Generated from ../shared/papers_manifest.yaml by scripts/build_papers_yaml.py; facts only.
# id: the arXiv id where the paper has one, else a slug. card: its bundled card under data/cards/.
# no_arxiv_reason: why an entry has no arXiv id (the refresh job still tries a title search for it).
"""


def slugify(title: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-").split("-")
    return "-".join(words[:8])


def build(manifest: list[dict]) -> list[dict]:
    papers: dict[str, dict] = {}
    for entry in manifest:
        key = entry["arxiv_id"] or slugify(entry["title"])
        listing = f"{entry['source']}#{entry['seed_no']}"
        if key in papers:
            papers[key]["listed_in"].append(listing)
            continue
        paper = {
            "id": key,
            "arxiv_id": entry["arxiv_id"],
            "title": entry["title"],
            "first_author": entry["first_author"],
            "year": entry["year"],
            "venue": entry.get("venue"),
            "topic": entry["topic"],
            "kind": entry["kind"],
            "verified": bool(entry.get("verified")),
            "listed_in": [listing],
            "card": f"{key}.md",
        }
        if not entry["arxiv_id"]:
            paper["no_arxiv_reason"] = entry.get("note") or "no arXiv version known"
        papers[key] = paper
    return list(papers.values())


def main(argv: list[str]) -> int:
    manifest_path = Path(argv[1] if len(argv) > 1 else "../shared/papers_manifest.yaml")
    out_path = Path(argv[2] if len(argv) > 2 else "data/papers.yaml")
    papers = build(yaml.safe_load(manifest_path.read_text()))
    body = yaml.safe_dump(papers, sort_keys=False, allow_unicode=True, width=110)
    out_path.write_text(HEADER + body)
    print(f"wrote {len(papers)} papers to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
