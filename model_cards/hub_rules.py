"""The rules the Hub applies to card YAML metadata, written out so they can be checked offline (the Hub's own
validation cannot be reached from tests): licence ids (https://huggingface.co/docs/hub/repositories-licenses), task
ids from huggingface.js (`PIPELINE_DATA`), the size buckets of huggingface_hub's `DatasetCardData`, the shape of
`configs:` that `datasets` reads, Hub ids, language codes, and the model-index layout that huggingface_hub's
`ModelCardData` / `EvalResult` read. `dataset_card_problems(metadata)` holds the dataset cards se1b writes to these
rules (stricter than the Hub: our own cards must be complete); `hub_card_problems(front)` lists what the Hub refuses in
any model card, `hub_card_warnings(front)` what it accepts but may not link. An empty list means the card passes.

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


# Model cards. What the Hub refuses when a README.md is pushed: it verifies `license`, `datasets` and `model-index`
# (the model card spec, https://github.com/huggingface/hub-docs/blob/main/modelcard.md: "When present, and only then,
# 'model-index', 'datasets' and 'license' contents will be verified"), and `pipeline_tag` must be one of its tasks.
# Everything else it accepts as written, and popular cards rely on that: legacy dataset ids without an owner
# (all-MiniLM-L6-v2: `s2orc`, `ms_marco`), `language: multilingual` (multilingual-e5), MTEB results filed under task
# types such as `Classification` with dataset types such as `mteb/amazon_counterfactual` (bge, e5, gte, nomic), or
# `datasets: wikipedia` as a bare string. Those are at most warnings (`hub_card_warnings`), never refusals.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}$")  # owner/name; no "--" or ".." (checked below)
LANGUAGE = re.compile(r"^([a-z]{2,3}(-[A-Za-z0-9]{2,8})*|code|multilingual)$")  # ISO 639-1/2/3 (+ region), specials


def _is_hub_id(value: Any) -> bool:
    return isinstance(value, str) and bool(HUB_ID.match(value)) and "--" not in value and ".." not in value \
        and not value.endswith(".git")


def _strings(front: dict[str, Any], key: str) -> tuple[list, str | None]:
    """The values of a field the Hub reads as a string or a list of strings, and the problem when it is neither."""
    value = front.get(key)
    values = _as_list(value)
    if not all(isinstance(item, str) for item in values):
        return [], f"{key}: must be a string or a list of strings, got {value!r}"
    return values, None


def hub_card_problems(front: dict[str, Any]) -> list[str]:
    """Everything in a model card's YAML front matter the Hub refuses on push; [] when it would accept it."""
    problems = []
    licenses, problem = _strings(front, "license")
    problems += [problem] + [f"license: {value!r} is not a Hub licence id" for value in licenses
                             if value not in HUB_LICENSES]
    tag = front.get("pipeline_tag")
    if tag is not None and tag not in HUB_TASKS:
        problems.append(f"pipeline_tag: {tag!r} is not a Hub pipeline tag")
    problems += [_strings(front, key)[1] for key in ("datasets", "tags", "language")]
    model_index = front.get("model-index")
    if model_index is not None and not isinstance(model_index, list):
        problems.append("model-index: must be a list of {name, results}")
    for i, entry in enumerate(model_index if isinstance(model_index, list) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not isinstance(entry.get("results"), list):
            problems.append(f"model-index[{i}]: needs a name and a list of results")
            continue
        for j, result in enumerate(entry["results"]):
            problems += _result_problems(result, f"model-index[{i}].results[{j}]")
    return [problem for problem in problems if problem]


def _result_problems(result: Any, where: str) -> list[str]:
    """One model-index result as the Hub (and huggingface_hub's EvalResult) needs it: task.type, dataset.type and
    dataset.name, and at least one metric with a type and a value."""
    if not isinstance(result, dict):
        return [f"{where}: must be a mapping with task, dataset and metrics"]
    task, dataset = result.get("task"), result.get("dataset")
    problems = []
    if not isinstance(task, dict) or not isinstance(task.get("type"), str) or not task["type"]:
        problems.append(f"{where}.task.type: required")
    for key in ("type", "name"):
        if not isinstance(dataset, dict) or not isinstance(dataset.get(key), str) or not dataset[key]:
            problems.append(f"{where}.dataset.{key}: required")
    metrics = result.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        problems.append(f"{where}.metrics: at least one metric is required")
    for k, metric in enumerate(metrics if isinstance(metrics, list) else []):
        if not isinstance(metric, dict) or not isinstance(metric.get("type"), str) or metric.get("value") is None:
            problems.append(f"{where}.metrics[{k}]: needs a type and a value")
    return problems


def hub_card_warnings(front: dict[str, Any]) -> list[str]:
    """What the Hub accepts but may not link or file as meant: dataset and base-model ids without an owner, language
    codes that are not ISO 639, a custom licence without its name and link. Real cards carry these; say, not refuse."""
    warnings = []
    datasets, _ = _strings(front, "datasets")
    legacy = [value for value in datasets if not _is_hub_id(value)]
    if legacy:
        warnings.append(f"datasets: {', '.join(map(repr, legacy))} not in owner/name form (legacy canonical ids): "
                        "the Hub links them only where such a dataset repo exists")
    base = front.get("base_model")
    for value in [base] if isinstance(base, str) else base if isinstance(base, list) else []:
        if not _is_hub_id(value):
            warnings.append(f"base_model: {value!r} is not a Hub model id (owner/name): the Hub will not link it")
    languages, _ = _strings(front, "language")
    warnings += [f"language: {code!r} is not an ISO 639 code" for code in languages if not LANGUAGE.match(code)]
    if "other" in _strings(front, "license")[0] and not (front.get("license_name") and front.get("license_link")):
        warnings.append("license other: license_name and license_link say which licence it is")
    return warnings
