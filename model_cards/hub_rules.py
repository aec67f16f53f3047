"""The checks the Hub makes on a model card's YAML, written out because its own validation cannot be reached offline:
licence ids, pipeline and task types, Hub ids, language codes and the model-index layout that huggingface_hub's
`ModelCardData` / `EvalResult` read (https://huggingface.co/docs/hub/model-cards, repositories-licenses).

    >>> hub_card_problems({"license": "apache-2.0", "pipeline_tag": "sentence-similarity"})
    []
"""

from __future__ import annotations

import re
from typing import Any

# The licence identifiers the Hub accepts in `license:` (its licences page).
HUB_LICENSES = frozenset("""
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0 bigcode-openrail-m
afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0
cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++
osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2
llama3.3 gemma unknown other
""".split())
# Hub pipeline tags a text embedding model may carry.
PIPELINE_TAGS = frozenset({
    "feature-extraction", "sentence-similarity", "text-classification", "token-classification", "fill-mask",
    "question-answering", "text-ranking", "zero-shot-classification", "translation", "summarization",
    "text-generation", "text2text-generation",
})
# model-index task types: Hub tasks, plus the ones sentence-transformers' own cards file evaluator results under.
TASK_TYPES = PIPELINE_TAGS | {"semantic-similarity", "information-retrieval", "text-retrieval", "bitext-mining",
                              "clustering", "reranking", "paraphrase-mining"}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")  # owner/name; no "--" or ".." (checked below)
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")  # ISO 639-1/2/3, optionally with a region


def _hub_id_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, str) or not HUB_ID.match(value) or "--" in value or ".." in value \
            or value.endswith(".git"):
        return f"{where}: {value!r} is not a Hub id (owner/name)"
    return None


def hub_card_problems(front: dict[str, Any]) -> list[str]:
    """Everything in a model card's YAML front matter the Hub would reject or misfile; [] when it is clean."""
    problems = []
    license_id = front.get("license")
    if license_id is not None and license_id not in HUB_LICENSES:
        problems.append(f"license: {license_id!r} is not a Hub licence id")
    if front.get("pipeline_tag") is not None and front["pipeline_tag"] not in PIPELINE_TAGS:
        problems.append(f"pipeline_tag: {front['pipeline_tag']!r} is not a Hub pipeline tag")
    languages = front.get("language", [])
    for language in [languages] if isinstance(languages, str) else languages:
        if not isinstance(language, str) or not LANGUAGE.match(language):
            problems.append(f"language: {language!r} is not an ISO 639 code")
    base = front.get("base_model")
    for value in [base] if isinstance(base, str) else base or []:
        problems.append(_hub_id_problem(value, "base_model"))
    for value in front.get("datasets") or []:
        problems.append(_hub_id_problem(value, "datasets"))
    tags = front.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        problems.append("tags: must be a list of strings")
    for i, entry in enumerate(front.get("model-index") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or "results" not in entry:
            problems.append(f"model-index[{i}]: needs a name and results")
            continue
        for j, result in enumerate(entry["results"]):
            where = f"model-index[{i}].results[{j}]"
            task, dataset = result.get("task") or {}, result.get("dataset") or {}
            if task.get("type") not in TASK_TYPES:
                problems.append(f"{where}.task.type: {task.get('type')!r} is not a Hub task type")
            problems.append(_hub_id_problem(dataset.get("type"), f"{where}.dataset.type"))
            if not isinstance(dataset.get("name"), str) or not dataset["name"]:
                problems.append(f"{where}.dataset.name: required")
            metrics = result.get("metrics") or []
            if not metrics:
                problems.append(f"{where}.metrics: at least one metric is required")
            for k, metric in enumerate(metrics):
                if not isinstance(metric.get("type"), str) or not isinstance(metric.get("value"), (int, float)):
                    problems.append(f"{where}.metrics[{k}]: needs a string type and a numeric value")
    return [problem for problem in problems if problem]
