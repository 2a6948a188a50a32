"""A local fake of the Hugging Face Hub HTTP API, enough for push (create_repo, create_branch, upload_folder) and
download (snapshot_download, hf_hub_download) with huggingface_hub 2.x, on 127.0.0.1 in a thread.

    with FakeHub() as hub:                      # random free port; files in a temporary folder
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        ...
    hub.requests                                # [(method, path)] served, for assertions
    hub.unhandled                               # requests no route matched (should stay empty)

Endpoints (as huggingface_hub 2.x calls them; model repos only; `{rev}` is URL-quoted, e.g. refs%2Fpr%2F1):

    POST /api/repos/create                             {name, organization, ...} -> {url}; 409 when it exists
    POST /api/validate-yaml                            README front matter: YAML mapping, well-formed model-index
    POST /api/models/{ns}/{name}/branch/{branch}       {startingPoint?}; 409 when it exists
    GET  /api/models/{ns}/{name}/refs                  branches and pull requests
    POST /api/models/{ns}/{name}/preupload/{rev}       "lfs" for files the Hub keeps in LFS (the .gitattributes
                                                       patterns: *.safetensors, *.bin; or over 10 MB), else
                                                       "regular" (inline base64 in the commit); never Xet
    POST /{ns}/{name}.git/info/lfs/objects/batch       the LFS batch API: an upload and a verify action per object
                                                       not stored yet (basic transfer, one PUT)
    PUT  /lfs-storage/{sha256}                         the object's bytes (checked against its sha256 and size)
    POST /{ns}/{name}.git/info/lfs/objects/verify      {oid, size}: the object is stored
    POST /api/models/{ns}/{name}/commit/{rev}          NDJSON: header, file (base64), lfsFile (an uploaded object),
                                                       deletedFile, deletedFolder;
                                                       ?create_pr=1 commits to a new refs/pr/N
    GET  /api/models/{ns}/{name}[/revision/{rev}]      model info: sha, siblings
    GET  /api/models/{ns}/{name}/tree/{rev}[/{path}]   file listing (?recursive=true), one page
    HEAD|GET /{ns}/{name}/resolve/{rev}/{path}         X-Repo-Commit, ETag (git blob sha1), Content-Length, body

Writes need an `Authorization: Bearer ...` header (any token). Errors carry `X-Error-Code` (RepoNotFound,
RevisionNotFound, EntryNotFound) as the Hub's do, so huggingface_hub raises its usual exceptions. Blobs live on
disk under `root/blobs/<git sha1>`; refs and commits in memory.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
LFS_PATTERNS = ("*.safetensors", "*.bin")
LFS_MIN_SIZE = 10 * 2**20  # the Hub takes files over 10 MB in LFS whatever their name
COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}  # more keys of the JSON error body


@dataclass
class Commit:
    oid: str
    files: dict[str, str]  # path -> blob sha1
    parents: list[str]
    message: str
    date: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # "main", "phase-1.1", "refs/pr/1" -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)
    num_prs: int = 0

    def resolve(self, revision: str) -> Commit:
        if revision in self.refs:
            return self.commits[self.refs[revision]]
        if COMMIT_HASH.match(revision) and revision in self.commits:
            return self.commits[revision]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


class FakeHub:
    """The fake Hub server; `start()`/`stop()` or use as a context manager."""

    def __init__(self, root: str | Path | None = None, host: str = "127.0.0.1"):
        self._tmp = None if root else tempfile.TemporaryDirectory(prefix="fake-hub-")
        self.root = Path(root or self._tmp.name)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, int] = {}  # sha256 -> size of the LFS objects uploaded (their bytes are blobs)
        self.lfs_files: dict[str, str] = {}  # blob sha1 -> sha256 of the files committed through LFS
        self.requests: list[tuple[str, str]] = []
        self.unhandled: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._counter = 0
        hub = self

        class Handler(_Handler):
            fake_hub = hub

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ storage
    def put_blob(self, data: bytes) -> str:
        oid = git_blob_sha1(data)
        path = self.root / "blobs" / oid
        if not path.exists():
            path.write_bytes(data)
        return oid

    def blob(self, oid: str) -> bytes:
        return (self.root / "blobs" / oid).read_bytes()

    def repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")
        return self.repos[repo_id]

    def new_commit(self, repo: Repo, files: dict[str, str], parents: list[str], message: str) -> Commit:
        self._counter += 1
        payload = json.dumps([repo.repo_id, files, parents, message, self._counter], sort_keys=True).encode()
        oid = hashlib.sha1(payload).hexdigest()
        commit = Commit(oid, files, parents, message, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        repo.commits[oid] = commit
        return commit

    def files_at(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """{path: content} of a revision, for assertions."""
        with self.lock:
            commit = self.repo(repo_id).resolve(revision)
            return {path: self.blob(oid) for path, oid in commit.files.items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake_hub: FakeHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        head: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _require_auth(self) -> None:
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            raise HubError(401, "Invalid credentials in Authorization header")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")  # split BEFORE unquoting: revisions are quoted with safe=""
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        hub = self.fake_hub
        hub.requests.append((method, url.path))
        head = method == "HEAD"
        try:
            body = self._body() if method in ("POST", "PUT") else b""
            with hub.lock:
                handled = self._route(method, [unquote(p) for p in parts], query, body, head)
            if not handled:
                hub.unhandled.append((method, url.path))
                raise HubError(404, f"no route for {method} {url.path}")
        except HubError as error:
            headers = dict(error.headers)
            if error.code:
                headers["X-Error-Code"] = error.code
            headers["X-Error-Message"] = error.message
            payload = {"error": error.message, **error.extra}
            self._send(error.status, json.dumps(payload).encode(), headers, head=head)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # ------------------------------------------------------------------ routes
    def _route(self, method: str, parts: list[str], query: dict[str, str], body: bytes, head: bool) -> bool:
        if parts[:1] == ["api"]:
            if method == "POST" and parts == ["api", "repos", "create"]:
                return self._create_repo(json.loads(body or b"{}"))
            if method == "POST" and parts == ["api", "validate-yaml"]:
                return self._validate_yaml(json.loads(body or b"{}"))
            if len(parts) >= 4 and parts[1] == "models":
                repo_id, rest = f"{parts[2]}/{parts[3]}", parts[4:]
                return self._api_model(method, repo_id, rest, query, body)
            return False
        if len(parts) == 6 and parts[1].endswith(".git") and parts[2:5] == ["info", "lfs", "objects"]:
            repo_id = f"{parts[0]}/{parts[1][: -len('.git')]}"
            self._require_auth()
            if method == "POST" and parts[5] == "batch":
                return self._lfs_batch(repo_id, json.loads(body or b"{}"))
            if method == "POST" and parts[5] == "verify":
                return self._lfs_verify(json.loads(body or b"{}"))
            return False
        if method == "PUT" and len(parts) == 2 and parts[0] == "lfs-storage":
            return self._lfs_store(parts[1], body)
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
        return False

    def _api_model(self, method: str, repo_id: str, rest: list[str], query: dict[str, str], body: bytes) -> bool:
        hub = self.fake_hub
        if method == "GET" and not rest:
            return self._model_info(repo_id, "main")
        if method == "GET" and len(rest) == 2 and rest[0] == "revision":
            return self._model_info(repo_id, rest[1])
        if method == "GET" and rest == ["refs"]:
            repo = hub.repo(repo_id)
            branches = [
                {"name": n, "ref": f"refs/heads/{n}", "targetCommit": o}
                for n, o in repo.refs.items()
                if not n.startswith("refs/")
            ]
            prs = [{"name": n, "ref": n, "targetCommit": o} for n, o in repo.refs.items() if n.startswith("refs/pr/")]
            self._json(200, {"branches": branches, "tags": [], "converts": [], "pullRequests": prs})
            return True
        if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
            return self._tree(repo_id, rest[1], "/".join(rest[2:]), query.get("recursive", "").lower() == "true")
        if method == "POST" and len(rest) == 2 and rest[0] == "branch":
            self._require_auth()
            return self._create_branch(repo_id, rest[1], json.loads(body or b"{}"))
        if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
            self._require_auth()
            return self._preupload(repo_id, rest[1], json.loads(body or b"{}"))
        if method == "POST" and len(rest) == 2 and rest[0] == "commit":
            self._require_auth()
            return self._commit(repo_id, rest[1], body, query.get("create_pr") == "1")
        return False

    def _create_repo(self, payload: dict) -> bool:
        self._require_auth()
        hub = self.fake_hub
        if payload.get("type", "model") != "model":
            raise HubError(400, "the fake Hub only holds model repos")
        repo_id = f"{payload.get('organization') or 'fake-user'}/{payload['name']}"
        url = f"{hub.endpoint}/{repo_id}"
        if repo_id in hub.repos:
            raise HubError(409, "You already created this model repo", extra={"url": url})
        repo = Repo(repo_id, private=payload.get("visibility", "public") != "public" or bool(payload.get("private")))
        hub.repos[repo_id] = repo
        commit = hub.new_commit(repo, {".gitattributes": hub.put_blob(GITATTRIBUTES)}, [], "initial commit")
        repo.refs["main"] = commit.oid
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})
        return True

    def _validate_yaml(self, payload: dict) -> bool:
        errors = validate_card_metadata(payload.get("content", ""))
        if errors:
            self._json(400, {"errors": [{"message": e} for e in errors], "warnings": []})
        else:
            self._json(200, {"errors": [], "warnings": []})
        return True

    def _create_branch(self, repo_id: str, branch: str, payload: dict) -> bool:
        repo = self.fake_hub.repo(repo_id)
        if branch in repo.refs:
            raise HubError(409, f"Reference already exists: {branch}")
        repo.refs[branch] = repo.resolve(payload.get("startingPoint") or "main").oid
        self._json(200, {})
        return True

    def _preupload(self, repo_id: str, revision: str, payload: dict) -> bool:
        commit = self.fake_hub.repo(repo_id).resolve(revision)
        lfs_files = self.fake_hub.lfs_files
        files = []
        for f in payload.get("files", []):
            lfs = self._takes_lfs(f["path"], f.get("size", 0))
            oid = commit.files.get(f["path"])  # the remote file's id: its sha256 for an LFS file, else its git oid
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": lfs_files.get(oid, oid) if lfs else oid,
                }
            )
        self._json(200, {"files": files, "commitOid": commit.oid})
        return True

    @staticmethod
    def _takes_lfs(path: str, size: int) -> bool:
        return size > LFS_MIN_SIZE or any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in LFS_PATTERNS)

    def _lfs_batch(self, repo_id: str, payload: dict) -> bool:
        hub = self.fake_hub
        hub.repo(repo_id)
        if payload.get("operation") != "upload" or payload.get("hash_algo", "sha256") != "sha256":
            raise HubError(400, f"unsupported LFS batch request {payload.get('operation')!r}")
        objects = []
        for obj in payload.get("objects", []):
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if hub.lfs.get(obj["oid"]) != obj["size"]:  # not stored yet: upload it, then verify
                entry["actions"] = {
                    "upload": {"href": f"{hub.endpoint}/lfs-storage/{obj['oid']}", "header": {}},
                    "verify": {"href": f"{hub.endpoint}/{repo_id}.git/info/lfs/objects/verify", "header": {}},
                }
            objects.append(entry)
        self._json(200, {"transfer": "basic", "objects": objects})
        return True

    def _lfs_store(self, oid: str, body: bytes) -> bool:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, f"the uploaded bytes do not hash to {oid}")
        hub = self.fake_hub
        hub.lfs_files[hub.put_blob(body)] = oid
        hub.lfs[oid] = len(body)
        self._send(200, b"", {})
        return True

    def _lfs_verify(self, payload: dict) -> bool:
        if self.fake_hub.lfs.get(payload.get("oid")) != payload.get("size"):
            raise HubError(404, f"LFS object {payload.get('oid')} of size {payload.get('size')} was not uploaded")
        self._json(200, {"success": True})
        return True

    def _commit(self, repo_id: str, revision: str, body: bytes, create_pr: bool) -> bool:
        hub = self.fake_hub
        repo = hub.repo(repo_id)
        base = repo.resolve(revision)
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first NDJSON line must be the header")
        header = lines[0]["value"]
        if header.get("parentCommit") and header["parentCommit"] != base.oid:
            raise HubError(412, f"parentCommit {header['parentCommit']} is not the head of {revision}")
        files = dict(base.files)
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, f"unsupported encoding {value.get('encoding')!r}")
                files[value["path"]] = hub.put_blob(base64.b64decode(value["content"]))
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                files = {p: o for p, o in files.items() if not p.startswith(prefix)}
            elif key == "lfsFile":
                if value.get("algo") != "sha256" or hub.lfs.get(value["oid"]) is None:
                    raise HubError(400, f"LFS object {value.get('oid')} of {value['path']} was never uploaded")
                oid = next(sha1 for sha1, sha256 in hub.lfs_files.items() if sha256 == value["oid"])
                files[value["path"]] = oid
            else:
                raise HubError(400, f"the fake Hub does not support commit operation {key!r}")
        commit = hub.new_commit(repo, files, [base.oid], header.get("summary", ""))
        pr_url = None
        if create_pr:
            repo.num_prs += 1
            repo.refs[f"refs/pr/{repo.num_prs}"] = commit.oid
            pr_url = f"{hub.endpoint}/{repo_id}/discussions/{repo.num_prs}"
        else:
            ref = revision if revision in repo.refs else None
            if ref is None:
                raise HubError(400, f"cannot commit to a commit id ({revision}); use a branch")
            repo.refs[ref] = commit.oid
        self._json(
            200,
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{hub.endpoint}/{repo_id}/commit/{commit.oid}",
                "pullRequestUrl": pr_url,
                "hookOutput": "",
            },
        )
        return True

    def _model_info(self, repo_id: str, revision: str) -> bool:
        repo = self.fake_hub.repo(repo_id)
        commit = repo.resolve(revision)
        self._json(
            200,
            {
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "private": repo.private,
                "disabled": False,
                "gated": False,
                "lastModified": commit.date,
                "tags": [],
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            },
        )
        return True

    def _tree(self, repo_id: str, revision: str, path: str, recursive: bool) -> bool:
        hub = self.fake_hub
        commit = hub.repo(repo_id).resolve(revision)
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        entries, folders = [], set()
        for file_path in sorted(commit.files):
            if not file_path.startswith(prefix):
                continue
            relative = file_path[len(prefix) :].split("/")
            for depth in range(1, len(relative)):
                folder = prefix + "/".join(relative[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    entries.append(
                        {
                            "type": "directory",
                            "oid": hashlib.sha1(folder.encode()).hexdigest(),
                            "size": 0,
                            "path": folder,
                        }
                    )
            if recursive or len(relative) == 1:
                oid = commit.files[file_path]
                size = (hub.root / "blobs" / oid).stat().st_size
                entry = {"type": "file", "oid": oid, "size": size, "path": file_path}
                if oid in hub.lfs_files:
                    entry["lfs"] = {"oid": hub.lfs_files[oid], "size": size, "pointerSize": 134}
                entries.append(entry)
        if prefix and not entries:
            raise HubError(404, f"{path} does not exist on {revision}", "EntryNotFound")
        self._json(200, entries)
        return True

    def _resolve(self, repo_id: str, revision: str, path: str, head: bool) -> bool:
        hub = self.fake_hub
        commit = hub.repo(repo_id).resolve(revision)
        if path not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": commit.oid})
        oid = commit.files[path]
        data = hub.blob(oid)
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{oid}"', "Accept-Ranges": "bytes"}
        if oid in hub.lfs_files:  # as the Hub answers for an LFS file: the object's sha256 and size
            headers.update({"X-Linked-Etag": f'"{hub.lfs_files[oid]}"', "X-Linked-Size": str(len(data))})
        self._send(200, data, headers, content_type="application/octet-stream", head=head)
        return True


def validate_card_metadata(content: str) -> list[str]:
    """Errors in a README's YAML front matter, like the Hub's validate-yaml (a subset of its checks)."""
    if not content.startswith("---"):
        return []
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.S)
    if not match:
        return ["the YAML front matter is not closed by '---'"]
    try:
        metadata = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        return [f"invalid YAML: {error}"]
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        return ["the front matter must be a mapping"]
    errors = []
    for key in ("tags", "datasets", "base_model"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, (str, list)):
            errors.append(f"'{key}' must be a string or a list")
    model_index = metadata.get("model-index")
    if model_index is not None:
        if not isinstance(model_index, list):
            return [*errors, "'model-index' must be a list"]
        for entry in model_index:
            if not isinstance(entry, dict) or "name" not in entry or not isinstance(entry.get("results"), list):
                errors.append("each model-index entry needs 'name' and a 'results' list")
                continue
            for result in entry["results"]:
                if not isinstance(result.get("task"), dict) or "type" not in result["task"]:
                    errors.append("each result needs task.type")
                if not isinstance(result.get("dataset"), dict) or not {"type", "name"} <= set(result["dataset"]):
                    errors.append("each result needs dataset.type and dataset.name")
                metrics = result.get("metrics")
                if not isinstance(metrics, list) or not all(
                    isinstance(m, dict) and {"type", "value"} <= set(m) for m in metrics
                ):
                    errors.append("each result needs metrics with type and value")
    return errors


__all__ = ["FakeHub", "git_blob_sha1", "validate_card_metadata"]
