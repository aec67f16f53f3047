"""What a model card repeats about each training source, read from the source's own dataset card: its licence (with
the name and link of a custom one), citation, languages and row count.

A folder written by `se1b data publish` (local, or pushed to the Hub) carries them per config in
`build_reports/<config>.json`; any other dataset in its README.md: the YAML `license` / `license_name` /
`license_link` / `language` / `dataset_info`, and the first BibTeX block of the text. Hub datasets are read through
huggingface_hub, whose cache serves them offline (`load_dataset` put the card there when training read the data).

    >>> dataset_facts("published/gooaq", "gooaq")["license"]
    'apache-2.0'
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from model_cards.metadata import is_hub_id

UNKNOWN = {"license": "unknown", "license_name": "", "license_link": "", "citation": "", "languages": [],
           "rows": None}
_BIBTEX = re.compile(r"```[a-z]*\n\s*(@\w+\s*\{.*?)```", re.DOTALL)


def dataset_facts(path: str, config: str | None = None, split: str = "train") -> dict[str, Any]:
    """Licence, licence name and link, citation, languages and row count of one source (`UNKNOWN`'s values where
    its card does not say, or cannot be read)."""
    card = _card_file(path, "README.md")
    front, text = _front_matter(card) if card else ({}, "")
    config = config or _default_config(front)
    report_file = _card_file(path, f"build_reports/{config}.json") if config else None
    if report_file is not None:
        report = json.loads(report_file.read_text(encoding="utf-8"))
        source = report["source"]
        return {"license": source["license"], "license_name": source.get("license_name", ""),
                "license_link": source.get("license_link", ""), "citation": source.get("citation", ""),
                "languages": list(source.get("language", [])), "rows": report.get("num_examples")}
    facts = dict(UNKNOWN)
    licenses = front.get("license")
    if licenses:
        facts["license"] = licenses if isinstance(licenses, str) else ", ".join(map(str, licenses))
    facts["license_name"] = str(front.get("license_name") or "")
    facts["license_link"] = str(front.get("license_link") or "")
    languages = front.get("language") or []
    facts["languages"] = [languages] if isinstance(languages, str) else [str(code) for code in languages]
    bibtex = _BIBTEX.search(text)
    facts["citation"] = bibtex.group(1).strip() if bibtex else ""
    facts["rows"] = _rows(front, config, split)
    return facts


def _card_file(path: str, filename: str) -> Path | None:
    """`filename` of a local dataset folder, or of a Hub dataset repo (downloaded, or from the cache when offline)."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local / filename if (local / filename).is_file() else None
    if not is_hub_id(path):
        return None
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(path, filename, repo_type="dataset"))
    except Exception:  # noqa: BLE001 - not in the repo, not cached offline, no network: the card says "unknown"
        return None


def _front_matter(card: Path) -> tuple[dict[str, Any], str]:
    from huggingface_hub import DatasetCard

    try:
        parsed = DatasetCard.load(card)
    except Exception:  # noqa: BLE001 - a card whose YAML does not parse holds no facts we can use
        return {}, card.read_text(encoding="utf-8", errors="replace")
    return parsed.data.to_dict(), parsed.text


def _default_config(front: dict[str, Any]) -> str | None:
    """The config `load_dataset(path)` loads: the one marked default, else the only one."""
    configs = [c for c in front.get("configs") or [] if isinstance(c, dict)]
    defaults = [c for c in configs if c.get("default")]
    chosen = defaults[0] if defaults else configs[0] if len(configs) == 1 else None
    return chosen.get("config_name") if chosen else None


def _rows(front: dict[str, Any], config: str | None, split: str) -> int | None:
    infos = front.get("dataset_info") or []
    for info in [infos] if isinstance(infos, dict) else infos:
        if isinstance(info, dict) and info.get("config_name", "default") == (config or "default"):
            return sum(int(entry.get("num_examples", 0)) for entry in info.get("splits") or []
                       if entry.get("name") == split) or None
    return None
