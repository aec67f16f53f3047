"""BucketTokenizer gives what the transformers tokenizer gives, padded to a bucket length."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from se1b.errors import UserError
from training.data.tokenize import BucketTokenizer, default_buckets


def test_bucket_tokenizer_matches_transformers_and_pads_to_buckets(minilm_path):
    texts = ["A man is playing a guitar.", "Short", "word " * 100, "Ünïcödé and CamelCase words, with punctuation!"]
    tokenize = BucketTokenizer(minilm_path, max_seq_length=64)
    assert tokenize.buckets == default_buckets(64) == (8, 16, 24, 32, 40, 48, 56, 64)
    assert default_buckets(128) == (16, 32, 48, 64, 80, 96, 112, 128) and default_buckets(40) == (8, 16, 24, 32, 40)
    expected = AutoTokenizer.from_pretrained(minilm_path)(texts, truncation=True, max_length=64)
    out = tokenize(texts)
    assert out["input_ids"].shape == (4, 64) and out["input_ids"].dtype == np.int32  # the long text fills 64
    for row, ids, mask in zip(expected["input_ids"], out["input_ids"], out["attention_mask"], strict=True):
        assert ids[: len(row)].tolist() == row and (ids[len(row):] == 0).all()
        assert mask.tolist() == [1] * len(row) + [0] * (64 - len(row))
    # "[CLS] a man is playing a guitar . [SEP]" is 9 tokens: bucket 16; "[CLS] short [SEP]" alone: bucket 8
    assert [len(r) for r in expected["input_ids"][:2]] == [9, 3]
    assert tokenize(texts[:2])["input_ids"].shape == (2, 16)
    assert tokenize(texts[1:2])["input_ids"].shape == (1, 8)


def test_bad_buckets_and_missing_tokenizer_are_clear_errors(tmp_path, minilm_path):
    with pytest.raises(UserError, match="must be positive and end at max_seq_length 128"):
        BucketTokenizer(minilm_path, max_seq_length=128, buckets=(16, 64))
    with pytest.raises(UserError, match="no tokenizer.json"):
        BucketTokenizer(tmp_path, max_seq_length=128)
