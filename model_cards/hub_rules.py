"""The rules the Hub applies to card YAML metadata, written out so they can be checked offline (the Hub's own
validation cannot be reached from tests): licence ids (https://huggingface.co/docs/hub/repositories-licenses), task
ids from huggingface.js (`PIPELINE_DATA`), the size buckets of huggingface_hub's `DatasetCardData`, the shape of
`configs:` that `datasets` reads, Hub ids, language codes, and the model-index layout that huggingface_hub's
`ModelCardData` / `EvalResult` read. `dataset_card_problems(metadata)` and `hub_card_problems(front)` (model cards)
list every broken rule; an empty list means the card passes.

    >>> hub_card_problems({"license": "apache-2.0", "pipeline_tag": "sentence-similarity"})
    []
"""

from __future__ import annotations

import re
from typing import Any

from huggingface_hub import DatasetCardData

HUB_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0
    cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0
    cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
    cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl
    gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr
    mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
    fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other""".split()
)
HUB_TASKS = frozenset(
    """text-classification token-classification table-question-answering question-answering
    zero-shot-classification translation summarization feature-extraction text-generation text2text-generation
    fill-mask sentence-similarity text-to-speech text-to-audio automatic-speech-recognition audio-to-audio
    audio-classification voice-activity-detection depth-estimation image-classification object-detection
    image-segmentation text-to-image image-to-text image-to-image image-to-video unconditional-image-generation
    video-classification reinforcement-learning robotics tabular-classification tabular-regression tabular-to-text
    table-to-text multiple-choice text-ranking text-retrieval time-series-forecasting text-to-video
    visual-question-answering zero-shot-image-classification graph-ml mask-generation zero-shot-object-detection
    text-to-3d image-to-3d image-feature-extraction video-text-to-text other""".split()
)
HUB_SIZE_CATEGORIES = (
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B", "10B<n<100B",
    "100B<n<1T", "n>1T",
)
_LICENSE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")  # the Hub's pattern for a custom licence id
_CONFIG_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_LANGUAGE = re.compile(r"^([a-z]{2,3}(-[A-Za-z0-9]+)*|code|multilingual)$")  # ISO 639-1/2/3 (+ region), specials
_LOCAL_PATH = re.compile(r"(^|[\s\"'`(=])(/[A-Za-z0-9._-]+){2,}|[A-Za-z]:\\\\")  # /home/x/..., C:\\


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def dataset_card_problems(metadata: dict[str, Any]) -> list[str]:
    """Every Hub rule the dataset card metadata breaks, one line each (empty: the card passes)."""
    problems = []
    try:
        DatasetCardData(**metadata)  # huggingface_hub's own reading of the fields
    except Exception as error:  # noqa: BLE001 - any failure to build the card data is a problem to report
        problems.append(f"huggingface_hub.DatasetCardData rejects the metadata: {error}")
    licenses = _as_list(metadata.get("license"))
    if not licenses:
        problems.append("license: missing")
    problems += [f"license: {value!r} is not a Hub licence id" for value in licenses if value not in HUB_LICENSES]
    if "other" in licenses:
        name, link = metadata.get("license_name"), metadata.get("license_link")
        if not name or not _LICENSE_NAME.match(str(name)):
            problems.append("license other: license_name must be a lower-case id such as my-license-1.0")
        if not link:
            problems.append("license other: license_link must name the licence text (a URL or LICENSE file)")
    tasks = _as_list(metadata.get("task_categories"))
    if not tasks:
        problems.append("task_categories: missing")
    problems += [f"task_categories: {task!r} is not a Hub task id" for task in tasks if task not in HUB_TASKS]
    sizes = _as_list(metadata.get("size_categories"))
    if len(sizes) != 1 or sizes[0] not in HUB_SIZE_CATEGORIES:
        problems.append(f"size_categories: expected one of {', '.join(HUB_SIZE_CATEGORIES)}, got {sizes}")
    problems += [
        f"language: {code!r} is not an ISO 639 code" for code in _as_list(metadata.get("language"))
        if not _LANGUAGE.match(str(code))
    ]
    problems += _configs_problems(metadata)
    for key, value in metadata.items():
        if isinstance(value, str) and _LOCAL_PATH.search(value):
            problems.append(f"{key}: holds a local path: {value!r}")
    return problems


def _configs_problems(metadata: dict[str, Any]) -> list[str]:
    """`configs:` as `datasets` reads it: unique names, data_files per split, at most one default, and a matching
    `dataset_info` entry with the features of each config."""
    problems = []
    configs = metadata.get("configs")
    if not isinstance(configs, list) or not configs:
        return ["configs: missing (load_dataset cannot find the data files)"]
    names = [config.get("config_name") for config in configs]
    if len(set(names)) != len(names):
        problems.append(f"configs: config names repeat: {names}")
    for config in configs:
        name = config.get("config_name")
        if not isinstance(name, str) or not _CONFIG_NAME.match(name):
            problems.append(f"configs: invalid config_name {name!r}")
        files = config.get("data_files")
        if not isinstance(files, list) or not all(isinstance(f, dict) and {"split", "path"} <= set(f) for f in files):
            problems.append(f"configs: {name}: data_files must list {{split, path}} entries")
        elif any(str(f["path"]).startswith("/") or ".." in str(f["path"]) for f in files):
            problems.append(f"configs: {name}: data_files paths must be relative to the repo")
    defaults = [config.get("config_name") for config in configs if config.get("default")]
    if len(configs) > 1 and len(defaults) != 1:
        problems.append(f"configs: several configs need one `default: true` for load_dataset(repo): {defaults}")
    infos = {info.get("config_name"): info for info in _as_list(metadata.get("dataset_info"))}
    for name in names:
        info = infos.get(name)
        if info is None:
            problems.append(f"dataset_info: no entry for config {name!r}")
        elif not info.get("features") or not info.get("splits"):
            problems.append(f"dataset_info: {name}: features and splits are required")
    return problems


# Model cards.
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
