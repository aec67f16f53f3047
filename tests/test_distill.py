"""Multilingual knowledge distillation on the hand-translated English-German fixture corpus (tests/parallel_fixtures):
a tiny random xlm-roberta student learns a tiny random bert teacher's space. The MSE falls, translation retrieval
accuracy rises far above the untrained student's (measured on the training pairs: 64 sentences teach the tiny
student this corpus, not German), the teacher runs once and its cached embeddings are reused, and the evaluations
reach `se1b eval` and the model card per language pair."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from parallel_fixtures import EN_DE, write_tsv

import training.data.teacher as teacher_module
from datasets_builders import build_source, publish
from model_cards.metadata import RunMetadata
from se1b.errors import UserError
from training.evaluation.translation import evaluate_translation, load_translation
from training.loop.distill import DistillConfig, distill, load_distill_config, teacher_cache_key
from training.loop.distill import configure as distill_configure
from training.loop.distill import main as distill_main
from training.model.sentence_model import load_sentence_model
from training.model.tiny import write_tiny_model

pytestmark = pytest.mark.usefixtures("ray_session")  # builds run on Ray Data: one instance for all tests


class CountingTeacher:
    """Wraps `training.data.teacher.load_teacher` to count teacher loads and the texts it embeds."""

    def __init__(self, monkeypatch):
        self.loads, self.texts = 0, 0
        original = teacher_module.load_teacher

        def load(path):
            self.loads += 1
            model = original(path)
            encode = model.encode

            def counting_encode(texts, **kwargs):
                self.texts += len(texts)
                return encode(texts, **kwargs)

            model.encode = counting_encode
            return model

        monkeypatch.setattr(teacher_module, "load_teacher", load)


def _config(root: Path, name: str, **overrides) -> DistillConfig:
    values = dict(
        teacher=str(root / "teacher"), student="tiny-xlm-roberta",
        data=[{"path": str(root / "hub"), "config": "parallel_en_de", "split": "train"}],
        output_dir=str(root / name), cache_dir=str(root / "cache"), batch_size=16, steps=120, learning_rate=3e-3,
        warmup_steps=5, weight_decay=0.0, max_seq_length=32, log_every=10, checkpoint_every=1000,
        eval_translation=[str(root / "en-de.tsv")],
    )
    return DistillConfig(**(values | overrides))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distill")
    raw = write_tsv(root / "en-de.tsv")
    publish(build_source("parallel_en_de", [raw], progress=False), root / "hub", progress=False)
    write_tiny_model(root / "teacher", "bert", seed=1)
    return root


@pytest.fixture(scope="module")
def distilled(corpus) -> tuple[Path, int, int]:
    """One distillation run; returns (model folder, teacher loads, texts the teacher embedded)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        teacher = CountingTeacher(monkeypatch)
        model_dir = distill(_config(corpus, "run"))
    return model_dir, teacher.loads, teacher.texts


