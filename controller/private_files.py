"""Files only the farm's owner may read: the data directory (0700) and its secrets (0600).

The data directory holds every task's environment and logs, the API keys and the
CA's key, so nothing in it is left to the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by its owner only (0600) whatever the umask, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def private_directory(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700; returns it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _tighten(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """Make an existing file 0600, or create it empty with that mode (so SQLite's -wal and -shm,
    which take the database file's mode, are private from their first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    _tighten(path, 0o600)
    return path


def _tighten(path: Path, mode: int) -> None:
    current = path.stat().st_mode & 0o777
    if current != mode:
        os.chmod(path, mode)
        if current & 0o077:
            log.info("made private", path=str(path), mode=oct(mode), was=oct(current))
