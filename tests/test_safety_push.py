"""Issue 25, points 3, 4 and 5: `se1b push` never uploads a file through a symlink out of the folder, never uploads a
file that looks like a credential unless told to, and never prints a token or a URL's password. Every Hub request
goes to the local fake Hub of test_push; a refusal sends none."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
from test_push import (  # noqa: F401 - fixtures
    FAKE_TOKEN,
    FakeHub,
    committed_files,
    model_folder,
    online,
    run_push,
    write_space_folder,
)
from tree_fixtures import error_line, tree_digest


def _all_sent(hub: FakeHub) -> bytes:
    """Every request body the fake Hub received (the commit carries the files' bytes)."""
    return b"".join(request["body"] for request in hub.requests)


def test_a_symlink_out_of_the_folder_is_refused_and_one_inside_is_uploaded(tmp_path, online, capsys):  # noqa: F811
    """Point 3: `notes.txt -> <the token file>` was listed and uploaded."""
    token_file = tmp_path / "hf-home" / "token"
    token_file.parent.mkdir()
    token_file.write_text(FAKE_TOKEN)
    folder = write_space_folder(tmp_path / "space")
    (folder / "notes.txt").symlink_to(token_file)
    (folder / "docs").symlink_to(token_file.parent, target_is_directory=True)
    before = tree_digest(tmp_path)

    for extra in (["--dry-run"], []):
        with FakeHub() as hub:
            assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url, *extra) == 2
        assert hub.requests == []
        out, err = capsys.readouterr()
        line = error_line(err, "push")
        assert "notes.txt" in line and "docs" in line and "outside" in line
        assert FAKE_TOKEN not in out + err
    assert tree_digest(tmp_path) == before

    # A link that stays inside the folder is uploaded as the file it points to.
    (folder / "notes.txt").unlink()
    (folder / "docs").unlink()
    (folder / "alias.py").symlink_to("app.py")
    with FakeHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 0
    (commit,) = hub.commits()
    assert committed_files(commit)["alias.py"] == (folder / "app.py").read_bytes()
    assert FAKE_TOKEN.encode() not in _all_sent(hub).replace(f"Bearer {FAKE_TOKEN}".encode(), b"")


def test_files_that_look_like_credentials_are_refused_unless_allowed(model_folder, tmp_path, online,  # noqa: F811
                                                                       capsys) -> None:
    """Point 4: `.env`, `.git-credentials`, `.netrc` and files holding a token were uploaded without a word."""
    folder = Path(shutil.copytree(model_folder, tmp_path / "model"))
    (folder / ".env").write_text(f"HF_TOKEN={FAKE_TOKEN}\n")
    (folder / ".git-credentials").write_text("https://me:ghp_notarealtoken@github.com\n")
    (folder / ".netrc").write_text("machine huggingface.co login me password secret\n")
    (folder / "notes.md").write_text(f"my token is {FAKE_TOKEN}\n")  # the token of this environment
    (folder / "train.log").write_text("logged in with hf_" + "Q" * 34 + "\n")  # any hf_... token
    before = tree_digest(tmp_path)

    with FakeHub() as hub:
        assert run_push("model", str(folder), "--repo-id", "me/tiny", "--endpoint", hub.url) == 2
    assert hub.requests == []
    out, err = capsys.readouterr()
    line = error_line(err, "push")
    for name in (".env", ".git-credentials", ".netrc", "notes.md", "train.log"):
        assert name in line
    assert "--allow-file" in line
    assert FAKE_TOKEN not in out + err and "hf_QQQQ" not in out + err and "ghp_" not in out + err
    assert tree_digest(tmp_path) == before

    # A file the user means to publish: named with --allow-file, it goes; nothing else changed.
    for name in (".git-credentials", ".netrc", "notes.md", "train.log"):
        (folder / name).unlink()
    (folder / ".env").write_text("GRADIO_SERVER_PORT=7860\n")
    with FakeHub() as hub:
        assert run_push("model", str(folder), "--repo-id", "me/tiny", "--endpoint", hub.url, "--dry-run") == 2
        assert run_push("model", str(folder), "--repo-id", "me/tiny", "--endpoint", hub.url,
                        "--allow-file", ".env") == 0
    (commit,) = hub.commits()
    assert committed_files(commit)[".env"] == b"GRADIO_SERVER_PORT=7860\n"


class EchoingHub(FakeHub):
    """Refuses every request, quoting the Authorization header it received, as a misconfigured proxy does."""

    def route(self, method: str, path: str, body: bytes):
        return 400, {"error": f"bad request: Authorization: {self.requests[-1]['headers'].get('authorization')}"}


def test_tokens_and_url_credentials_are_never_printed(tmp_path, online, monkeypatch, capsys) -> None:  # noqa: F811
    """Point 5: HF_ENDPOINT's password and an echoed Authorization header were printed in the error line."""
    import huggingface_hub.constants

    folder = write_space_folder(tmp_path / "space")
    with EchoingHub() as hub:
        assert run_push("space", str(folder), "--repo-id", "me/demo", "--endpoint", hub.url) == 2
    out, err = capsys.readouterr()
    line = error_line(err, "push")
    assert "HTTP 400" in line and "Bearer ***" in line
    assert FAKE_TOKEN not in out + err

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for password in (FAKE_TOKEN, "s3cret-Passw0rd"):
        endpoint = f"http://me:{password}@127.0.0.1:{port}"
        monkeypatch.setenv("HF_ENDPOINT", endpoint)  # what huggingface_hub read at import, from HF_ENDPOINT
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        assert run_push("space", str(folder), "--repo-id", "me/demo") == 2
        out, err = capsys.readouterr()
        line = error_line(err, "push")
        assert "cannot reach the Hub at http://***@127.0.0.1" in line
        assert password not in out + err


@pytest.mark.parametrize("secret, shown", [
    (FAKE_TOKEN, "***"),
    ("https://me:pa55word@hub.example/api", "https://***@hub.example/api"),
    ("Authorization: Bearer abc.def-123456", "Authorization: Bearer ***"),
    ("hf_" + "Z" * 34, "hf_***"),
])
def test_every_error_line_is_redacted(secret, shown, online, monkeypatch, capsys) -> None:  # noqa: F811
    """Point 5, for every command: the CLI redacts the one error line it prints."""
    import sys
    import types

    from se1b import cli
    from se1b.errors import UserError

    def fail(args):
        raise UserError(f"the server said: {secret}")

    command = types.ModuleType("se1b_failing_command")
    command.configure, command.main = (lambda parser: None), fail
    monkeypatch.setitem(sys.modules, command.__name__, command)
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("failing", command.__name__, "always fails")])
    assert cli.main(["failing"]) == 2
    line = error_line(capsys.readouterr().err, "failing")
    assert line == f"se1b failing: error: the server said: {shown}"
