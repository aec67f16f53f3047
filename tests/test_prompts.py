"""Asymmetric (QA) models: query/document prompts configured for training are applied to the right sides of each
pair and recorded in the export, so SentenceTransformer.encode(..., prompt_name="query") adds exactly the prefix."""

import json

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from se1b.errors import UserError
from tests.test_train import write_fixture_data
from training.data.pipeline import PairPipeline
from training.loop.config import TrainConfig, load_config
from training.loop.train import train

PROMPTS = {"query": "query: ", "document": "passage: "}


def test_pipeline_prepends_each_side_its_prefix(tmp_path, minilm_path):
    paths = write_fixture_data(tmp_path, rows=64)
    prefixed = PairPipeline(paths["data"], global_batch_size=8, tokenizer=minilm_path, max_seq_length=32,
                            prefixes={"anchor": "query: ", "positive": "passage: "}, num_workers=1)
    plain = PairPipeline(paths["data"], global_batch_size=8, tokenizer=minilm_path, max_seq_length=32, num_workers=1)
    with_prefix, without = next(prefixed), next(plain)
    prefixed.close()
    plain.close()
    # [CLS] query : <text...> vs [CLS] <text...>: the prompt's word pieces sit right after [CLS].
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    query_ids = tokenizer("query: ", add_special_tokens=False)["input_ids"]
    passage_ids = tokenizer("passage: ", add_special_tokens=False)["input_ids"]
    for side, ids in (("anchor", query_ids), ("positive", passage_ids)):
        got, base = with_prefix[side]["input_ids"], without[side]["input_ids"]
        assert (got[:, 1 : 1 + len(ids)] == np.array(ids)).all()
        assert (got[:, 1 + len(ids) : 3 + len(ids)] == base[:, 1:3]).all()


def test_prompted_model_exports_prompts_that_sentence_transformers_applies(tmp_path):
    paths = write_fixture_data(tmp_path, rows=64)
    config = TrainConfig(model="tiny-bert", data=str(paths["data"]), output_dir=str(tmp_path / "run"), batch_size=8,
                         steps=2, learning_rate=1e-3, warmup_steps=1, max_seq_length=32, prompts=PROMPTS).validate()
    out = train(config)
    saved = json.loads((out / "config_sentence_transformers.json").read_text())
    assert saved["prompts"] == PROMPTS
    model = SentenceTransformer(str(out), device="cpu")
    texts = ["cat dog horse cow", "rain snow wind storm"]
    prompted = model.encode(texts, prompt_name="query")
    np.testing.assert_allclose(prompted, model.encode(["query: " + t for t in texts]), atol=1e-6)
    assert not np.allclose(prompted, model.encode(texts), atol=1e-3)
    np.testing.assert_allclose(model.encode(texts, prompt_name="document"),
                               model.encode(["passage: " + t for t in texts]), atol=1e-6)


def test_unknown_prompt_names_are_refused(tmp_path):
    (tmp_path / "run.yaml").write_text("model: tiny-bert\ndata: d.yaml\nprompts: {question: 'q: '}\n")
    with pytest.raises(UserError, match="'prompts' knows 'query' and 'document'"):
        load_config(tmp_path / "run.yaml")
