"""`se1b push dataset|model|space DIR --repo-id ID`: publish a folder to the Hugging Face Hub in one commit.

The folder is checked first, before any request, so that only a usable repo ever reaches the Hub:

- model: a sentence-transformers folder that `SentenceTransformer(DIR)` loads and encodes with (on CPU);
- dataset: a README.md card whose YAML `configs:` list data_files patterns that each match files in the folder;
- space: a README.md card whose YAML names a known `sdk` and an `app_file` that exists.

Whatever the kind, nothing leaves the folder that should not: a symbolic link that leads outside it is refused, and
so are files that look like credentials (.env, .netrc, .git-credentials, keys, any file holding a Hugging Face token)
unless `--allow-file` names them.

Then `create_repo(exist_ok=True)` and ONE `create_commit` holding every file of the folder: the Hub applies a
commit all at once (large files are uploaded first but stay invisible until the commit), so an interrupted or
refused push leaves the repo as it was. `--delete-missing` adds, to that same commit, the deletion of repo files
the folder no longer has (stale shards of a re-published dataset). The token comes from the
standard Hugging Face login (`hf auth login`) or `HF_TOKEN`, resolved by huggingface_hub; this module only checks
that there is one, and never prints or writes it.

    se1b push model out/my-model --repo-id me/my-model --dry-run     # list files and sizes, send nothing
    se1b push dataset published/gooaq --repo-id me/gooaq --private
    se1b push dataset published/gooaq --repo-id me/gooaq --delete-missing     # re-publish after the shards changed

From Python, `publish(kind, folder, repo_id, ...)` does the same (checks, card rewrite, one commit); `push_folder`
is the bare upload underneath it, without checks or card rewrite.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from model_cards.metadata import METADATA_FILE
from se1b.errors import UserError
from se1b.files import human_size
from se1b.safety import credential_reason, is_inside, known_tokens, redact

REPO_KINDS = ("dataset", "model", "space")
# Files of a Space folder that serve local runs only: spaces_demo/launch.py is `se1b demo`, which imports the
# project (absent on the Hub); app.py never needs it.
SPACE_LOCAL_ONLY = ("launch.py",)
XET_RETRY_ATTEMPTS = 3  # the Xet upload client's retries of one request (its default runs for minutes)


@dataclass(frozen=True)
class FileToPush:
    path_in_repo: str
    local_path: Path
    size: int


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the `se1b push` arguments."""
    parser.add_argument("kind", choices=REPO_KINDS, help="what the folder is: a dataset, a model or a Space")
    parser.add_argument("folder", type=Path, help="the folder to publish (its whole content, one commit)")
    parser.add_argument("--repo-id", required=True, help="target Hub repo, e.g. 'user/name'")
    parser.add_argument(
        "--private", action="store_true", help="create the repo private (an existing repo keeps its visibility)"
    )
    parser.add_argument("--revision", default=None, help="branch to commit to (created if missing; default: main)")
    parser.add_argument("--commit-message", default=None, help="commit title (default: 'Upload <kind> with se1b')")
    parser.add_argument(
        "--delete-missing",
        action="store_true",
        help="in the same commit, delete repo files that are not in the folder (never .gitattributes): use it when "
        "re-publishing a dataset whose shards changed, so no stale shard matches its data_files",
    )
    parser.add_argument("--dry-run", action="store_true", help="check the folder and list what would be uploaded")
    parser.add_argument(
        "--allow-file", action="append", default=[], metavar="PATH",
        help="push this file although it looks like a credential (its name, or a token in it); PATH inside the "
        "folder, as --dry-run lists it (repeatable)",
    )
    parser.add_argument(
        "--endpoint", default=None, help="Hub URL (default: $HF_ENDPOINT or https://huggingface.co)"
    )


def main(args: argparse.Namespace) -> int:
    """Run `se1b push`."""
    publish(args.kind, args.folder, args.repo_id, private=args.private, revision=args.revision,
            commit_message=args.commit_message, endpoint=args.endpoint, delete_missing=args.delete_missing,
            dry_run=args.dry_run, allow_files=tuple(args.allow_file))
    return 0


