"""Dataset cards for published pair datasets: Hub YAML metadata (configs, dataset_info with real counts) and a body
with, per config, the description, schema, cleaning counts, example rows, source, licence and citation.

The card is generated from the `build_reports/<config>.json` files that `datasets_builders.publish` writes, so it can
be regenerated at any time (`write_dataset_card(folder)`) and always covers every config in the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_cards.render import card_text, render_template

TASK_CATEGORIES = ["sentence-similarity", "feature-extraction"]
BASE_TAGS = ["sentence-transformers", "sentence-pairs", "se1b"]
_SIZE_BOUNDS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
]


def size_category(num_examples: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    return next((label for bound, label in _SIZE_BOUNDS if num_examples < bound), "n>10B")


def load_reports(folder: str | Path) -> list[dict[str, Any]]:
    """The build reports of every config published in `folder`, in config-name order."""
    paths = sorted(p for p in (Path(folder) / "build_reports").glob("*.json") if not p.name.startswith("_"))
    return [json.loads(path.read_text()) for path in paths]


def dataset_card_metadata(reports: list[dict[str, Any]], pretty_name: str) -> dict[str, Any]:
    """The YAML front matter: what the Hub and `load_dataset` read."""
    licenses = sorted({report["source"]["license"] for report in reports})
    languages = sorted({code for report in reports for code in report["source"]["language"]})
    tags = BASE_TAGS + sorted({tag for report in reports for tag in report["source"]["tags"]} - set(BASE_TAGS))
    return {
        "pretty_name": pretty_name,
        "license": licenses[0] if len(licenses) == 1 else licenses,
        "language": languages,
        "task_categories": TASK_CATEGORIES,
        "size_categories": [size_category(max(report["num_examples"] for report in reports))],
        "tags": tags,
        "configs": [
            {
                "config_name": report["config"],
                "data_files": [{"split": "train", "path": f"data/{report['config']}/train-*"}],
            }
            for report in reports
        ],
        "dataset_info": [
            {
                "config_name": report["config"],
                "features": [{"name": name, "dtype": "string"} for name in ("anchor", "positive", "negative")],
                "splits": [
                    {"name": "train", "num_bytes": report["num_bytes"], "num_examples": report["num_examples"]}
                ],
                "download_size": report["download_size"],
                "dataset_size": report["num_bytes"],
            }
            for report in reports
        ],
    }


def dataset_card_text(reports: list[dict[str, Any]], pretty_name: str) -> str:
    """The whole README.md: YAML metadata and the markdown body."""
    examples = {r["config"]: [json.dumps(row, ensure_ascii=False) for row in r["examples"]] for r in reports}
    body = render_template("dataset_card.md.j2", pretty_name=pretty_name, reports=reports, examples=examples)
    return card_text(dataset_card_metadata(reports, pretty_name), body)


def write_dataset_card(folder: str | Path, *, pretty_name: str | None = None) -> Path:
    """(Re)write `folder/README.md` from the folder's build reports. A given `pretty_name` is remembered in
    `build_reports/_dataset.json` for later rewrites; without one the title names the source (one config) or says
    how many there are. Returns the card's path."""
    folder = Path(folder)
    reports = load_reports(folder)
    if not reports:
        raise ValueError(f"{folder} has no build_reports/*.json: publish a source into it first")
    settings_path = folder / "build_reports" / "_dataset.json"
    settings = json.loads(settings_path.read_text()) if settings_path.is_file() else {}
    if pretty_name is not None:
        settings["pretty_name"] = pretty_name
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")
    pretty_name = settings.get("pretty_name") or (
        reports[0]["source"]["pretty_name"] if len(reports) == 1 else f"Sentence pairs from {len(reports)} sources"
    )
    card = folder / "README.md"
    card.write_text(dataset_card_text(reports, pretty_name))
    return card
