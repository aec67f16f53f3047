"""Dataset cards for published pair datasets: Hub YAML metadata (configs with one default, dataset_info with each
config's columns and real counts) and a body that says which config to pick and, per config, the description,
columns, cleaning counts, example rows, source, licence and citation. No path of the machine that built it: the
build reports hold file names only. `model_cards.hub_rules.dataset_card_problems` checks the metadata.

The card is generated from the `build_reports/<config>.json` files that `datasets_builders.publishing` writes, so it
can be regenerated at any time (`write_dataset_card(folder)`) and always covers every config in the folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from model_cards.render import card_text, render_template
from se1b.safety import check_name

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
    reports = [json.loads(path.read_text()) for path in paths]
    for path, report in zip(paths, reports, strict=True):
        check_name(report.get("config"), f"{path}: config")  # the card names data/<config>/ by it
    return reports


LEGACY_COLUMNS = ["anchor", "positive", "negative"]  # reports written before pair configs dropped `negative`


def columns(report: dict[str, Any]) -> list[str]:
    """The columns of a published config: (anchor, positive) or (anchor, positive, negative)."""
    return report.get("columns", LEGACY_COLUMNS)


def pick_default_config(reports: list[dict[str, Any]], chosen: str | None = None) -> str:
    """The config `load_dataset(folder)` loads: `chosen` when it is published here, else the one with most rows."""
    names = [report["config"] for report in reports]
    if chosen is not None and chosen in names:
        return chosen
    return max(reports, key=lambda report: (report["num_examples"], report["config"]))["config"]


def dataset_card_metadata(reports: list[dict[str, Any]], pretty_name: str, default: str) -> dict[str, Any]:
    """The YAML front matter: what the Hub and `load_dataset` read."""
    licenses = sorted({report["source"]["license"] for report in reports})
    languages = sorted({code for report in reports for code in report["source"]["language"]})
    tags = BASE_TAGS + sorted({tag for report in reports for tag in report["source"]["tags"]} - set(BASE_TAGS))
    metadata: dict[str, Any] = {
        "pretty_name": pretty_name,
        "license": licenses[0] if len(licenses) == 1 else licenses,
    }
    # The Hub's fields for a licence outside its list: only one (name, link) fits, so they are written when every
    # `other` config names the same licence; the body gives each config's licence in any case.
    custom = {(r["source"].get("license_name"), r["source"].get("license_link")) for r in reports
              if r["source"]["license"] == "other"}
    if len(custom) == 1 and all(next(iter(custom))):
        metadata["license_name"], metadata["license_link"] = next(iter(custom))
    return metadata | {
        "language": languages,
        "task_categories": TASK_CATEGORIES,
        "size_categories": [size_category(sum(report["num_examples"] for report in reports))],
        "tags": tags,
        "configs": [
            {
                "config_name": report["config"],
                "data_files": [{"split": "train", "path": f"data/{report['config']}/train-*"}],
            }
            | ({"default": True} if report["config"] == default else {})
            for report in reports
        ],
        "dataset_info": [
            {
                "config_name": report["config"],
                "features": [{"name": name, "dtype": "string"} for name in columns(report)],
                "splits": [
                    {"name": "train", "num_bytes": report["num_bytes"], "num_examples": report["num_examples"]}
                ],
                "download_size": report["download_size"],
                "dataset_size": report["num_bytes"],
            }
            for report in reports
        ],
    }


LOCAL_REFERENCE = "path/to/this/folder"  # what the usage snippet loads until the folder is pushed to a repo


def dataset_card_text(reports: list[dict[str, Any]], pretty_name: str, default: str | None = None,
                      repo_id: str | None = None) -> str:
    """The whole README.md: YAML metadata and the markdown body; the usage snippet loads `repo_id` when given."""
    default = pick_default_config(reports, default)
    examples = {
        r["config"]: [json.dumps({c: row.get(c) for c in columns(r)}, ensure_ascii=False) for row in r["examples"]]
        for r in reports
    }
    kinds = {r["config"]: r.get("kind") or ("triplets" if "negative" in columns(r) else "pairs") for r in reports}
    body = render_template("dataset_card.md.j2", pretty_name=pretty_name, reports=reports, examples=examples,
                           default=default, repo_ref=repo_id or LOCAL_REFERENCE, pushed=repo_id is not None,
                           kinds=kinds, columns={r["config"]: columns(r) for r in reports})
    return card_text(dataset_card_metadata(reports, pretty_name, default), body)


def write_dataset_card(
    folder: str | Path, *, pretty_name: str | None = None, default_config: str | None = None,
    repo_id: str | None = None,
) -> Path:
    """(Re)write `folder/README.md` from the folder's build reports. A given `pretty_name`, `default_config` or
    `repo_id` (the Hub repo the folder is pushed to: the usage snippet loads it) is remembered in
    `build_reports/_dataset.json` for later rewrites; without one the title names the source (one
    config) or says how many there are, and the default config is the one with most rows. Returns the card's
    path."""
    folder = Path(folder)
    reports = load_reports(folder)
    if not reports:
        raise ValueError(f"{folder} has no build_reports/*.json: publish a source into it first")
    settings_path = folder / "build_reports" / "_dataset.json"
    settings = json.loads(settings_path.read_text()) if settings_path.is_file() else {}
    given = {"pretty_name": pretty_name, "default_config": default_config, "repo_id": repo_id}
    if any(value is not None for value in given.values()):
        settings |= {key: value for key, value in given.items() if value is not None}
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")
    pretty_name = settings.get("pretty_name") or (
        reports[0]["source"]["pretty_name"] if len(reports) == 1 else f"Sentence pairs from {len(reports)} sources"
    )
    card = folder / "README.md"
    card.write_text(dataset_card_text(reports, pretty_name, settings.get("default_config"), settings.get("repo_id")))
    return card
