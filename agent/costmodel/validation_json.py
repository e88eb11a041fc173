"""Print the cost model's value for every case of a validation file as JSON (used to run an older checkout).

Run from the root of a checkout: python -m agent.costmodel.validation_json CASES.yaml
Output: {"code": <path of the agent package used>, "values": {case id: value or null}, "errors": {case id: message}}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def values_for(cases_path: Path, data_dir: Path) -> dict:
    """The model's value of each case (None with an error message where this code cannot run it)."""
    import agent
    from agent.costmodel.validation import evaluate_case, load_published
    from agent.knowledge.catalog import Catalog

    catalog = Catalog.load(data_dir)
    data = load_published(cases_path)
    values: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for case in data["cases"]:
        try:
            values[case["id"]] = evaluate_case(case, data, catalog)
        except Exception as exc:  # an older model may lack a kind, a dtype or a model: report it per case
            values[case["id"]] = None
            errors[case["id"]] = f"{type(exc).__name__}: {exc}"
    return {"code": str(Path(agent.__file__).resolve().parent), "values": values, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m agent.costmodel.validation_json CASES.yaml", file=sys.stderr)
        return 2
    print(json.dumps(values_for(Path(args[0]), Path.cwd() / "data")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
