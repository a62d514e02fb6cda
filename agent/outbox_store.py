"""The outbox on disk: what the controller has not acknowledged yet survives the agent.

One append-only file in the agent's data directory. Every message put in the
outbox is one framed record, written with one `pwrite` before `Outbox.put_*`
returns; an ack is a 17-byte record of the acknowledged sequence number. After
a restart the file is read back: the messages above the highest ack are
replayed in order, and sequence numbers go on from the highest one seen.

Durability, in two steps:

* written (`append`, `ack`): in the kernel's page cache before the call
  returns, so it survives the agent's own crash (SIGKILL, the OOM killer, a
  segfault) at no more cost than a system call. This is the hot path: log
  batches, progress and metrics never wait on the disk.
* synced (`sync`, an `fdatasync`): on the disk, so it survives the machine too.
  The supervisor syncs once per attempt, after its final update and before it
  reports the attempt finished; that one sync covers every line and update of
  the attempt written before it.

Why a log file rather than SQLite: the outbox is a queue, appended at the tail
and dropped from the head by a cumulative ack, and a log is that queue as it is:
one write per message, nothing rewritten in place, a delete that is a 17-byte
append, and the point of each fsync chosen here rather than by a transaction
per statement. SQLite in WAL mode writes at least one 4 KiB page frame per
commit for the insert and again for the delete, and the stdlib driver would put
those commits on the event loop. `bench/agent_outbox.py` measures both.

Format: the header line `MAGIC`, then records of `length u32 | crc32 u32 | kind
u8 | seq u64 | payload`, big-endian; the CRC covers kind, seq and payload. A
crash can only cut the last record short (or leave it with a bad CRC): reading
stops at the first record that is incomplete or fails its CRC, and the file is
cut there, so a torn write at the end is ignored and later appends follow
whole records.

Compaction: once the acknowledged records outweigh the live ones (and at least
`COMPACT_MIN_BYTES`), the live records and the ack are written to a new file,
synced, and renamed over the old one.

One agent per data directory: the file is held with `flock` while open; a second
agent on the same directory is refused (`OutboxInUse`) rather than replaying,
or sweeping, the first one's work.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import structlog

from agent.errors import AgentError

log = structlog.get_logger(__name__)

MAGIC = b"aifarm agent outbox v1\n"
_HEAD = struct.Struct(">IIBQ")
_CRC_FROM = 8  # the CRC covers the record from its kind byte on
KIND_MESSAGE = 1
KIND_ACK = 2
#: A length above this is corruption, not a record (the largest message is a few MiB).
MAX_PAYLOAD_BYTES = 64 << 20
#: Acknowledged bytes kept before a compaction is considered.
COMPACT_MIN_BYTES = 4 << 20


class OutboxInUse(AgentError):
    """Another agent process holds this data directory's outbox."""


@dataclass(frozen=True)
class Recovered:
    """What a previous life of the agent left unacknowledged."""

    #: (seq, payload) of every message above the highest ack, in order.
    messages: list[tuple[int, bytes]]
    #: The highest sequence number in the file (0: none); new messages go on from it.
    last_seq: int
    #: The highest acknowledged sequence number (0: none).
    acked: int
    #: Bytes at the end that did not form a whole record (a torn write) and were cut off.
    torn_bytes: int


def _record(kind: int, seq: int, payload: bytes = b"") -> bytes:
    body = struct.pack(">BQ", kind, seq) + payload
    return struct.pack(">II", len(payload), zlib.crc32(body)) + body


