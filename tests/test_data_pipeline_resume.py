"""Exact resume: save the pipeline state at batch k, restore it in a new process, get the same next 100 batches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pair_fixtures import write_three_sources

from training.data.pipeline import PairPipeline

REPO = Path(__file__).resolve().parents[1]

# what the new process runs: build the same pipeline, load the saved state, write the next 100 batches
RESUME = """
import json, sys
sys.path.insert(0, sys.argv[2])
from test_data_pipeline_resume import plain
from training.data.pipeline import PairPipeline
job = json.load(open(sys.argv[1]))
pipeline = PairPipeline(job["config"], **job["options"])
pipeline.load_state_dict(json.load(open(job["state"])))
json.dump([plain(b) for _, b in zip(range(100), pipeline)], open(job["out"], "w"))
pipeline.close()
"""


def plain(batch: dict) -> dict:
    """A batch as JSON-able lists (token arrays included)."""
    return {k: plain(v) if isinstance(v, dict) else v.tolist() if isinstance(v, np.ndarray) else v
            for k, v in batch.items()}


@pytest.mark.parametrize(
    ("composition", "tokenized"), [("mixed", False), ("single_source", False), ("single_source", True)]
)
def test_restore_in_a_new_process_replays_the_same_batches(tmp_path, minilm_path, composition, tokenized):
    folders = write_three_sources(tmp_path / "pairs")
    sources = [{"name": n, "path": str(p), "weight": w} for (n, p), w in zip(folders.items(), (6, 3, 1), strict=True)]
    config = {"sources": sources,
              "batch_composition": composition, "steps_per_source": 2, "shuffle_window": 50, "swap_sides": True}
    options = {"global_batch_size": 8, "seed": 7, "prefetch": 3}
    if tokenized:
        options.update(tokenizer=str(minilm_path), max_seq_length=32, num_workers=2)
    # save at the first batch after 300 (every source restarted at least once) where a deferred duplicate is pending:
    # the state must carry the deferred rows as well as the stream positions
    pipeline = PairPipeline(config, **options)
    batches, state = [], None
    for batch in pipeline:
        batches.append(plain(batch))
        if state is None and len(batches) >= 300 and any(s["deferred"] for s in pipeline.state_dict()["sources"]):
            state, k = pipeline.state_dict(), len(batches)
        if state is not None and len(batches) == k + 100:
            break
    pipeline.close()
    assert state["step"] == k and all(s["epoch"] >= 1 for s in state["sources"][:2])

    (tmp_path / "state.json").write_text(json.dumps(state))
    job = {"config": config, "options": options, "state": str(tmp_path / "state.json"),
           "out": str(tmp_path / "out.json")}
    (tmp_path / "job.json").write_text(json.dumps(job))
    subprocess.run([sys.executable, "-c", RESUME, str(tmp_path / "job.json"), str(Path(__file__).parent)],
                   cwd=REPO, check=True)
    resumed = json.loads((tmp_path / "out.json").read_text())
    assert len(resumed) == 100
    assert resumed == batches[k:]


def test_state_from_other_settings_is_refused(tmp_path):
    folders = write_three_sources(tmp_path / "pairs")
    config = {"sources": [{"name": n, "path": str(p)} for n, p in folders.items()]}
    pipeline = PairPipeline(config, global_batch_size=8)
    next(pipeline)
    state = pipeline.state_dict()
    pipeline.close()
    from se1b.errors import UserError

    with pytest.raises(UserError, match=r"different settings: \['batch_size'\]"):
        PairPipeline(config, global_batch_size=16).load_state_dict(state)


def test_state_dict_ignores_prefetched_batches(tmp_path):
    """The producer runs ahead (prefetch); the state is the one after the last batch handed out."""
    folders = write_three_sources(tmp_path / "pairs")
    config = {"sources": [{"name": n, "path": str(p)} for n, p in folders.items()], "shuffle_window": 64}
    pipeline = PairPipeline(config, global_batch_size=8, prefetch=8)
    first = [next(pipeline) for _ in range(5)]
    state = pipeline.state_dict()
    assert state["step"] == 5 and sum(state["pairs_per_source"].values()) == 40
    following = [next(pipeline) for _ in range(10)]
    pipeline.load_state_dict(state)  # the same object, rewound
    assert [next(pipeline) for _ in range(10)] == following
    pipeline.load_state_dict(PairPipeline(config, global_batch_size=8).state_dict())  # a fresh start
    assert [next(pipeline) for _ in range(5)] == first
    pipeline.close()
