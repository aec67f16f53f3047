"""Export a Flax sentence model to a sentence-transformers folder in the classic layout (read by
sentence-transformers v2 to v6): model.safetensors under Hugging Face names, config.json, tokenizer files,
modules.json, sentence_bert_config.json, config_sentence_transformers.json, 1_Pooling/config.json, 2_Normalize/.

The folder is written to a temporary sibling and renamed into place, so a failure never leaves a partial model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from safetensors.numpy import save_file

from se1b.errors import UserError
from se1b.files import staging_sibling, swap_into_place
from training.model.encoders import encoder_state_dict
from training.model.sentence_model import SentenceEncoder


def check_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse an existing non-empty target unless overwriting; call before doing expensive work."""
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
    extra_files: dict[str, bytes | str] | None = None,
) -> Path:
    """Write `model` + `tokenizer` as a sentence-transformers folder at `out_dir`; returns the folder.

    `extra_files` (relative path -> content) are written alongside, e.g. run_metadata.json or README.md.
    """
    out = Path(out_dir)
    check_target(out, overwrite)
    staging = staging_sibling(out)
    try:
        encoder = model.encoder
        (staging / "config.json").write_text(json.dumps(encoder.hf_config, indent=2, sort_keys=True))
        save_file(encoder_state_dict(encoder), str(staging / "model.safetensors"), metadata={"format": "pt"})
        tokenizer.save_pretrained(str(staging))
        write_sentence_transformers_modules(
            staging,
            embedding_dimension=encoder.hidden_size,
            max_seq_length=max_seq_length,
            normalize=model.normalize,
            pooling=model.pooling,
            prompts=prompts,
        )
        for relative, content in (extra_files or {}).items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content.encode() if isinstance(content, str) else content)
        swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def write_sentence_transformers_modules(
    out: Path,
    *,
    embedding_dimension: int,
    max_seq_length: int,
    normalize: bool,
    pooling: str = "mean",
    prompts: dict[str, str] | None = None,
) -> None:
    """Write the classic sentence-transformers module files (readable by sentence-transformers v2 to v6)."""
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
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}, indent=2)
    )
    (out / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "__version__": {
                    "sentence_transformers": sentence_transformers.__version__,
                    "transformers": transformers.__version__,
                    "pytorch": torch.__version__,
                },
                "prompts": prompts or {},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
            indent=2,
        )
    )
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": embedding_dimension,
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_max_tokens": pooling == "max",
                "pooling_mode_mean_sqrt_len_tokens": False,
                "pooling_mode_weightedmean_tokens": False,
                "pooling_mode_lasttoken": False,
                "include_prompt": True,
            },
            indent=2,
        )
    )
