"""`se1b push` failures of issue 14: a model with non-finite weights is refused before any request; the Hub's
HTTP 400 on the card's YAML (validate-yaml) is one line, not three chained tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from test_push import FakeHub, model_folder, online, run_push, write_space_folder  # noqa: F401 - fixtures


def test_a_model_with_non_finite_weights_is_refused_before_any_request(model_folder: Path, tmp_path: Path,  # noqa: F811
                                                                        online, capsys) -> None:  # noqa: F811
    from safetensors.numpy import load_file, save_file

    diverged = Path(shutil.copytree(model_folder, tmp_path / "diverged"))
    tensors = load_file(str(diverged / "model.safetensors"))
    save_file({name: np.full_like(value, np.nan) if value.dtype.kind == "f" else value
               for name, value in tensors.items()}, str(diverged / "model.safetensors"), metadata={"format": "pt"})
    with FakeHub() as hub:
        assert run_push("model", str(diverged), "--repo-id", "me/x", "--endpoint", hub.url) == 2
    assert hub.requests == []
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # earlier: transformers' weight-loading bar
    assert last.startswith("se1b push: error: ") and "hold NaN or infinity" in last and "not pushed" in last
    assert "Traceback" not in err


class RefusingCardHub(FakeHub):
    """Answers validate-yaml as the Hub does for a card it rejects."""

    def route(self, method: str, path: str, body: bytes):
        if path == "/api/validate-yaml":
            return 400, {"errors": [{"message": '"license" must be one of [apache-2.0, mit, ...]'}]}
        return super().route(method, path, body)


def test_the_hub_refusing_the_card_yaml_is_one_line(tmp_path: Path, online, capsys) -> None:  # noqa: F811
    folder = write_space_folder(tmp_path / "space")
    with RefusingCardHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 2
    assert hub.commits() == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "Invalid metadata in README.md.; \"license\" must be one of" in err


class FailingUploadTokenHub(FakeHub):
    """Asks for every file through Xet (uploadMode lfs), then answers the Xet upload-token request with HTTP 500."""

    def route(self, method: str, path: str, body: bytes):
        if path.endswith("/preupload/main"):
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "lfs", "shouldIgnore": False} for f in files]}
        if "/xet-write-token/" in path:
            return 500, {"error": "internal error"}
        return super().route(method, path, body)


def test_a_failing_upload_token_request_is_retried_a_bounded_number_of_times_and_named(
        tmp_path: Path, online, capsys, monkeypatch) -> None:  # noqa: F811
    from training.publish.push import XET_RETRY_ATTEMPTS

    monkeypatch.delenv("HF_XET_CLIENT_RETRY_MAX_ATTEMPTS", raising=False)
    folder = write_space_folder(tmp_path / "space")
    with FailingUploadTokenHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 2
        token_requests = [p for p in hub.paths() if "/xet-write-token/" in p]
    assert hub.commits() == []
    assert 1 <= len(token_requests) <= 1 + XET_RETRY_ATTEMPTS
    out, err = capsys.readouterr()
    assert f"a failing request is retried up to {XET_RETRY_ATTEMPTS} times" in out
    last = err.strip().splitlines()[-1]
    assert last.startswith("se1b push: error: the Hub answered HTTP 500 at ") and "/xet-write-token/" in last
    assert "offline" not in last and "Traceback" not in err
