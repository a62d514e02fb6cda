"""Fetch a training's `model_url` into the task's work directory, and check what came.

Two forms are accepted: a torch checkpoint of a training (its bytes, trained further as a registry
model is; the worker loads it with `weights_only`, so its pickle runs no code), or AI Farm's model
server answer, JSON `{"code": "..."}` whose code defines `create_model()` (checked here to parse
and define it; it runs in the training worker, as a script task's code would). No torch here.
"""

from __future__ import annotations

import ast
import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from taskspec.errors import SpecError

#: What a fetched model may weigh (a checkpoint of the built-in architectures is far smaller).
MAX_MODEL_BYTES = 2 << 30
#: Seconds to connect: an unreachable server fails the task at once rather than hanging it.
CONNECT_TIMEOUT_SECONDS = 10.0
#: Seconds without a byte from a connected server before the fetch is given up.
READ_TIMEOUT_SECONDS = 60.0
CODE_FILE = "model_code.py"
CHECKPOINT_FILE = "model_url.pt"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedModel:
    """Where the fetched model lies, and which form it has."""

    path: Path
    is_code: bool


async def fetch_model_url(url: str, version: str, workdir: Path) -> FetchedModel:
    """Download `url` (http(s); a file:// one is read where it lies) into `workdir`; SpecError says
    what was wrong with it."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        path, json_answer = _local_file(url), False
    elif scheme in ("http", "https"):
        path = workdir / CHECKPOINT_FILE
        json_answer = await _download(url, version, path)
    else:
        raise SpecError(f"model_url {url!r}: only http://, https:// and file:// URLs are fetched")
    if not (json_answer or _looks_like_json(path)):
        return FetchedModel(path, is_code=False)
    code = _code_of(path.read_bytes(), url)
    if path.parent == workdir:
        path.unlink()
    code_path = workdir / CODE_FILE
    code_path.write_text(code, encoding="utf-8")
    return FetchedModel(code_path, is_code=True)


def _local_file(url: str) -> Path:
    path = Path(unquote(urlsplit(url).path))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SpecError(f"cannot read model_url {url!r}: {exc.strerror or exc}") from None
    if not path.is_file() or size > MAX_MODEL_BYTES:
        raise SpecError(f"model_url {url!r} is not a file of at most {MAX_MODEL_BYTES} bytes")
    return path


async def _download(url: str, version: str, path: Path) -> bool:
    """Stream the answer into `path`; True when it is JSON."""
    headers = {"Accept": "application/json, application/octet-stream", "User-Agent": "aifarm-agent"}
    if version:
        headers["Version"] = version
    timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT_SECONDS, sock_read=READ_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url, headers=headers) as reply:
            if reply.status != 200:
                raise SpecError(f"model_url {url!r} answered HTTP {reply.status} {reply.reason or ''}".rstrip())
            if (reply.content_length or 0) > MAX_MODEL_BYTES:
                raise SpecError(f"model_url {url!r} is {reply.content_length} bytes, more than {MAX_MODEL_BYTES}")
            size = 0
            with path.open("wb") as out:
                async for chunk in reply.content.iter_chunked(_CHUNK):
                    size += len(chunk)
                    if size > MAX_MODEL_BYTES:
                        raise SpecError(f"model_url {url!r} sent more than {MAX_MODEL_BYTES} bytes")
                    out.write(chunk)
            return reply.content_type == "application/json"
    except aiohttp.ClientError as exc:
        raise SpecError(f"cannot fetch model_url {url!r}: {exc}") from None
    except asyncio.TimeoutError:
        raise SpecError(f"cannot fetch model_url {url!r}: no answer within the timeout") from None


def _looks_like_json(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(64).lstrip()[:1] == b"{"


def _code_of(body: bytes, url: str) -> str:
    """The code of a {"code": ...} answer, checked to parse and to define create_model()."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise SpecError(f"model_url {url!r} answered JSON that does not parse") from None
    code = answer.get("code") if isinstance(answer, dict) else None
    if not isinstance(code, str) or not code.strip():
        raise SpecError(f"model_url {url!r} answered JSON without a \"code\" string")
    try:
        tree = ast.parse(code, filename=url)
    except SyntaxError as exc:
        raise SpecError(f"model_url {url!r}: its code does not parse (line {exc.lineno}: {exc.msg})") from None
    if not any(isinstance(node, ast.FunctionDef) and node.name == "create_model" for node in tree.body):
        raise SpecError(f"model_url {url!r}: its code defines no create_model()")
    return code
