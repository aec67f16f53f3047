"""Every sentence-transformers folder layout, written by sentence-transformers' own `save` in the test, reads here
with the settings and embeddings `SentenceTransformer(path)` has (issue #19)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer, models

from se1b.cli import main as se1b
from se1b.errors import UserError
from training.model.sentence_model import load_sentence_model
from training.model.tiny import minilm_folder, tiny_config

WORDS = "river stone quietly orange builds seven lanterns under a patient winter sky while children count".split()
# Two texts well past 128 tokens (so truncation at 256 and 200 matters), a mid one and a short one.
TEXTS = [
    " ".join(WORDS[(i * 7) % len(WORDS)] for i in range(300)),
    " ".join(WORDS[(i * 3) % len(WORDS)] for i in range(170)),
    "A man is riding a white horse on an enclosed ground while the crowd watches.",
    "ok",
]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny random BERT with 512 positions (so lengths above 128 are real) and the MiniLM tokenizer."""
    import torch
    import transformers

    out = tmp_path_factory.mktemp("base")
    config = tiny_config("bert")
    config.max_position_embeddings = 512
    torch.manual_seed(3)
    transformers.AutoModel.from_config(config).save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm_folder() / name, out / name)
    return out


def st_save(base: Path, out: Path, *, max_seq_length: int | None, pooling, normalize: bool = True,
            include_prompt: bool = True, dense: bool = False, **model_kwargs) -> Path:
    modules = [models.Transformer(str(base), max_seq_length=max_seq_length),
               models.Pooling(32, pooling_mode=pooling, include_prompt=include_prompt)]
    if dense:
        modules.append(models.Dense(32 * (1 if isinstance(pooling, str) else len(pooling)), 8))
    if normalize:
        modules.append(models.Normalize())
    SentenceTransformer(modules=modules, device="cpu", **model_kwargs).save(str(out))
    return out


def to_classic(folder: Path, max_seq_length: int, tokenizer_max: int) -> None:
    """Rewrite a 6.x save into the classic (v2-v5.3) layout: classic type names, pooling_mode_* booleans, and
    max_seq_length in sentence_bert_config.json with another model_max_length in tokenizer_config.json."""
    modules = json.loads((folder / "modules.json").read_text())
    for module in modules:
        module["type"] = "sentence_transformers.models." + module["type"].rsplit(".", 1)[-1]
    (folder / "modules.json").write_text(json.dumps(modules))
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    modes = pooling["pooling_mode"] if isinstance(pooling["pooling_mode"], list) else [pooling["pooling_mode"]]
    keys = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
            "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
            "weightedmean": "pooling_mode_weightedmean_tokens", "lasttoken": "pooling_mode_lasttoken"}
    classic = {"word_embedding_dimension": pooling["embedding_dimension"], "include_prompt": pooling["include_prompt"]}
    classic |= {key: mode in modes for mode, key in keys.items()}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(classic))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length,
                                                                   "do_lower_case": False}))
    tokenizer = json.loads((folder / "tokenizer_config.json").read_text())
    tokenizer["model_max_length"] = tokenizer_max
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    if (folder / "2_Normalize" / "config.json").exists():
        (folder / "2_Normalize" / "config.json").unlink()


def to_subfolder(folder: Path) -> None:
    """Move the Transformer's files into 0_Transformer/, as models saved by early versions hold them."""
    sub = folder / "0_Transformer"
    sub.mkdir()
    for path in list(folder.iterdir()):
        if path.is_file() and path.name not in ("modules.json", "config_sentence_transformers.json", "README.md"):
            path.rename(sub / path.name)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))


CASES = {
    # name: (save kwargs, layout rewrite)
    "mean-normalized-256": (dict(max_seq_length=256, pooling="mean"), None),
    "cls-raw-prompts-dot": (dict(max_seq_length=32, pooling="cls", normalize=False, similarity_fn_name="dot",
                                 prompts={"query": "query: ", "document": "passage: "}, default_prompt_name="query"),
                            None),
    "max-truncate-dim": (dict(max_seq_length=200, pooling="max", truncate_dim=16), None),
    "weightedmean-exclude-prompt": (dict(max_seq_length=256, pooling="weightedmean", include_prompt=False,
                                         prompts={"query": "search for the text: "}, default_prompt_name="query"),
                                    None),
    "lasttoken": (dict(max_seq_length=160, pooling="lasttoken", normalize=False), None),
    "cls-and-mean-sqrt": (dict(max_seq_length=256, pooling=("cls", "mean_sqrt_len_tokens")), None),
    "tokenizer-length-capped": (dict(max_seq_length=None, pooling="mean"), "no-length"),
    "classic-length-in-sbert-config": (dict(max_seq_length=64, pooling="mean", prompts={"query": "q: "}),
                                       "classic"),
    "classic-cls-exclude-prompt": (dict(max_seq_length=64, pooling="cls", include_prompt=False,
                                        prompts={"query": "q: "}, default_prompt_name="query"), "classic"),
    "transformer-in-subfolder": (dict(max_seq_length=256, pooling="mean"), "subfolder"),
}


