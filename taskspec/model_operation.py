"""The model operation spec: a model's bytes fetched onto, moved between, copied to or deleted from the
devices of one node (gswarm's node-local storage), and the names it accepts.

Devices: ``disk`` (the agent's models directory), ``dram`` (shared memory, counted against the node's
RAM) and ``gpuN`` (loaded onto that CUDA device). A copy names its source on another node as
``NODE:DEVICE``. Names are checked here, once, for both sides: a model name or a device can never
make a path leave the agent's directories.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from taskspec.errors import SpecError
from taskspec.training import MODEL_NAME

DEVICE = re.compile(r"^(disk|dram|gpu[0-9]{1,3})$")
NODE_DEVICE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}):(disk|dram|gpu[0-9]{1,3})$")
URL_SCHEMES = ("http", "https", "file")
MAX_URL = 2048


class Pool(enum.Enum):
    """The store of a node the bytes are in: its models, or its data pool's chunks."""

    MODELS = "models"
    DATA = "data"


class Operation(enum.Enum):
    DOWNLOAD = "download"
    MOVE = "move"
    COPY = "copy"
    DELETE = "delete"


@dataclass(frozen=True)
class ModelOperationSpec:
    operation: Operation
    model: str
    #: DOWNLOAD: the URL ("" : the registry's bytes).
    source_url: str = ""
    #: MOVE, DELETE: a device of the node; COPY: "NODE:DEVICE" of another.
    source_device: str = ""
    target_device: str = ""
    keep_source: bool = False
    verify_checksum: bool = False
    #: Expected sha256 (hex), "" when none is known.
    sha256: str = ""
    #: COPY: bytes per second, 0 for no limit.
    bandwidth_limit: float = 0.0
    force: bool = False
    pool: Pool = Pool.MODELS

    @property
    def item(self) -> str:
        """What the bytes are, pool and all ("llama-7b", "data/chunk-a1b2c3d4e5f6"): the name a lock and a
        peer ticket use, so a chunk's ticket never reads a model of the same name."""
        return stored_item(self.pool, self.model)

    @property
    def source_node(self) -> str:
        """COPY: the node the bytes come from."""
        return self.source_device.partition(":")[0]

    @property
    def source_local_device(self) -> str:
        """COPY: the device of the source node; otherwise the source device itself."""
        return self.source_device.partition(":")[2] if self.operation is Operation.COPY else self.source_device

    def validate(self) -> None:
        """Raise `SpecError` naming what is wrong."""
        check_model_name(self.model)
        op = self.operation
        if op is not Operation.DELETE:
            check_device(self.target_device, "target_device")
        if op is Operation.DOWNLOAD and self.source_url:
            check_url(self.source_url)
        if op is Operation.MOVE:
            check_device(self.source_device, "source_device")
            if self.source_device == self.target_device:
                raise SpecError(f"source_device and target_device are both {self.target_device!r}: nothing to move")
        if op is Operation.COPY and not NODE_DEVICE.match(self.source_device):
            raise SpecError(f"source_device {self.source_device!r} must be NODE:DEVICE (for example node1:disk)")
        if op is Operation.DELETE and self.source_device:
            check_device(self.source_device, "device")
        if self.sha256 and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise SpecError("sha256 must be 64 lowercase hex digits")
        if not (0 <= self.bandwidth_limit < float("inf")):
            raise SpecError(f"bandwidth_limit must be a number of bytes per second, 0 for none; not {self.bandwidth_limit}")


def check_model_name(name: str) -> str:
    if not MODEL_NAME.match(name) or ".." in name:
        raise SpecError(f"invalid model name {name!r}: use 1-128 letters, digits, '-', '_' or '.'")
    return name


def check_device(device: str, what: str = "device") -> str:
    if not DEVICE.match(device):
        raise SpecError(f"{what} {device!r} is not a device: give disk, dram or gpuN (gpu0, gpu1, ...)")
    return device


def split_node_device(value: str, what: str) -> tuple[str, str]:
    """("node1", "disk") from "node1:disk"; `SpecError` for anything else."""
    match = NODE_DEVICE.match(value)
    if not match:
        raise SpecError(f"{what} {value!r} must be NODE:DEVICE with DEVICE disk, dram or gpuN (for example node1:disk)")
    return match.group(1), match.group(2)


def check_url(url: str) -> str:
    if len(url) > MAX_URL or urlsplit(url).scheme.lower() not in URL_SCHEMES or "://" not in url:
        raise SpecError(f"source_url {url[:80]!r} must be an http://, https:// or file:// URL"
                        f" (at most {MAX_URL} characters)")  # fmt: skip
    return url


def stored_item(pool: Pool, name: str) -> str:
    return name if pool is Pool.MODELS else f"{pool.value}/{name}"


def pool_of(item: str) -> tuple[Pool, str]:
    """The pool and name of a `stored_item` (anything else is a name of the models' pool)."""
    pool, _, name = item.partition("/")
    return (Pool.DATA, name) if pool == Pool.DATA.value and name else (Pool.MODELS, item)


def lock_name(item: str, node: str, device: str) -> str:
    """The scheduler lock two operations on one item (`ModelOperationSpec.item`) and device share
    (gswarm's resource tracking)."""
    return f"{item}@{node}:{device}"