class OutboxStore:
    """The file behind one agent's outbox; open it with `OutboxStore.open(path)`."""

    def __init__(self, path: Path, fd: int, end: int, live: OrderedDict[int, tuple[int, int]], acked: int) -> None:
        self.path = path
        self._fd = fd
        #: Where the next record goes.
        self._end = end
        #: seq -> (offset, length) of each unacknowledged message record, in order.
        self._live = live
        self._live_bytes = sum(length for _, length in live.values())
        self._acked = acked
        #: Held while the descriptor is synced in a worker thread or swapped by a compaction.
        self._fd_lock = threading.Lock()
        self._broken = False

    # --- opening: read back what a previous life left --------------------------------

    @classmethod
    def open(cls, path: Path) -> tuple[OutboxStore, Recovered]:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_locked(path)
        try:
            data = _read_all(fd)
            if not data.startswith(MAGIC) and not (len(data) < len(MAGIC) and MAGIC.startswith(data)):
                os.close(fd)
                aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
                os.replace(path, aside)
                log.error("the outbox file is not one this agent can read; moved it aside and starting empty",
                          path=str(path), moved_to=str(aside))  # fmt: skip
                fd, data = _open_locked(path), b""
            if len(data) < len(MAGIC):  # new, or torn before its header was whole
                os.ftruncate(fd, 0)
                os.pwrite(fd, MAGIC, 0)
                return cls(path, fd, len(MAGIC), OrderedDict(), 0), Recovered([], 0, 0, 0)
            live, acked, last_seq, end = _scan(data)
            torn = len(data) - end
            if torn:
                log.warning("ignored a torn record at the end of the outbox (a write cut short by a crash)",
                            path=str(path), torn_bytes=torn)  # fmt: skip
                os.ftruncate(fd, end)
            messages = [(seq, data[off + _HEAD.size : off + length]) for seq, (off, length) in live.items()]
            return cls(path, fd, end, live, acked), Recovered(messages, last_seq, acked, torn)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise

    # --- the hot path ---------------------------------------------------------------

    def append(self, seq: int, payload: bytes) -> None:
        """Write one message record; it survives the agent's crash once this returns."""
        record = _record(KIND_MESSAGE, seq, payload)
        if self._write(record):
            self._live[seq] = (self._end - len(record), len(record))
            self._live_bytes += len(record)

    def ack(self, seq: int) -> None:
        """Record that everything up to `seq` was acknowledged; compacts now and then."""
        if seq <= self._acked:
            return
        self._acked = seq
        while self._live and next(iter(self._live)) <= seq:
            _, (_, length) = self._live.popitem(last=False)
            self._live_bytes -= length
        self._write(_record(KIND_ACK, seq))
        garbage = self._end - len(MAGIC) - self._live_bytes
        if garbage >= COMPACT_MIN_BYTES and garbage > 2 * self._live_bytes:
            self._compact()

    def sync(self) -> None:
        """Make what was written so far survive the machine's crash (blocking: call it in a thread)."""
        with self._fd_lock:
            if self._fd >= 0 and not self._broken:
                os.fdatasync(self._fd)

    def close(self) -> None:
        """Sync and let go of the file; safe to call twice."""
        with self._fd_lock:
            if self._fd < 0:
                return
            with contextlib.suppress(OSError):
                os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = -1

    @property
    def size(self) -> int:
        """Bytes in the file now."""
        return self._end

    # --- internals ------------------------------------------------------------------

    def _write(self, record: bytes) -> bool:
        if self._broken or self._fd < 0:
            return False
        try:
            _pwrite_all(self._fd, record, self._end)
        except OSError as exc:
            # A full disk, say: cut off what part of the record made it, and go on in memory only.
            self._broken = True
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._end)
            log.error("cannot write the outbox to disk; unacknowledged updates are now kept in memory only, "
                      "and are lost if the agent crashes", path=str(self.path), error=str(exc))  # fmt: skip
            return False
        self._end += len(record)
        return True

    def _compact(self) -> None:
        """Rewrite the file as the ack and the live records; the new file is locked before it replaces the old."""
        tmp = self.path.with_name(self.path.name + ".compacting")
        with self._fd_lock:
            if self._fd < 0:
                return
            new = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)
                parts = [MAGIC, _record(KIND_ACK, self._acked)]
                offset = sum(len(p) for p in parts)
                live: OrderedDict[int, tuple[int, int]] = OrderedDict()
                for seq, (off, length) in self._live.items():
                    parts.append(os.pread(self._fd, length, off))
                    live[seq] = (offset, length)
                    offset += length
                _pwrite_all(new, b"".join(parts), 0)
                os.fdatasync(new)
                os.replace(tmp, self.path)
                _sync_directory(self.path.parent)
            except OSError as exc:
                os.close(new)
                with contextlib.suppress(OSError):
                    tmp.unlink()
                log.warning("could not compact the outbox; it goes on growing", path=str(self.path), error=str(exc))
                return
            os.close(self._fd)
            before = self._end
            self._fd, self._end, self._live = new, offset, live
        log.debug("outbox compacted", path=str(self.path), bytes_before=before, bytes_after=offset)


def _open_locked(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise OutboxInUse(f"another agent is running with the data directory {path.parent}; "
                          "give each agent a data directory of its own") from None  # fmt: skip
    return fd


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 24), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _scan(data: bytes) -> tuple[OrderedDict[int, tuple[int, int]], int, int, int]:
    """(live message records, highest ack, highest seq, end of the last whole record) of a file's bytes."""
    live: OrderedDict[int, tuple[int, int]] = OrderedDict()
    acked = last_seq = 0
    offset = len(MAGIC)
    while offset + _HEAD.size <= len(data):
        length, crc, kind, seq = _HEAD.unpack_from(data, offset)
        end = offset + _HEAD.size + length
        if length > MAX_PAYLOAD_BYTES or end > len(data) or kind not in (KIND_MESSAGE, KIND_ACK):
            break
        if zlib.crc32(memoryview(data)[offset + _CRC_FROM : end]) != crc:
            break
        last_seq = max(last_seq, seq)
        if kind == KIND_MESSAGE:
            if seq > acked:
                live[seq] = (offset, end - offset)
        elif seq > acked:
            acked = seq
            while live and next(iter(live)) <= seq:
                live.popitem(last=False)
        offset = end
    return live, acked, last_seq, offset


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

