"""Export a Flax sentence model to a sentence-transformers folder in the classic layout (read by
sentence-transformers v2.2.2 to v6): model.safetensors under Hugging Face names, config.json, tokenizer files,
modules.json, sentence_bert_config.json, config_sentence_transformers.json, 1_Pooling/config.json, 2_Normalize/,
and optionally onnx/ and openvino/ (training/model/backends.py).

sentence-transformers 2.2.2 builds Pooling(**config) and so rejects keys it does not know: 1_Pooling/config.json
holds only the keys of POOLING_KEYS_2_2_2, plus a newer key only where its value is not the default (then the
folder needs the version that introduced it: `oldest_sentence_transformers`).

The folder is written to a temporary sibling and renamed into place, so a failure never leaves a partial model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from safetensors.numpy import save_file

from se1b.errors import UserError
from se1b.files import check_output_folder, disk_full_error, is_disk_full, staging_sibling, swap_into_place
from se1b.safety import check_not_broad
from training.model.encoders import encoder_state_dict
from training.model.sentence_model import SentenceEncoder, SentenceModel, pooling_modes

# The Pooling arguments sentence-transformers 2.2.2 accepts (its Pooling.__init__), and the version that added each
# newer key we may write.
POOLING_KEYS_2_2_2 = ("word_embedding_dimension", "pooling_mode", "pooling_mode_cls_token", "pooling_mode_max_tokens",
                      "pooling_mode_mean_tokens", "pooling_mode_mean_sqrt_len_tokens")
NEWER_POOLING_KEYS = {"pooling_mode_weightedmean_tokens": "2.3.0", "pooling_mode_lasttoken": "2.3.0",
                      "include_prompt": "2.4.0"}
OLDEST_SENTENCE_TRANSFORMERS = "2.2.2"
# Buffers transformers rebuilds on load and does not keep in its state dict: stored, transformers 5 reports them as
# UNEXPECTED keys on every load.
NON_PERSISTENT_BUFFERS = ("position_ids", "token_type_ids")
# Keys transformers' save_pretrained leaves in tokenizer_config.json that describe the machine or the load call.
LOCAL_TOKENIZER_KEYS = ("is_local", "local_files_only", "name_or_path", "_name_or_path", "cache_dir")


def model_settings(model: SentenceModel) -> dict[str, Any]:
    """The sentence-transformers settings of a loaded model, as export_sentence_model's keyword arguments."""
    # A run's own prompts may replace the base's: a default naming a prompt that is gone would not load.
    default = model.default_prompt_name if model.default_prompt_name in (model.prompts or {}) else None
    return {"max_seq_length": model.max_seq_length, "prompts": model.prompts or None,
            "default_prompt_name": default, "similarity_fn_name": model.similarity_fn_name,
            "truncate_dim": model.truncate_dim, "do_lower_case": model.do_lower_case}


def oldest_sentence_transformers(pooling_config: dict[str, Any]) -> str:
    """The oldest sentence-transformers version that reads a 1_Pooling/config.json written here."""
    versions = [NEWER_POOLING_KEYS[key] for key in pooling_config if key in NEWER_POOLING_KEYS]
    return max(versions + [OLDEST_SENTENCE_TRANSFORMERS], key=lambda v: tuple(int(x) for x in v.split(".")))


