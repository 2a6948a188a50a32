"""Push a checkpoint folder to the Hugging Face Hub and download it back, one revision per curriculum phase.

    from nanoemox.model_cards.hub import push_checkpoint, download_checkpoint

    push_checkpoint("runs/phase-1.1", "me/nanoemox", revision="phase-1.1")   # a branch per phase
    push_checkpoint("runs/final", "me/nanoemox")                            # main
    path = download_checkpoint("me/nanoemox", revision="phase-1.1")

Both go through `huggingface_hub` only (`HfApi.create_repo`, `create_branch`, `upload_folder`;
`snapshot_download`), so `HF_ENDPOINT`, `HF_TOKEN` and `HF_HUB_OFFLINE` behave as everywhere else. Write the
model card first (`nanoemox card --model DIR`): the folder's README.md is uploaded with it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from huggingface_hub import CommitInfo, HfApi, snapshot_download
from huggingface_hub.constants import DEFAULT_REVISION

logger = logging.getLogger(__name__)

IGNORE_PATTERNS = ["**/__pycache__/**", "*.pyc", "**/.ipynb_checkpoints/**", "*.lock"]


def push_checkpoint(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    revision: str | None = None,
    commit_message: str | None = None,
    commit_description: str | None = None,
    token: str | bool | None = None,
    private: bool | None = None,
    create_pr: bool = False,
    endpoint: str | None = None,
) -> CommitInfo:
    """Upload the checkpoint folder `model_dir` to the model repo `repo_id` in one commit.

    revision: a branch (e.g. "phase-1.1"); created from main when missing. None: main.
    create_pr: open a pull request against main instead of committing (not with a branch `revision`).
    endpoint: Hub URL (default: `HF_ENDPOINT` or huggingface.co).
    Returns the `CommitInfo` (`.oid` is the commit, `.pr_url` the pull request when `create_pr`).
    """
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise ValueError(f"model_dir={str(model_dir)!r}: not a checkpoint folder (no config.json)")
    if create_pr and revision not in (None, DEFAULT_REVISION):
        raise ValueError(
            f"revision={revision!r}: create_pr opens a pull request against main; push to a branch without create_pr"
        )
    if not (model_dir / "README.md").is_file():
        logger.warning("%s has no README.md; write the card first: nanoemox card --model %s", model_dir, model_dir)
    api = HfApi(endpoint=endpoint, token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    logger.info("repository %s", url)
    if revision not in (None, DEFAULT_REVISION):
        api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
    message = commit_message or f"Upload NanoEmoX checkpoint {model_dir.name}" + (f" ({revision})" if revision else "")
    info = api.upload_folder(
        folder_path=model_dir,
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=message,
        commit_description=commit_description,
        create_pr=create_pr,
        ignore_patterns=IGNORE_PATTERNS,
    )
    logger.info("pushed %s to %s@%s: %s", model_dir, repo_id, revision or DEFAULT_REVISION, info.oid)
    return info


def download_checkpoint(
    repo_id: str,
    *,
    revision: str | None = None,
    local_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | bool | None = None,
    endpoint: str | None = None,
) -> str:
    """Download a checkpoint (a branch, tag or commit; default main); returns the local folder.

    local_dir: plain files in that folder; None: the Hub cache (`cache_dir` or `HF_HUB_CACHE`).
    """
    path = snapshot_download(
        repo_id,
        repo_type="model",
        revision=revision,
        local_dir=local_dir,
        cache_dir=cache_dir,
        token=token,
        endpoint=endpoint,
    )
    logger.info("downloaded %s@%s to %s", repo_id, revision or DEFAULT_REVISION, path)
    return path


__all__ = ["push_checkpoint", "download_checkpoint"]
