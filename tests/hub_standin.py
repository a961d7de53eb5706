"""A stand-in for the Hugging Face Hub on loopback, answering the way the real one does.

Two servers: the Hub's API and resolve endpoint on ``127.0.0.1``, and a "CDN" on ``localhost``
(another host name, as cdn-lfs.hf.co is to huggingface.co) that serves file bytes with Range
support behind signed-looking URLs. Responses carry what huggingface_hub reads: ``X-Repo-Commit``,
``X-Linked-Etag``, ``X-Linked-Size`` and a 302 on ``/resolve``; ``X-Error-Code`` and
``X-Error-Message`` on errors (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound); JSON
shaped like ``/api/models`` (with ``expand``), ``/api/models/{repo}[/revision/{rev}]``
(siblings with ``lfs`` when ``blobs=true``) and ``/api/models/{repo}/tree/{rev}``.

Faults are switched on per test: a status for a path, malformed JSON, a stalled answer, a body
cut after N bytes, throttling, corrupted bytes, a repository that needs a token. Every request is
logged, so a test can prove that offline mode made none.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

REPO = "test-org/SmolLM2-135M-Instruct-GGUF"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: A vision model's repository: the test model with crafted projectors (tests/vision_craft.py)
#: that fit it (F16, and a larger F32) and a smaller one made for a 64-wide model.
VISION_REPO = "test-org/SmolLM2-Vision-GGUF"
TOKEN = "hf_test_token_0123456789"
GATED_MESSAGE = ("Access to model {repo} is restricted. You must have access to it and be "
                 "authenticated to access it. Please log in.")


@dataclass
class StandinFile:
    path: str
    source: Path | bytes

    def data(self) -> bytes:
        if isinstance(self.source, bytes):
            return self.source
        return _DATA_CACHE.setdefault(str(self.source), self.source.read_bytes())

    @property
    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    @property
    def sha256(self) -> str:
        return _sha256(self)

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(f"blob {self.path}".encode()).hexdigest()


_SHA_CACHE: dict[tuple[str, int], str] = {}
_DATA_CACHE: dict[str, bytes] = {}


def _sha256(file: StandinFile) -> str:
    key = (str(file.source) if isinstance(file.source, Path) else file.path, file.size)
    if isinstance(file.source, bytes):
        return hashlib.sha256(file.source).hexdigest()
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = hashlib.sha256(file.source.read_bytes()).hexdigest()
    return _SHA_CACHE[key]


@dataclass
class StandinRepo:
    repo_id: str
    files: list[StandinFile]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    license: str | None = "apache-2.0"
    gated: Any = False  # False, "auto" or "manual"
    private: bool = False
    downloads: int = 0
    likes: int = 0
    trending: float = 0.0
    last_modified: str = "2024-11-01T12:00:00.000Z"
    architecture: str | None = "llama"
    context_length: int | None = 8192
    parameters: int | None = 134515008

    def file(self, path: str) -> StandinFile | None:
        return next((f for f in self.files if f.path == path), None)


@dataclass
class Faults:
    """What goes wrong, switched on by a test."""

    status: dict[str, int] = field(default_factory=dict)  # path prefix -> HTTP status
    malformed: set[str] = field(default_factory=set)  # path prefixes answered with broken JSON
    stall: set[str] = field(default_factory=set)  # path prefixes that never answer
    cut_after: int | None = None  # CDN: close the connection after this many body bytes
    cut_times: int = 1  # ... this many times
    corrupt: set[str] = field(default_factory=set)  # sha256es served with one byte flipped
    throttle: float | None = None  # CDN bytes per second
    ignore_range: bool = False  # CDN answers 200 with the whole file


class HubStandin:
    def __init__(self) -> None:
        self.repos: dict[str, StandinRepo] = {}
        self.faults = Faults()
        self.tokens: set[str] = {TOKEN}
        self.log: list[tuple[str, str, str]] = []  # (host, method, path)
        self.range_headers: list[str | None] = []  # the Range of every CDN GET
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.api = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "api"))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "cdn"))
        self.api.daemon_threads = self.cdn.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.api.server_address[1]}"
        self.cdn_base = f"http://localhost:{self.cdn.server_address[1]}"
        self.threads = [threading.Thread(target=s.serve_forever, daemon=True)
                        for s in (self.api, self.cdn)]

    def start(self) -> HubStandin:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for server in (self.api, self.cdn):
            server.shutdown()
            server.server_close()

    def add(self, repo: StandinRepo) -> StandinRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def requests(self, host: str | None = None) -> list[tuple[str, str, str]]:
        with self.lock:
            return [r for r in self.log if host is None or r[0] == host]


def _handler(hub: HubStandin, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._route(head=True)

        def do_GET(self) -> None:  # noqa: N802
            self._route(head=False)

        # --- plumbing ---------------------------------------------------------------------
        def _route(self, head: bool) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            with hub.lock:
                hub.log.append((role, self.command, self.path))
            if any(path.startswith(p) for p in hub.faults.stall):
                hub.stop_event.wait(30)
                return
            for prefix, status in hub.faults.status.items():
                if path.startswith(prefix):
                    return self._error(status, "Internal Error" if status >= 500 else "Error",
                                       None, head)
            query = parse_qs(url.query)
            if role == "cdn":
                return self._cdn(path, head)
            if any(path.startswith(p) for p in hub.faults.malformed):
                return self._send(200, b'{"id": "broken", "siblings": [', head,
                                  {"Content-Type": "application/json"})
            if path == "/api/models":
                return self._json(self._search(query), head)
            if path.startswith("/api/models/"):
                return self._api_model(path[len("/api/models/"):], query, head)
            if "/resolve/" in path:
                return self._resolve(path, head)
            self._error(404, "Not Found", None, head)

        def _send(self, status: int, body: bytes, head: bool,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, value: Any, head: bool, headers: dict[str, str] | None = None) -> None:
            self._send(200, json.dumps(value).encode(), head,
                       {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

        def _error(self, status: int, message: str, code: str | None, head: bool) -> None:
            headers = {"Content-Type": "application/json; charset=utf-8",
                       "X-Error-Message": message, "X-Request-Id": "Root=1-standin"}
            if code:
                headers["X-Error-Code"] = code
            self._send(status, json.dumps({"error": message}).encode(), head, headers)

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization", "")
            return auth[7:] if auth.lower().startswith("bearer ") else None

        def _repo(self, repo_id: str, head: bool) -> StandinRepo | None:
            repo = hub.repos.get(repo_id)
            token = self._token()
            if token is not None and token not in hub.tokens:
                self._error(401, "Invalid credentials in Authorization header", None, head)
                return None
            if repo is None or (repo.private and token is None):
                self._error(401, "Repository not found", "RepoNotFound", head)
                return None
            return repo

        # --- API --------------------------------------------------------------------------
        def _search(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
            text = (query.get("search") or [""])[0].lower()
            sort = (query.get("sort") or ["downloads"])[0]
            limit = int((query.get("limit") or ["1000"])[0])
            expand = query.get("expand") or query.get("expand[]")
            keys = {"downloads": "downloads", "likes": "likes", "trendingScore": "trending",
                    "lastModified": "last_modified", "createdAt": "last_modified"}
            found = [r for r in hub.repos.values() if text in r.repo_id.lower() and not r.private]
            found.sort(key=lambda r: getattr(r, keys.get(sort, "downloads")), reverse=True)
            items = []
            for repo in found[:limit]:
                full = self._info(repo, blobs=False)
                item = {"_id": full["_id"], "id": full["id"]}
                if expand:
                    item.update({k: full[k] for k in expand if k in full})
                else:  # the real API's short form
                    item.update({k: full[k] for k in ("likes", "downloads", "trendingScore",
                                                      "private", "tags", "createdAt", "modelId",
                                                      "library_name", "pipeline_tag")
                                 if k in full})
                items.append(item)
            return items

        def _info(self, repo: StandinRepo, blobs: bool) -> dict[str, Any]:
            siblings: list[dict[str, Any]] = []
            for f in repo.files:
                sibling: dict[str, Any] = {"rfilename": f.path}
                if blobs:
                    sibling.update({"blobId": f.git_oid, "size": f.size,
                                    "lfs": {"sha256": f.sha256, "size": f.size,
                                            "pointerSize": 135}})
                siblings.append(sibling)
            tags = ["gguf", "text-generation", repo.architecture or "llama"]
            if repo.license:
                tags.append(f"license:{repo.license}")
            info: dict[str, Any] = {
                "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id, "modelId": repo.repo_id,
                "author": repo.repo_id.split("/")[0], "sha": repo.commit,
                "lastModified": repo.last_modified, "createdAt": "2024-10-01T00:00:00.000Z",
                "private": repo.private, "gated": repo.gated, "disabled": False,
                "downloads": repo.downloads, "likes": repo.likes,
                "trendingScore": repo.trending, "library_name": "gguf",
                "pipeline_tag": "text-generation", "tags": tags,
                "cardData": {"license": repo.license, "tags": ["gguf"]},
                "siblings": siblings, "spaces": [],
                "usedStorage": sum(f.size for f in repo.files),
            }
            if repo.architecture:
                info["gguf"] = {"total": repo.parameters, "architecture": repo.architecture,
                                "context_length": repo.context_length}
            return info

        def _api_model(self, rest: str, query: dict[str, list[str]], head: bool) -> None:
            parts = rest.split("/")
            repo_id = "/".join(parts[:2])
            repo = self._repo(repo_id, head)
            if repo is None:
                return
            tail = parts[2:]
            if not tail:
                return self._json(self._info(repo, "blobs" in query), head)
            if tail[0] == "revision" and len(tail) >= 2:
                if tail[1] not in ("main", repo.commit):
                    return self._error(404, f"Invalid rev id: {tail[1]}", "RevisionNotFound",
                                       head)
                return self._json(self._info(repo, "blobs" in query), head)
            if tail[0] == "tree" and len(tail) >= 2:
                if tail[1] not in ("main", repo.commit):
                    return self._error(404, f"Invalid rev id: {tail[1]}", "RevisionNotFound",
                                       head)
                prefix = "/".join(tail[2:])
                return self._json(self._tree(repo, prefix, "recursive" in query), head)
            self._error(404, "Not Found", None, head)

        def _tree(self, repo: StandinRepo, prefix: str, recursive: bool) -> list[dict[str, Any]]:
            entries: dict[str, dict[str, Any]] = {}
            base = f"{prefix}/" if prefix else ""
            for f in repo.files:
                if not f.path.startswith(base):
                    continue
                rest = f.path[len(base):]
                if "/" in rest and not recursive:
                    folder = base + rest.split("/")[0]
                    entries[folder] = {"type": "directory", "oid": "0" * 40, "size": 0,
                                       "path": folder}
                    continue
                if recursive:
                    pieces = rest.split("/")[:-1]
                    for i in range(len(pieces)):
                        folder = base + "/".join(pieces[: i + 1])
                        entries[folder] = {"type": "directory", "oid": "0" * 40, "size": 0,
                                           "path": folder}
                entries[f.path] = {"type": "file", "oid": f.git_oid, "size": f.size,
                                   "path": f.path, "lfs": {"oid": f.sha256, "size": f.size,
                                                           "pointerSize": 135}}
            return list(entries.values())

        def _resolve(self, path: str, head: bool) -> None:
            repo_part, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, file_path = rest.partition("/")
            repo = self._repo(repo_part, head)
            if repo is None:
                return
            if repo.gated and self._token() is None:
                return self._error(401, GATED_MESSAGE.format(repo=repo.repo_id), "GatedRepo",
                                   head)
            if revision not in ("main", repo.commit):
                return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound", head)
            file = repo.file(file_path)
            if file is None:
                return self._error(404, "Entry not found", "EntryNotFound", head)
            expires = int(time.time()) + 3600
            location = (f"{hub.cdn_base}/repos/{quote(repo.repo_id)}/{file.sha256}"
                        f"?response-content-disposition=attachment%3B+filename%3D%22"
                        f"{quote(file.path.split('/')[-1])}%22&Expires={expires}"
                        f"&Signature=standin")
            self._send(302, b"Found. Redirecting to " + location.encode(), head, {
                "Location": location,
                "X-Repo-Commit": repo.commit,
                "X-Linked-Etag": f'"{file.sha256}"',
                "X-Linked-Size": str(file.size),
                "ETag": f'"{file.git_oid}"',
                "Content-Type": "text/plain; charset=utf-8",
                "Accept-Ranges": "bytes",
            })

        # --- CDN --------------------------------------------------------------------------
        def _cdn(self, path: str, head: bool) -> None:
            sha = path.rsplit("/", 1)[-1]
            file = next((f for r in hub.repos.values() for f in r.files if f.sha256 == sha),
                        None)
            if file is None or self.headers.get("Authorization"):
                # A CDN must never see the Hub token: refuse loudly if it does.
                return self._send(403 if file else 404, b"<Error>AccessDenied</Error>", head,
                                  {"Content-Type": "application/xml"})
            if not head:
                with hub.lock:
                    hub.range_headers.append(self.headers.get("Range"))
            data = file.data()
            if sha in hub.faults.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            size = len(data)
            start, end = 0, size - 1
            status = 200
            headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                       "ETag": f'"{sha}"'}
            header = self.headers.get("Range")
            if header and not hub.faults.ignore_range:
                spec = header.removeprefix("bytes=")
                first, _, last = spec.partition("-")
                start = int(first) if first else max(0, size - int(last))
                end = min(int(last), size - 1) if (last and first) else size - 1
                if start >= size:
                    return self._send(416, b"", head, {"Content-Range": f"bytes */{size}"})
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            body = data[start:end + 1]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head:
                return
            self._stream(body)

        def _stream(self, body: bytes) -> None:
            cut = None
            with hub.lock:
                cut_after = hub.faults.cut_after
                if cut_after is not None and hub.faults.cut_times > 0 and len(body) > cut_after:
                    hub.faults.cut_times -= 1
                    cut = hub.faults.cut_after
            sent, step = 0, 64 * 1024
            throttle = hub.faults.throttle
            started = time.monotonic()
            try:
                while sent < len(body):
                    if cut is not None and sent >= cut:
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    piece = body[sent:sent + step]
                    if cut is not None:
                        piece = piece[: max(0, cut - sent)] or piece
                    self.wfile.write(piece)
                    sent += len(piece)
                    if throttle:
                        delay = sent / throttle - (time.monotonic() - started)
                        if delay > 0 and hub.stop_event.wait(delay):
                            return
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True

    return Handler
