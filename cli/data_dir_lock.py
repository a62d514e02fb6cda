"""<data-dir>/lock: one controller per data directory, for as long as its process lives.

Two controllers on one directory would share its database, keys and the local agent's
node id. The lock is an ``fcntl.flock`` on ``<data-dir>/lock``, which holds the pid of its
holder: the kernel drops it when the process ends however it ends (SIGKILL included), so
the file a dead process left behind is simply taken over. The file is removed on release;
a process that locks a file the holder has just removed notices (the path no longer names
the inode it locked) and locks the new one instead, so two processes never both hold it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

import structlog

from cli.holders import describe_process

log = structlog.get_logger(__name__)

LOCK_FILE = "lock"
#: A holder writes its pid just after taking the lock: how long to wait to read it.
_PID_WAIT_SECONDS = 0.5


class DataDirBusy(Exception):
    """Another live process holds the data directory's lock."""

    def __init__(self, data_dir: Path, holder_pid: int | None) -> None:
        self.data_dir = data_dir
        self.holder_pid = holder_pid
        holder = describe_process(holder_pid) if holder_pid else "another process"
        super().__init__(
            f"the data directory {data_dir} is in use by {holder}, another aifarm controller. "
            "Stop that one, or give this one a directory of its own with --data-dir DIR (env AIFARM_DATA_DIR)."
        )


class DataDirLock:
    """``acquire()`` once at start, ``release()`` at exit (safe to call twice)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None
        self._created_dir = False

    def acquire(self) -> None:
        """Take the lock, creating the directory (0700) if needed; raises DataDirBusy."""
        if not self.data_dir.exists():
            self.data_dir.mkdir(parents=True, mode=0o700)
            self._created_dir = True
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                self._remove_created_dir()
                raise DataDirBusy(self.data_dir, holder) from None
            if _names_inode(self.path, fd):
                self._fd = fd
            else:  # the holder released and removed it between our open and our flock: lock the new file
                os.close(fd)
        stale = _read_pid(self._fd, wait=0)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        if stale:
            log.info("data_dir.lock_taken_over", path=str(self.path), stale_pid=stale)

    def release(self) -> None:
        """Remove the lock file (it is ours) and drop the lock; an empty directory we made goes too."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Unlink while still holding the lock, so that nobody takes a file that is going away.
        self.path.unlink(missing_ok=True)
        os.close(fd)
        self._remove_created_dir()

    def _remove_created_dir(self) -> None:
        if self._created_dir:
            with contextlib.suppress(OSError):  # not empty: the run wrote state, which stays
                self.data_dir.rmdir()

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _names_inode(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read_pid(fd: int, wait: float = _PID_WAIT_SECONDS) -> int | None:
    """The pid in the lock file; the holder may not have written it yet, so wait a little."""
    deadline = time.monotonic() + wait
    while True:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
