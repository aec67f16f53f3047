"""Exported folders load in the oldest sentence-transformers the card claims (2.2.2) and hold nothing of the machine
that wrote them (issue #15, point 3)."""

import json
import os
import subprocess

import numpy as np
import pytest
import transformers
from sentence_transformers import SentenceTransformer

from se1b.cli import main as se1b
from training.model.export import oldest_sentence_transformers, pooling_config
from training.model.tiny import write_tiny_model

# sentence-transformers 2.2.2 builds Pooling(**config) and Transformer(**config): the arguments it accepts.
POOLING_ARGS_2_2_2 = {"word_embedding_dimension", "pooling_mode", "pooling_mode_cls_token", "pooling_mode_max_tokens",
                      "pooling_mode_mean_tokens", "pooling_mode_mean_sqrt_len_tokens"}
TRANSFORMER_ARGS_2_2_2 = {"max_seq_length", "model_args", "cache_dir", "tokenizer_args", "do_lower_case",
                          "tokenizer_name_or_path"}
TEXTS = ["A man is eating food.", "Three dogs run across the snowy field. " * 30, "ok"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compat")
    source = write_tiny_model(tmp / "src", "bert")
    assert se1b(["convert", str(source), str(tmp / "out")]) == 0
    return tmp / "out"


def test_module_files_hold_only_what_2_2_2_accepts(exported):
    assert set(json.loads((exported / "1_Pooling" / "config.json").read_text())) <= POOLING_ARGS_2_2_2
    assert set(json.loads((exported / "sentence_bert_config.json").read_text())) <= TRANSFORMER_ARGS_2_2_2
    types = {m["type"] for m in json.loads((exported / "modules.json").read_text())}
    assert types <= {f"sentence_transformers.models.{name}" for name in ("Transformer", "Pooling", "Normalize")}


@pytest.mark.parametrize("pooling, include_prompt, oldest", [
    ("mean", True, "2.2.2"), ("cls", True, "2.2.2"), ("max+mean_sqrt_len_tokens", True, "2.2.2"),
    ("weightedmean", True, "2.3.0"), ("mean", False, "2.4.0"),
])
def test_newer_pooling_keys_are_written_only_when_needed(pooling, include_prompt, oldest):
    config = pooling_config(32, pooling, include_prompt)
    assert oldest_sentence_transformers(config) == oldest
    assert (set(config) <= POOLING_ARGS_2_2_2) == (oldest == "2.2.2")
    # 2.2.2 defaults pooling_mode_mean_tokens to True: it is always written
    assert config["pooling_mode_mean_tokens"] == ("mean" in pooling.split("+"))


def test_no_machine_state_in_config_and_tokenizer_files(exported):
    assert "is_local" not in json.loads((exported / "tokenizer_config.json").read_text())
    config = json.loads((exported / "config.json").read_text())
    assert "_name_or_path" not in config and config["transformers_version"] == transformers.__version__


@pytest.mark.helper_venvs
@pytest.mark.skipif(not os.environ.get("SE1B_OLD_ST_PYTHON"),
                    reason="set SE1B_OLD_ST_PYTHON to a python with sentence-transformers 2.2.2 "
                           "(bench/old_sentence_transformers.py builds one)")
def test_loads_in_sentence_transformers_2_2_2_with_the_same_embeddings(exported, tmp_path):
    code = ("import json, sys, numpy, sentence_transformers as st; assert st.__version__ == '2.2.2', st.__version__;"
            "m = st.SentenceTransformer(sys.argv[1], device='cpu');"
            "numpy.save(sys.argv[2], m.encode(json.loads(sys.argv[3]))); print(m.max_seq_length)")
    result = subprocess.run([os.environ["SE1B_OLD_ST_PYTHON"], "-c", code, str(exported), str(tmp_path / "e.npy"),
                             json.dumps(TEXTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    current = SentenceTransformer(str(exported), device="cpu")
    assert int(result.stdout.strip().splitlines()[-1]) == current.max_seq_length
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), current.encode(TEXTS), atol=1e-5, rtol=0)