def publish(
    kind: str,
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
    delete_missing: bool = False,
    dry_run: bool = False,
    allow_files: tuple[str, ...] = (),
) -> str | None:
    """Publish a folder to the Hub exactly as `se1b push KIND FOLDER --repo-id REPO_ID` does, from Python.

    The folder is checked first (a model must load in sentence-transformers and carry card metadata the Hub accepts;
    a dataset's `configs:` must match its files; a Space must name its sdk and app file), then a se1b card is
    rewritten so its usage snippets load `repo_id` (model: from run_metadata.json; dataset: from build_reports/),
    and the whole folder, plots/, run_metadata.json and metrics.jsonl included, goes up in one commit. Returns the
    commit URL, or None for `dry_run` (which only prints what would be sent). Bad input raises `se1b.errors.UserError`
    with one line that says what to fix; nothing is sent then. A symlink out of the folder and files that look like
    credentials are refused unless named in `allow_files` (paths relative to the folder).

        >>> from training.publish.push import publish
        >>> publish("model", "out/my-model", "me/my-model", private=True)
        'https://huggingface.co/me/my-model/commit/...'
    """
    if kind not in REPO_KINDS:
        raise UserError(f"kind {kind!r} is not one of {', '.join(REPO_KINDS)}")
    folder = Path(folder)
    check_repo_id(repo_id)
    local_only = SPACE_LOCAL_ONLY if kind == "space" else ()
    files, ignored = list_files(folder, local_only, allow_files)
    card = validate_folder(kind, folder, files)
    if ignored:
        print(
            f"not uploaded: {len(ignored)} file(s) of git, the Hub cache, Python bytecode or local-only launchers "
            f"(e.g. {ignored[0]})"
        )
    if dry_run:
        print_plan(kind, repo_id, files, private=private, revision=revision)
        if rewritable_card(kind, folder):
            print(f"README.md's usage snippets would be rewritten to load {repo_id!r}")
        if delete_missing:
            print("with --delete-missing, repo files not in the folder would also be deleted (listed when pushing)")
        return None
    if set_card_repo_id(folder, repo_id, kind):
        files, ignored = list_files(folder, local_only, allow_files)  # the card was rewritten
    url = push_folder(
        kind,
        folder,
        repo_id,
        files=files,
        space_sdk=card.get("sdk") if kind == "space" else None,
        private=private,
        revision=revision,
        commit_message=commit_message,
        endpoint=endpoint,
        delete_missing=delete_missing,
    )
    print(f"pushed {len(files)} file(s) ({human_size(sum(f.size for f in files))}) in one commit: {url}")
    return url


def rewritable_card(kind: str, folder: Path) -> bool:
    """Whether `folder` holds a card se1b regenerates: a model with run_metadata.json, a dataset with build reports."""
    if kind == "model":
        return (folder / METADATA_FILE).is_file()
    return kind == "dataset" and any((folder / "build_reports").glob("[!_]*.json"))


def set_card_repo_id(folder: Path, repo_id: str, kind: str = "model") -> bool:
    """Point a se1b card at the repo it is pushed to, so its usage snippets load `repo_id`: a model card from
    run_metadata.json, a dataset card from build_reports/. Returns False for a folder whose README se1b did not
    generate (it is left alone)."""
    if not rewritable_card(kind, folder):
        return False
    if kind == "dataset":
        from model_cards.dataset_card import write_dataset_card

        write_dataset_card(folder, repo_id=repo_id)
        return True
    from model_cards.metadata import RunMetadata
    from model_cards.model_card import write_model_card

    metadata = RunMetadata.load(folder / METADATA_FILE)
    if metadata.repo_id != repo_id or not (folder / "README.md").is_file():
        metadata.repo_id = repo_id
        metadata.save(folder / METADATA_FILE)
        write_model_card(folder)
    return True