def check_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse a symbolic link or a file as the target, an existing non-empty target unless overwriting, and never
    replace the file system root or the home folder; call before doing expensive work."""
    check_output_folder(out_dir, "output folder")
    check_not_broad(out_dir, "--out")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise UserError(f"{out_dir} exists and is not empty; pass --overwrite to replace it")


def export_sentence_model(
    model: SentenceEncoder,
    tokenizer: Any,
    out_dir: str | Path,
    *,
    max_seq_length: int,
    overwrite: bool = False,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    similarity_fn_name: str | None = None,
    truncate_dim: int | None = None,
    do_lower_case: bool = False,
    extra_files: dict[str, bytes | str] | None = None,
    backends: list[str] | tuple[str, ...] = (),
) -> Path:
    """Write `model` + `tokenizer` as a sentence-transformers folder at `out_dir`; returns the folder.

    `extra_files` (relative path -> content) are written alongside, e.g. run_metadata.json or README.md.
    `backends` ("onnx", "openvino"): also write the ONNX / OpenVINO files sentence-transformers loads with
    `backend=` (training/model/backends.py).
    """
    out = Path(out_dir)
    check_target(out, overwrite)
    staging = staging_sibling(out)
    needed = None
    try:
        encoder = model.encoder
        import transformers

        # The base's config minus where it was loaded from; the version is the one whose format this is.
        config = {key: value for key, value in encoder.hf_config.items() if key != "_name_or_path"}
        config["transformers_version"] = transformers.__version__
        (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        weights = {name: tensor for name, tensor in encoder_state_dict(encoder).items()
                   if name.rsplit(".", 1)[-1] not in NON_PERSISTENT_BUFFERS}
        needed = sum(array.nbytes for array in weights.values())
        save_file(weights, str(staging / "model.safetensors"), metadata={"format": "pt"})
        write_tokenizer(tokenizer, staging, max_seq_length)
        write_sentence_transformers_modules(
            staging,
            embedding_dimension=encoder.hidden_size,
            max_seq_length=max_seq_length,
            normalize=model.normalize,
            pooling=model.pooling,
            include_prompt=model.include_prompt,
            prompts=prompts,
            default_prompt_name=default_prompt_name,
            similarity_fn_name=similarity_fn_name,
            truncate_dim=truncate_dim,
            do_lower_case=do_lower_case,
        )
        if backends:
            from training.model.backends import export_backends

            export_backends(staging, backends)
        for relative, content in (extra_files or {}).items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        swap_into_place(staging, out)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, Exception) and is_disk_full(error):  # safetensors raises its own error type
            raise disk_full_error(out.absolute().parent, needed, f"the model {out.name}") from None
        raise
    return out


def write_tokenizer(tokenizer: Any, out: Path, max_seq_length: int) -> None:
    """The tokenizer's files: tokenizer.json and tokenizer_config.json (model_max_length = the model's
    max_seq_length, so code that tokenizes with the folder's tokenizer truncates as sentence-transformers does),
    special_tokens_map.json, and the slow tokenizer's vocabulary (vocab.txt for WordPiece, vocab.json + merges.txt
    for BPE) that transformers 4's `AutoTokenizer(..., use_fast=False)` reads; transformers 5 writes only the
    first two. (Unigram vocabularies, e.g. XLM-R's sentencepiece model, cannot be rebuilt from tokenizer.json.)"""
    tokenizer.save_pretrained(str(out))
    tokenizer_config = out / "tokenizer_config.json"
    settings = json.loads(tokenizer_config.read_text()) if tokenizer_config.exists() else {}
    for key in LOCAL_TOKENIZER_KEYS:
        settings.pop(key, None)
    settings["model_max_length"] = max_seq_length
    tokenizer_config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(tokenizer.special_tokens_map, indent=2, sort_keys=True)
                                                 + "\n")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and type(backend.model).__name__ in ("WordPiece", "BPE"):
        backend.model.save(str(out))


def pooling_config(embedding_dimension: int, pooling: str = "mean", include_prompt: bool = True) -> dict[str, Any]:
    """1_Pooling/config.json in the classic form: the keys 2.2.2 knows, newer keys only when not default."""
    modes = pooling_modes(pooling)
    config: dict[str, Any] = {
        "word_embedding_dimension": embedding_dimension,
        "pooling_mode_cls_token": "cls" in modes,
        "pooling_mode_mean_tokens": "mean" in modes,
        "pooling_mode_max_tokens": "max" in modes,
        "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens" in modes,
    }
    if "weightedmean" in modes:
        config["pooling_mode_weightedmean_tokens"] = True
    if "lasttoken" in modes:
        config["pooling_mode_lasttoken"] = True
    if not include_prompt:
        config["include_prompt"] = False
    return config


def write_sentence_transformers_modules(
    out: Path,
    *,
    embedding_dimension: int,
    max_seq_length: int,
    normalize: bool,
    pooling: str = "mean",
    include_prompt: bool = True,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    similarity_fn_name: str | None = None,
    truncate_dim: int | None = None,
    do_lower_case: bool = False,
) -> None:
    """Write the classic sentence-transformers module files (readable by sentence-transformers 2.2.2 to v6 unless
    the pooling needs newer keys; see oldest_sentence_transformers)."""
    import sentence_transformers
    import torch
    import transformers

    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
        (out / "2_Normalize").mkdir(exist_ok=True)
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    (out / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": do_lower_case}, indent=2)
    )
    model_config: dict[str, Any] = {
        "__version__": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "pytorch": torch.__version__,
        },
        "prompts": prompts or {},
        "default_prompt_name": default_prompt_name,
        "similarity_fn_name": similarity_fn_name or "cosine",
    }
    if truncate_dim:
        model_config["truncate_dim"] = truncate_dim
    (out / "config_sentence_transformers.json").write_text(json.dumps(model_config, indent=2))
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps(pooling_config(embedding_dimension, pooling, include_prompt), indent=2)
    )
