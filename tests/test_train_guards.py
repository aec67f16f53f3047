"""`se1b train` under failure (issue 14): divergence never saves or applies a non-finite state and names its cause;
a resume refuses config changes its checkpoints depend on; a failed start writes nothing; truncated or deleted
checkpoint files give one line. Tiny random BERT, fixture pairs written by test_train's helpers."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_train import _config, _exported_tensors, write_fixture_data

from se1b.cli import main as se1b
from se1b.errors import UserError


@pytest.fixture(scope="module")
def fixture_paths(tmp_path_factory) -> dict[str, Path]:
    return {**write_fixture_data(tmp_path_factory.mktemp("fixture")), "model": "tiny-bert"}


def _assert_finite(folder: Path) -> None:
    tensors = _exported_tensors(folder)
    bad = [name for name, value in tensors.items() if not np.isfinite(value).all()]
    assert not bad, f"non-finite tensors in {folder}: {bad}"


def test_divergence_keeps_a_good_checkpoint_and_a_resume_refuses_fixed_fields(tmp_path, fixture_paths, capsys):
    from training.loop.config import load_config
    from training.loop.export_run import export_checkpoint
    from training.loop.train import train

    # Warmup from 0: step 1 changes nothing, step 2 jumps by ~3e29 (finite, saved), step 3's loss is NaN.
    config = _config(tmp_path, fixture_paths, "run", steps=6, learning_rate=1e30, warmup_steps=3,
                     checkpoint_every=1)
    code = se1b(["train", str(config)])  # in this process: a start-up of its own would add ~20 s
    stderr = capsys.readouterr().err
    assert code == 2, stderr[-3000:]
    error_lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and error_lines[0].startswith("se1b train: error: step 3 is not finite"), stderr
    assert "Traceback" not in stderr
    message = error_lines[0]
    assert "learning_rate (1e+30" in message and "scale" not in message
    assert "checkpoint 2 held those parameters and was deleted" in message
    assert "the last good checkpoint (step 1) is kept" in message
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["1"]
    _assert_finite(export_checkpoint(run))

    # A resume that changes the model or the seed is refused with one line; config.json is left as it was.
    saved = (run / "config.json").read_bytes()
    with pytest.raises(UserError, match=r"--resume cannot change model \('tiny-bert' -> 'tiny-roberta'\), seed "
                                        r"\(0 -> 1\)"):
        train(load_config(config, ["model=tiny-roberta", "seed=1"]), resume=True)
    refused = r"--resume cannot change batch_size \(16 -> 32\), max_seq_length \(16 -> 8\):"
    with pytest.raises(UserError, match=refused):
        train(load_config(config, ["batch_size=32", "max_seq_length=8", "learning_rate=1e-3"]), resume=True)
    assert (run / "config.json").read_bytes() == saved

    # A truncated checkpoint file at --resume: one line naming the checkpoint.
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    biggest = max((p for p in (broken / "checkpoints" / "1" / "state").rglob("*") if p.is_file()),
                  key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    with pytest.raises(UserError, match=r"checkpoint .*broken/checkpoints/1 cannot be read"):
        train(load_config(config, [f"output_dir={broken}"]), resume=True)
    # A deleted state folder at export: one line as well.
    shutil.rmtree(broken / "checkpoints" / "1" / "state")
    with pytest.raises(UserError, match=r"checkpoint .*broken/checkpoints/1 cannot be read"):
        export_checkpoint(broken)

    # The schedule may change: resuming from the last good checkpoint with a sane learning rate trains on.
    capsys.readouterr()
    model = train(load_config(config, ["learning_rate=1e-3"]), resume=True)
    assert "--resume changes learning_rate 1e+30 -> 0.001" in capsys.readouterr().out
    _assert_finite(model)
    assert json.loads((run / "config.json").read_text())["learning_rate"] == 1e-3


def test_a_failed_start_writes_nothing(tmp_path, fixture_paths, monkeypatch):
    import jax

    from training.loop.config import load_config
    from training.loop.train import train

    config = _config(tmp_path, fixture_paths, "run")
    out = tmp_path / "run"
    bad_data = tmp_path / "bad-data.json"
    bad_data.write_text(json.dumps({"sources": [{"name": "gone", "path": str(tmp_path / "gone"), "weight": 1}]}))
    cases = [
        (["eval_sts=missing.tsv"], "missing.tsv: no such file"),
        ([f"data={bad_data}"], "folder not found"),
        (["max_seq_length=512"], r"'max_seq_length' \(512\) exceeds the 130 positions of the model tiny-bert"),
        (["export_max_seq_length=512"],
         r"'export_max_seq_length' \(512\) exceeds the 130 positions of the model tiny-bert"),
    ]
    for overrides, message in cases:
        with pytest.raises(UserError, match=message):
            train(load_config(config, overrides))
        assert not out.exists(), overrides
    with monkeypatch.context() as patch:  # three devices: a batch of 16 does not split
        patch.setattr(jax, "devices", lambda: [jax.local_devices()[0]] * 3)
        with pytest.raises(UserError, match="batch_size 16 must be a multiple of the device count"):
            train(load_config(config))
    assert not out.exists()


def test_resume_without_checkpoint_starts_fresh_and_never_reuses_a_stale_base_model(tmp_path, fixture_paths, capsys):
    from training.loop.config import load_config
    from training.loop.guard import RUN_MARKER
    from training.loop.train import train
    from training.model.tiny import write_tiny_model

    out = tmp_path / "run"
    write_tiny_model(out / "base-model", "roberta", seed=5)  # left by a start that failed before its first checkpoint
    (out / RUN_MARKER).write_text("{}\n")  # which had marked the folder as the run's
    config = _config(tmp_path, fixture_paths, "run", steps=2)
    model = train(load_config(config), resume=True)
    assert f"--resume: no checkpoint in {out / 'checkpoints'}; starting fresh" in capsys.readouterr().out
    assert json.loads((out / "base-model" / "config.json").read_text())["model_type"] == "bert"
    _assert_finite(model)
    # Exported folders have the usual modes, whatever the temporary folder they were staged in.
    umask = os.umask(0)
    os.umask(umask)
    assert (model.stat().st_mode & 0o777) == 0o777 & ~umask
    assert ((model / "model.safetensors").stat().st_mode & 0o777) == 0o666 & ~umask
    assert ((out / "base-model").stat().st_mode & 0o777) == 0o777 & ~umask