def check_repo_id(repo_id: str) -> None:
    """Refuse a malformed repo id before anything else (huggingface_hub's own rules)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise UserError(f"--repo-id {repo_id!r}: {str(error).splitlines()[0]}") from error


def list_files(folder: Path, local_only: tuple[str, ...] = (), allowed: tuple[str, ...] = ()
               ) -> tuple[list[FileToPush], list[str]]:
    """Every file under `folder` as it will appear in the repo, and the paths left out: what huggingface_hub's
    upload_folder leaves out (.git/, .cache/huggingface/), Python bytecode, and the `local_only` patterns.

    Refuses, before anything is sent: a symbolic link that leads out of the folder (a link inside it is uploaded as
    the file it points to), and files that look like credentials (`check_credentials`) unless `allowed` names them."""
    from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder")
    entries = {path.relative_to(folder).as_posix(): path for path in folder.rglob("*")}
    ignore = [*DEFAULT_IGNORE_PATTERNS, "*.pyc", "__pycache__/*", "*/__pycache__/*", *local_only]
    kept = set(filter_repo_objects(sorted(entries), ignore_patterns=ignore))
    escaping = sorted(name for name in kept if entries[name].is_symlink() and not is_inside(entries[name], folder))
    if escaping:
        raise UserError(f"{folder}: {len(escaping)} symbolic link(s) lead outside the folder and are not pushed: "
                        f"{', '.join(escaping)}; copy what you mean to publish into the folder")
    all_paths = sorted(name for name, path in entries.items() if path.is_file())
    files = [FileToPush(p, folder / p, (folder / p).stat().st_size) for p in all_paths if p in kept]
    if not files:
        raise UserError(f"{folder}: no files to push")
    check_credentials(folder, files, allowed)
    return files, [p for p in all_paths if p not in kept]


def check_credentials(folder: Path, files: list[FileToPush], allowed: tuple[str, ...]) -> None:
    """Refuse files that look like credentials: by name (.env, .netrc, .git-credentials, keys...) or holding a
    Hugging Face token (this environment's, or any `hf_...`), except those `allowed` (--allow-file) names."""
    unknown = sorted(set(allowed) - {f.path_in_repo for f in files})
    if unknown:
        raise UserError(f"--allow-file {unknown[0]}: no such file to push in {folder} (give its path inside the "
                        "folder, as --dry-run lists it)")
    tokens = known_tokens()
    flagged = [f"{f.path_in_repo} ({reason})" for f in files
               if f.path_in_repo not in allowed and (reason := credential_reason(f.local_path, tokens))]
    if flagged:
        raise UserError(f"{folder}: {len(flagged)} file(s) look like credentials and are not pushed: "
                        f"{'; '.join(flagged)}. Remove them, or pass --allow-file PATH for a file you mean to publish")


def validate_folder(kind: str, folder: Path, files: list[FileToPush]) -> dict:
    """Refuse a folder that would not work as a Hub repo of this kind; return its card metadata ({} if none)."""
    if kind == "model":
        return validate_model_folder(folder)
    if kind == "dataset":
        return validate_dataset_folder(folder, {f.path_in_repo for f in files})
    return validate_space_folder(folder)


def read_card_metadata(folder: Path) -> dict | None:
    """The YAML metadata of `folder/README.md`, or None when the card is missing or has no YAML block."""
    from huggingface_hub import metadata_load

    card = folder / "README.md"
    if not card.is_file():
        return None
    try:
        return metadata_load(card) or None
    except Exception as error:  # a YAML syntax error, or YAML that is not a mapping
        raise UserError(f"{card}: invalid YAML metadata: {str(error).splitlines()[0]}") from error


def validate_model_folder(folder: Path) -> dict:
    """A model folder must load in sentence-transformers: its files are checked, then it is loaded on CPU and
    one sentence is encoded (cheap for a small model, and it catches broken tokenizers or weights)."""
    import json

    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        raise UserError(f"{folder}: no modules.json, not a sentence-transformers folder (`se1b export` writes one)")
    try:
        modules = json.loads(modules_file.read_text())
        transformer_dirs = [folder / m["path"] for m in modules if m["type"].endswith("Transformer")]
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"{modules_file}: not a list of {{idx, name, path, type}} modules ({error})") from error
    for transformer_dir in transformer_dirs or [folder]:
        if not (transformer_dir / "config.json").is_file():
            raise UserError(f"{transformer_dir}: no config.json")
        weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
        if not any((transformer_dir / name).is_file() for name in weights):
            raise UserError(f"{transformer_dir}: no weights (expected one of {', '.join(weights)})")

    from model_cards.hub_rules import hub_card_problems, hub_card_warnings

    front = read_card_metadata(folder) or {}
    problems = hub_card_problems(front)
    if problems:  # what the Hub would refuse, before anything is loaded or sent
        raise UserError(f"{folder / 'README.md'}: {problems[0]}"
                        + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    for warning in hub_card_warnings(front):  # accepted by the Hub, as on many popular cards: said, not refused
        print(f"warning: {folder / 'README.md'}: {warning}")
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        embedding = model.encode(["a sentence to check the model"])
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{folder}: SentenceTransformer cannot load this model: {message}") from error
    check_finite_weights(folder, model, embedding)
    metadata = read_card_metadata(folder)
    if metadata is None:
        print(f"warning: {folder} has no README.md model card with metadata (`se1b card` writes one)")
    return metadata or {}


def check_finite_weights(folder: Path, model, embedding) -> None:
    """Refuse a model whose weights (or whose embedding of a test sentence) hold NaN or infinity: a diverged
    training run must never reach the Hub."""
    import numpy as np
    import torch

    bad = [name for name, tensor in model.state_dict().items()
           if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if bad:
        raise UserError(f"{folder}: {len(bad)} weight tensor(s) hold NaN or infinity (first: {bad[0]}); "
                        "a diverged model is not pushed")
    if not np.isfinite(np.asarray(embedding)).all():
        raise UserError(f"{folder}: the model embeds a test sentence to NaN or infinity; it is not pushed")


def validate_dataset_folder(folder: Path, repo_paths: set[str]) -> dict:
    """A dataset folder needs a card whose `configs:` give each config data_files that match files in the folder,
    the Hub-native layout `load_dataset(repo_id, config)` reads."""
    card = folder / "README.md"
    metadata = read_card_metadata(folder)
    if metadata is None:
        raise UserError(f"{card}: missing, or without YAML metadata; a dataset card needs `configs:`")
    configs = metadata.get("configs")
    if not configs or not isinstance(configs, list):
        raise UserError(f"{card}: the YAML has no `configs:` list, so load_dataset cannot find the data files")
    for index, config in enumerate(configs):
        name = config.get("config_name") if isinstance(config, dict) else None
        if not name:
            raise UserError(f"{card}: configs[{index}] has no config_name")
        for split, pattern in _data_file_patterns(config.get("data_files"), f"{card}: config {name!r}"):
            if not any(_matches(path, pattern) for path in repo_paths):
                raise UserError(f"{card}: config {name!r} split {split!r}: data_files {pattern!r} match no file")
    return metadata


def _data_file_patterns(data_files: object, where: str) -> list[tuple[str, str]]:
    """(split, pattern) pairs from the three forms a card may use: a pattern, a list, or split entries."""
    if isinstance(data_files, str):
        return [("train", data_files)]
    if isinstance(data_files, list) and data_files:
        pairs = []
        for entry in data_files:
            if isinstance(entry, str):
                pairs.append(("train", entry))
            elif isinstance(entry, dict) and "split" in entry and isinstance(entry.get("path"), (str, list)):
                paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
                pairs.extend((entry["split"], p) for p in paths)
            else:
                raise UserError(f"{where}: a data_files entry is neither a pattern nor {{split, path}}: {entry!r}")
        return pairs
    raise UserError(f"{where}: no data_files")


def _matches(path: str, pattern: str) -> bool:
    """Hub glob semantics, segment by segment: `*` stays within one folder, `**` spans any number of folders."""
    from fnmatch import fnmatchcase

    def match(parts: list[str], pats: list[str]) -> bool:
        if not pats:
            return not parts
        if pats[0] == "**":
            return any(match(parts[i:], pats[1:]) for i in range(len(parts) + 1))
        return bool(parts) and fnmatchcase(parts[0], pats[0]) and match(parts[1:], pats[1:])

    return match(path.split("/"), pattern.lstrip("/").split("/"))


def validate_space_folder(folder: Path) -> dict:
    """A Space needs card YAML naming its sdk, and the file the sdk runs."""
    from huggingface_hub.constants import SPACES_SDK_TYPES

    card = folder / "README.md"
    metadata = read_card_metadata(folder)
    if metadata is None:
        raise UserError(f"{card}: missing, or without YAML metadata; a Space card needs `sdk:` and `app_file:`")
    sdk = metadata.get("sdk")
    if sdk not in SPACES_SDK_TYPES:
        raise UserError(f"{card}: `sdk: {sdk}` is not one of {', '.join(SPACES_SDK_TYPES)}")
    if sdk == "docker":
        required = "Dockerfile"
    elif sdk == "static":
        required = metadata.get("app_file") or "index.html"
    else:
        required = metadata.get("app_file")
        if not required:
            raise UserError(f"{card}: no `app_file:` (the script the {sdk} Space runs)")
    if not is_inside(folder / required, folder) or not (folder / required).is_file():
        raise UserError(f"{card}: the Space runs {required!r}, which is not in {folder}")
    return metadata


def print_plan(kind: str, repo_id: str, files: list[FileToPush], *, private: bool, revision: str | None) -> None:
    """What a push would do, without doing it."""
    visibility = "private" if private else "default visibility"
    print(f"dry run: would create {kind} repo {repo_id} ({visibility}) if missing and commit to {revision or 'main'}:")
    width = max(len(f.path_in_repo) for f in files)
    for f in files:
        print(f"  {f.path_in_repo:<{width}}  {human_size(f.size):>9}")
    print(f"{len(files)} file(s), {human_size(sum(f.size for f in files))} in total; nothing was sent")


def push_folder(
    kind: str,
    folder: Path,
    repo_id: str,
    *,
    files: list[FileToPush] | None = None,
    space_sdk: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    endpoint: str | None = None,
    delete_missing: bool = False,
) -> str:
    """Create the repo if needed and commit every file of `folder` in one commit (with `delete_missing`, the same
    commit deletes the repo's other files, except .gitattributes); return the commit URL.
    Network and authorisation failures become one-line UserErrors."""
    import huggingface_hub
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    check_repo_id(repo_id)
    if huggingface_hub.constants.is_offline_mode():
        raise UserError("HF_HUB_OFFLINE is set: unset it to push to the Hub")
    files = files if files is not None else list_files(folder)[0]
    api = HfApi(endpoint=endpoint)
    if api.token is None and huggingface_hub.get_token() is None:
        raise UserError("not logged in to the Hugging Face Hub: run `hf auth login` or set HF_TOKEN")
    operations = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.local_path)) for f in files]
    with _hub_errors(api.endpoint, repo_id), _show_retries(), _bounded_xet_retries():
        api.create_repo(repo_id, repo_type=kind, private=True if private else None, exist_ok=True, space_sdk=space_sdk)
        if revision is not None:
            api.create_branch(repo_id, repo_type=kind, branch=revision, exist_ok=True)
        if delete_missing:
            local = {f.path_in_repo for f in files} | {".gitattributes"}
            stale = sorted(set(api.list_repo_files(repo_id, repo_type=kind, revision=revision)) - local)
            if stale:
                print(f"deleting {len(stale)} repo file(s) not in the folder: {', '.join(stale)}")
            operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
        print(f"uploading {len(files)} file(s) ({human_size(sum(f.size for f in files))}) to {repo_id}; a failing "
              f"request is retried up to {os.environ['HF_XET_CLIENT_RETRY_MAX_ATTEMPTS']} times")
        commit = api.create_commit(
            repo_id,
            repo_type=kind,
            operations=operations,
            commit_message=commit_message or f"Upload {kind} with se1b",
            revision=revision,
        )
    return commit.commit_url


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures: huggingface_hub 2.x sends requests with httpx2, 1.x with httpx."""
    import importlib

    errors: list[type[BaseException]] = [ConnectionError]
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except ImportError:
            pass
    return tuple(errors)


@contextmanager
def _hub_errors(endpoint: str, repo_id: str) -> Iterator[None]:
    """Turn the Hub's failures into one-line errors that say what to do (no traceback, never the token)."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        raise UserError("HF_HUB_OFFLINE is set: unset it to push to the Hub") from None
    except HfHubHTTPError as error:
        status = error.response.status_code
        if status in (401, 403):
            raise UserError(
                f"unauthorised (HTTP {status}): the Hub refused to let this token write to {repo_id}; "
                "log in with `hf auth login` or set HF_TOKEN to a token with write access"
            ) from None
        detail = error.server_message or str(error).splitlines()[0]
        raise UserError(f"the Hub refused the push to {repo_id} (HTTP {status}): {detail}") from None
    except ValueError as error:  # huggingface_hub turns the Hub's HTTP 400 on the card's YAML into a ValueError
        lines = [line.strip("- ").strip() for line in str(error).splitlines() if line.strip()]
        raise UserError(f"the Hub refused the push to {repo_id}: {'; '.join(lines) or type(error).__name__}") from None
    except (*_transport_errors(), RuntimeError) as error:  # hf_xet reports its failures as RuntimeError
        raise UserError(_transport_message(endpoint, error)) from None


