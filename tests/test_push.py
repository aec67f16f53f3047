"""`se1b push` against a local HTTP server that stands in for the Hub (the routes huggingface_hub calls for
create_repo, create_branch and create_commit), so the requests that would reach the Hub can be inspected."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from se1b import cli

FAKE_TOKEN = "hf_fakeTOKENforTESTS0123456789abcdef"


class FakeHub:
    """Records every request; answers like the Hub, or with `fail_status` for every request."""

    def __init__(self, fail_status: int | None = None, remote_files: tuple[str, ...] = ()) -> None:
        self.requests: list[dict] = []
        self.fail_status = fail_status
        self.remote_files = remote_files  # what the repo already holds (answered by the tree listing)
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                hub.requests.append({"method": self.command, "path": self.path, "headers": headers, "body": body})
                status, payload = hub.route(self.command, self.path.split("?")[0], body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def route(self, method: str, path: str, body: bytes) -> tuple[int, dict | list]:
        if self.fail_status is not None:
            return self.fail_status, {"error": "Invalid credentials in Authorization header"}
        if path == "/api/repos/create":
            request = json.loads(body)
            return 200, {"url": f"{self.url}/{request['organization']}/{request['name']}"}
        if path == "/api/validate-yaml":
            return 200, {}
        parts = path.split("/")  # ['', 'api', 'models', ns, name, action, revision]
        if method == "POST" and len(parts) == 7 and parts[5] == "preupload":
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if method == "POST" and len(parts) == 7 and parts[5] == "commit":
            return 200, {"commitUrl": f"{self.url}/{parts[3]}/{parts[4]}/commit/{'a' * 40}", "commitOid": "a" * 40}
        if method == "POST" and len(parts) == 7 and parts[5] == "branch":
            return 200, {}
        if method == "GET" and len(parts) == 7 and parts[5] == "tree":
            return 200, [{"type": "file", "path": p, "size": 1, "oid": "0" * 40} for p in self.remote_files]
        return 404, {"error": f"no route {method} {path}"}

    def paths(self) -> list[str]:
        return [r["path"].split("?")[0] for r in self.requests]

    def commits(self) -> list[dict]:
        return [r for r in self.requests if "/commit/" in r["path"]]

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run with HF_HUB_OFFLINE=1 (conftest); the fake Hub is local, so let huggingface_hub send to it,
    with a fake token from HF_TOKEN and no token file from a real login."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)


def committed_files(commit_request: dict, deleted: tuple[str, ...] = ()) -> dict[str, bytes]:
    """path -> bytes of the file additions in an NDJSON commit body (header line first); the body must delete
    exactly `deleted`."""
    lines = [json.loads(line) for line in commit_request["body"].splitlines()]
    assert lines[0]["key"] == "header"
    assert sorted(line["value"]["path"] for line in lines if line["key"] == "deletedFile") == sorted(deleted)
    additions = [line for line in lines[1:] if line["key"] != "deletedFile"]
    assert all(line["key"] == "file" for line in additions), "only plain file additions expected"
    return {line["value"]["path"]: base64.b64decode(line["value"]["content"]) for line in additions}


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_push(*argv: str) -> int:
    return cli.main(["push", *argv])


def assert_token_never_leaked(capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture, *folders: Path) -> None:
    out, err = capsys.readouterr()
    assert FAKE_TOKEN not in out + err
    assert FAKE_TOKEN not in caplog.text
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                assert FAKE_TOKEN.encode() not in path.read_bytes(), path


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.model.tiny import write_tiny_model

    folder = write_tiny_model(tmp_path_factory.mktemp("model") / "tiny-model")
    (folder / "README.md").write_text("---\nlibrary_name: sentence-transformers\n---\n\n# tiny\n")
    return folder


def write_dataset_folder(folder: Path, data_files: str = "pairs/train-*.parquet") -> Path:
    (folder / "pairs").mkdir(parents=True)
    (folder / "pairs" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: pairs\n  data_files:\n  - split: train\n"
        f"    path: {data_files}\n---\n\n# pairs\n"
    )
    return folder


def write_space_folder(folder: Path, app_file: str = "app.py") -> Path:
    folder.mkdir(parents=True)
    (folder / "app.py").write_text("import gradio as gr\n")
    (folder / "requirements.txt").write_text("gradio\n")
    (folder / "README.md").write_text(f"---\ntitle: demo\nsdk: gradio\napp_file: {app_file}\n---\n\n# demo\n")
    return folder


def test_model_push_creates_repo_and_one_commit_with_exactly_the_folder(
    model_folder: Path, online, capsys, caplog, tmp_path: Path
) -> None:
    caplog.set_level("INFO")
    with FakeHub() as hub:
        code = run_push("model", str(model_folder), "--repo-id", "me/tiny-model", "--private", "--endpoint", hub.url)
    assert code == 0
    creates = [r for r in hub.requests if r["path"] == "/api/repos/create"]
    assert len(creates) == 1
    assert json.loads(creates[0]["body"]) == {
        "name": "tiny-model", "organization": "me", "visibility": "private", "type": "model"
    }
    assert len(hub.commits()) == 1
    commit = hub.commits()[0]
    assert commit["path"] == "/api/models/me/tiny-model/commit/main"
    assert committed_files(commit) == folder_files(model_folder)
    # the token went to the Hub, and nowhere else
    assert all(r["headers"].get("authorization") == f"Bearer {FAKE_TOKEN}" for r in hub.requests)
    assert_token_never_leaked(capsys, caplog, model_folder, tmp_path)


def test_dataset_push_to_a_branch_with_message(tmp_path: Path, online, capsys, caplog) -> None:
    folder = write_dataset_folder(tmp_path / "ds")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # never uploaded, nor bytecode
    (folder / "pairs" / "__pycache__").mkdir()
    (folder / "pairs" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    with FakeHub() as hub:
        argv = ["dataset", str(folder), "--repo-id", "me/pairs", "--revision", "v1", "--commit-message", "first"]
        assert run_push(*argv, "--endpoint", hub.url) == 0
    assert json.loads(hub.requests[0]["body"]) == {"name": "pairs", "organization": "me", "type": "dataset"}
    assert "/api/datasets/me/pairs/branch/v1" in hub.paths()
    (commit,) = hub.commits()
    assert commit["path"] == "/api/datasets/me/pairs/commit/v1"
    header = json.loads(commit["body"].splitlines()[0])["value"]
    assert header["summary"] == "first"
    assert set(committed_files(commit)) == {"README.md", "pairs/train-00000-of-00001.parquet"}
    out = capsys.readouterr().out
    assert "not uploaded: 2 file(s)" in out
    assert FAKE_TOKEN not in out


def test_delete_missing_removes_stale_files_in_the_same_commit(tmp_path: Path, online, capsys) -> None:
    folder = write_dataset_folder(tmp_path / "ds")
    stale = ("pairs/train-00000-of-00002.parquet", "pairs/train-00001-of-00002.parquet")  # an older publish
    with FakeHub(remote_files=(".gitattributes", "README.md", *stale)) as hub:
        argv = ["dataset", str(folder), "--repo-id", "me/pairs", "--delete-missing"]
        assert run_push(*argv, "--endpoint", hub.url) == 0
    (commit,) = hub.commits()
    assert committed_files(commit, deleted=stale) == folder_files(folder)
    assert "deleting 2 repo file(s)" in capsys.readouterr().out


def test_space_push_declares_the_sdk(tmp_path: Path, online) -> None:
    folder = write_space_folder(tmp_path / "space")
    with FakeHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 0
    assert json.loads(hub.requests[0]["body"])["sdk"] == "gradio"
    (commit,) = hub.commits()
    assert committed_files(commit) == folder_files(folder)


def test_dry_run_lists_files_and_sends_nothing(model_folder: Path, online, capsys) -> None:
    with FakeHub() as hub:
        assert run_push("model", str(model_folder), "--repo-id", "me/tiny", "--dry-run", "--endpoint", hub.url) == 0
    assert hub.requests == []
    out = capsys.readouterr().out
    for path in folder_files(model_folder):
        assert path in out
    assert f"{len(folder_files(model_folder))} file(s)" in out
    assert "nothing was sent" in out


def test_unauthorised_is_one_clear_line(tmp_path: Path, online, capsys, caplog) -> None:
    folder = write_space_folder(tmp_path / "space")
    with FakeHub(fail_status=401) as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 2
    assert hub.commits() == []
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "unauthorised (HTTP 401)" in err and "Traceback" not in err
    assert FAKE_TOKEN not in out + err + caplog.text


def test_unreachable_hub_is_one_clear_line(tmp_path: Path, online, capsys) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = write_space_folder(tmp_path / "space")
    assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", f"http://127.0.0.1:{port}") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Hub" in err and "Traceback" not in err


def test_offline_mode_is_refused_before_sending(tmp_path: Path, monkeypatch, capsys) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    folder = write_space_folder(tmp_path / "space")
    with FakeHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 2
    assert hub.requests == []
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kind, make_folder, message",
    [
        ("dataset", lambda p: write_dataset_folder(p, data_files="other/*.parquet"), "match no file"),
        ("dataset", lambda p: (p.mkdir(), (p / "README.md").write_text("---\nlicense: mit\n---\n"), p)[2], "configs"),
        ("space", lambda p: write_space_folder(p, app_file="main.py"), "'main.py'"),
        ("space", lambda p: (p.mkdir(), (p / "app.py").write_text(""), p)[2], "README.md"),
        ("model", lambda p: write_dataset_folder(p), "no modules.json"),
    ],
)
def test_invalid_folders_are_refused_before_any_request(
    tmp_path: Path, online, capsys, kind: str, make_folder, message: str
) -> None:
    folder = make_folder(tmp_path / "repo")
    with FakeHub() as hub:
        assert run_push(kind, str(folder), "--repo-id", "me/x", "--endpoint", hub.url) == 2
    assert hub.requests == []
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_malformed_repo_id_is_refused_before_any_request(tmp_path: Path, online, capsys) -> None:
    folder = write_space_folder(tmp_path / "space")
    with FakeHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo/extra", "--endpoint", hub.url) == 2
    assert hub.requests == []
    assert "--repo-id 'me/demo/extra'" in capsys.readouterr().err


def test_model_that_sentence_transformers_cannot_load_is_refused(model_folder: Path, tmp_path: Path, online, capsys):
    import shutil

    broken = Path(shutil.copytree(model_folder, tmp_path / "broken"))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with FakeHub() as hub:
        assert run_push("model", str(broken), "--repo-id", "me/x", "--endpoint", hub.url) == 2
    assert hub.requests == []
    assert "SentenceTransformer cannot load this model" in capsys.readouterr().err


def test_data_files_globs_follow_hub_semantics() -> None:
    from training.publish.push import _matches

    assert _matches("data/train-0.parquet", "data/*.parquet")
    assert not _matches("data/sub/train-0.parquet", "data/*.parquet")
    assert _matches("data/sub/train-0.parquet", "data/**/*.parquet")
    assert _matches("train.parquet", "**/*.parquet")
    assert not _matches("data/train.json", "data/*.parquet")