def test_distillation_lowers_mse_and_raises_translation_accuracy(distilled):
    model_dir, loads, texts = distilled
    assert (loads, texts) == (1, len(EN_DE))  # the teacher embedded each source sentence once
    rows = [json.loads(line) for line in (model_dir.parent / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert losses[-1] < losses[0] / 10
    accuracy = [row["eval/en-de.tsv (en-de)/accuracy"] for row in rows if "eval/en-de.tsv (en-de)/accuracy" in row]
    untrained, trained = accuracy[0], accuracy[-1]
    assert untrained < 0.2 and trained > 0.8, (untrained, trained)
    # The exported folder reproduces the final accuracy (it is the trained student, not the base model).
    student = load_sentence_model(model_dir)
    final = evaluate_translation(student.encode, load_translation(model_dir.parent.parent / "en-de.tsv"))
    assert final["accuracy"] == pytest.approx(trained)
    meta = RunMetadata.load(model_dir / "run_metadata.json")
    assert meta.model_kind == "multilingual" and meta.languages == ["en", "de"]
    assert meta.training.loss.startswith("MSELoss") and meta.training.pairs_seen == 120 * 16
    assert [(s.config, s.pairs_seen) for s in meta.data] == [("parallel_en_de", 120 * 16)]
    card = (model_dir / "README.md").read_text()
    assert "Translation retrieval" in card and "en-de.tsv (en-de)" in card and "- multilingual" in card


def test_teacher_cache_is_reused_and_matches_the_teacher(distilled, corpus, monkeypatch):
    teacher = CountingTeacher(monkeypatch)
    config = _config(corpus, "second")
    dataset, _ = teacher_module.load_parallel_data(config.data)  # what distill() does before training, again
    cached, folder, hit = teacher_module.teacher_embeddings(config.teacher, dataset, config.cache_dir)
    assert hit and (teacher.loads, teacher.texts) == (0, 0)  # a cache hit: the teacher is not even loaded
    assert [p.name for p in (corpus / "cache").iterdir()] == [folder.name]  # one complete entry, no leftovers
    direct = load_sentence_model(corpus / "teacher").encode([en for en, _ in EN_DE])
    np.testing.assert_allclose(cached, direct, atol=1e-6)


def test_cache_key_follows_teacher_and_data(corpus):
    import datasets

    sources = datasets.Dataset.from_dict({"anchor": [en for en, _ in EN_DE]})
    changed = datasets.Dataset.from_dict({"anchor": [en for en, _ in EN_DE[:-1]] + ["Something else."]})
    key = teacher_cache_key(corpus / "teacher", sources, 128)
    assert key == teacher_cache_key(corpus / "teacher", sources, 128)
    assert key != teacher_cache_key(corpus / "teacher", changed, 128)
    assert key != teacher_cache_key(corpus / "teacher", sources, 64)
    other = write_tiny_model(corpus / "other-teacher", "bert", seed=2)
    assert key != teacher_cache_key(other, sources, 128)


def test_se1b_eval_reports_translation_and_cross_lingual_sts_per_pair(distilled, corpus, tmp_path):
    from se1b.cli import main

    model_dir, _, _ = distilled
    translation = write_tsv(tmp_path / "tatoeba.tsv", EN_DE[:20], header=True)  # pair from the header
    sts = tmp_path / "sts17-en-de.tsv"  # pair from the file name
    scores = [5.0, 4.0, 0.0, 1.0, 0.5, 5.0]
    rows = [(EN_DE[i][0], EN_DE[i if s >= 4 else i + 7][1], s) for i, s in enumerate(scores)]
    sts.write_text("sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in rows))
    output = tmp_path / "results.json"
    assert main(["eval", str(model_dir), "--backend", "flax", "--translation", str(translation),
                 "--sts", str(sts), "--output", str(output)]) == 0
    results = {r["task"]: r for r in json.loads(output.read_text())["evaluations"]}
    assert results["translation"]["dataset_name"] == "tatoeba.tsv (en-de)"
    expected = evaluate_translation(load_sentence_model(model_dir).encode, load_translation(translation))
    assert results["translation"]["metrics"] == pytest.approx(expected)
    assert results["sts"]["dataset_name"].endswith("sts17-en-de.tsv (en-de)")
    assert main(["card", str(model_dir), "--evaluations", str(output)]) == 0
    card = (model_dir / "README.md").read_text()
    assert "tatoeba.tsv (en-de)" in card and "sts17-en-de.tsv (en-de)" in card
    bad = tmp_path / "bad.tsv"
    bad.write_text("one\tein\nno tab here\n")
    assert main(["eval", str(model_dir), "--backend", "flax", "--translation", str(bad)]) == 2
    with pytest.raises(UserError, match=r"bad\.tsv: line 2: 1 tab-separated fields"):
        load_translation(bad)


def test_config_errors_are_one_line(corpus, tmp_path):
    config = tmp_path / "distill.yaml"
    config.write_text(f"teacher: {corpus / 'teacher'}\nstudent: tiny-xlm-roberta\nsteps: 10\nlearning_rate: 1e-4\n"
                      f"data:\n  - {{path: {corpus / 'hub'}, config: parallel_en_de}}\n")
    loaded = load_distill_config(config, ["batch_size=8"])
    assert (loaded.steps, loaded.learning_rate, loaded.batch_size) == (10, 1e-4, 8)
    with pytest.raises(UserError, match="unknown config field 'teachr'"):
        load_distill_config(config, ["teachr=x"])
    with pytest.raises(UserError, match="config field 'steps' has the wrong type"):
        load_distill_config(config, ["steps=many"])
    with pytest.raises(UserError, match="config field 'data' is required"):
        load_distill_config(None, ["teacher=a", "student=b"])
    parser = argparse.ArgumentParser()
    distill_configure(parser)
    args = parser.parse_args([str(config), "--set", f"output_dir={tmp_path / 'run'}", "--set",
                              "eval_translation=missing.tsv"])
    with pytest.raises(UserError, match="eval_translation missing.tsv: no such file"):
        distill_main(args)
    from training.model.tiny import minilm_folder

    with pytest.raises(UserError, match=r"'max_seq_length' \(512\) exceeds the 128 positions of the model"):
        distill(_config(corpus, "too-long", max_seq_length=512, eval_translation=[]))
    with pytest.raises(UserError, match="embeds in 32 dimensions but the teacher in 384"):
        distill(_config(corpus, "mismatch", teacher=str(minilm_folder()), eval_translation=[],
                        cache_dir=str(tmp_path / "cache")))


def test_resume_continues_exactly_where_the_checkpoint_left_off(corpus):
    """2 steps, then --resume to 4, gives the same student as 4 steps in one go (the batch order is a function of
    the step and the teacher cache is shared)."""
    settings = dict(batch_size=8, warmup_steps=1, checkpoint_every=2, log_every=1, eval_translation=[])
    distill(_config(corpus, "interrupted", steps=2, **settings))
    resumed = distill(_config(corpus, "interrupted", steps=4, **settings), resume=True)
    straight = distill(_config(corpus, "straight", steps=4, **settings))
    texts = [en for en, _ in EN_DE[:8]] + [de for _, de in EN_DE[:8]]
    np.testing.assert_array_equal(load_sentence_model(resumed).encode(texts),
                                  load_sentence_model(straight).encode(texts))
    assert RunMetadata.load(resumed / "run_metadata.json").training.pairs_seen == 4 * 8
    with pytest.raises(UserError, match="already holds checkpoints; pass --resume"):
        distill(_config(corpus, "straight", steps=4, **settings))