@pytest.mark.parametrize("case", CASES)
def test_settings_and_embeddings_equal_sentence_transformers(base, tmp_path, case):
    kwargs, rewrite = CASES[case]
    folder = st_save(base, tmp_path / "m", **kwargs)
    if rewrite == "classic":
        to_classic(folder, max_seq_length=kwargs["max_seq_length"] * 2, tokenizer_max=48)
    elif rewrite == "subfolder":
        to_subfolder(folder)
    elif rewrite == "no-length":  # nothing but the tokenizer's own 10**30: capped at max_position_embeddings
        tokenizer = json.loads((folder / "tokenizer_config.json").read_text())
        tokenizer.pop("model_max_length", None)
        (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    reference = SentenceTransformer(str(folder), device="cpu")
    ours = load_sentence_model(folder)
    pooling = reference[1].pooling_mode
    assert ours.max_seq_length == reference.max_seq_length
    assert ours.model.pooling == (pooling if isinstance(pooling, str) else "+".join(pooling))
    assert ours.model.include_prompt == reference[1].include_prompt
    assert ours.model.normalize == any(isinstance(m, models.Normalize) for m in reference)
    assert {k: v for k, v in ours.prompts.items() if v} == {k: v for k, v in reference.prompts.items() if v}
    assert ours.default_prompt_name == reference.default_prompt_name
    assert (ours.similarity_fn_name or "cosine") == reference.similarity_fn_name
    assert ours.truncate_dim == reference.truncate_dim
    assert ours.dimension == reference.get_embedding_dimension()
    np.testing.assert_allclose(ours.encode(TEXTS, batch_size=3), reference.encode(TEXTS, batch_size=3),
                               atol=1e-5, rtol=0)
    for name in ours.prompts:
        np.testing.assert_allclose(ours.encode(TEXTS, prompt_name=name),
                                   reference.encode(TEXTS, prompt_name=name), atol=1e-5, rtol=0)


def test_export_round_trips_every_setting(base, tmp_path):
    kwargs = dict(max_seq_length=200, pooling="weightedmean", include_prompt=False, similarity_fn_name="dot",
                  truncate_dim=16, prompts={"query": "q: ", "document": "d: "}, default_prompt_name="query")
    source = st_save(base, tmp_path / "src", **kwargs)
    assert se1b(["convert", str(source), str(tmp_path / "out")]) == 0
    reference, exported = SentenceTransformer(str(source), device="cpu"), SentenceTransformer(str(tmp_path / "out"))
    for attribute in ("max_seq_length", "prompts", "default_prompt_name", "similarity_fn_name", "truncate_dim"):
        assert getattr(exported, attribute) == getattr(reference, attribute), attribute
    assert (exported[1].pooling_mode, exported[1].include_prompt) == ("weightedmean", False)
    np.testing.assert_allclose(exported.encode(TEXTS), reference.encode(TEXTS), atol=1e-5, rtol=0)


def test_an_unsupported_module_is_one_line_naming_it(base, tmp_path, capsys):
    folder = st_save(base, tmp_path / "dense", max_seq_length=64, pooling="mean", dense=True)
    with pytest.raises(UserError, match=r"module 2 \(sentence_transformers\..*Dense\) is not supported"):
        load_sentence_model(folder)
    custom = st_save(base, tmp_path / "custom", max_seq_length=64, pooling="mean")
    modules = json.loads((custom / "modules.json").read_text())
    modules[1]["type"] = "my_package.pooling.AttentionPooling"
    (custom / "modules.json").write_text(json.dumps(modules))
    (tmp_path / "t.txt").write_text("hello\n")
    capsys.readouterr()
    assert se1b(["encode", str(custom), "--input", str(tmp_path / "t.txt"), "--output", str(tmp_path / "e.npy")]) == 2
    error = capsys.readouterr().err.strip()
    assert "my_package.pooling.AttentionPooling" in error and len(error.splitlines()) == 1, error
    assert not (tmp_path / "e.npy").exists()