def _transport_message(endpoint: str, error: BaseException) -> str:
    """Name the real cause of a failed request: an HTTP status met by the Xet upload client, a dropped connection,
    or a Hub that cannot be reached at all."""
    import re

    text = " ".join(str(error).split()) or type(error).__name__
    status = re.search(r"\((\d{3})[^)]*\)(?:, domain: (\S+))?", text)
    if status and "HTTP status" in text:
        where = f" at {status.group(2)}" if status.group(2) else ""
        return (f"the Hub answered HTTP {status.group(1)}{where} during the upload, after "
                f"{os.environ.get('HF_XET_CLIENT_RETRY_MAX_ATTEMPTS', XET_RETRY_ATTEMPTS)} retries; try again later")
    url = re.search(r"for url \((\S+)\)", text)
    if url:  # the Xet upload client: the Hub answered earlier requests, this one lost its connection
        return (f"the connection to {url.group(1)} failed during the upload (dropped or refused), after "
                f"{os.environ.get('HF_XET_CLIENT_RETRY_MAX_ATTEMPTS', XET_RETRY_ATTEMPTS)} retries: {text[:300]}")
    if isinstance(error, RuntimeError) or re.search(r"reset|closed|disconnect|incomplete|EOF|broken pipe", text, re.I):
        return f"the connection to the Hub at {endpoint} dropped during the push: {text[:300]}"
    return f"cannot reach the Hub at {endpoint} (offline?): {text[:300]}"


@contextmanager
def _bounded_xet_retries() -> Iterator[None]:
    """Bound the Xet upload client's own retries while pushing: left alone, a failing upload-token request is
    retried for minutes with the bar at 0 B. An explicit HF_XET_CLIENT_RETRY_MAX_ATTEMPTS wins."""
    name = "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS"
    given = os.environ.get(name)
    os.environ[name] = given or str(XET_RETRY_ATTEMPTS)
    try:
        yield
    finally:
        if given is None:
            del os.environ[name]


@contextmanager
def _show_retries() -> Iterator[None]:
    """Echo huggingface_hub's retry warnings as short lines, so a slow push says what it is waiting for."""
    import logging
    import sys

    class Echo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "Retrying" in message or "thrown while requesting" in message or "Rate limited" in message:
                print(f"retry: {redact(message.splitlines()[0])[:200]}", file=sys.stderr)

    logger = logging.getLogger("huggingface_hub")
    handler = Echo(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
