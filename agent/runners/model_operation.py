"""Runs a model operation (aifarm.v1.ModelOperationSpec) on this node's model store.

Download from the registry (through the controller, sha256 checked), from an http(s) URL or from a
file; move between this node's devices; copy from another node's PeerService with the ticket the
controller signed; delete. Every byte really moves; cancel stops the transfer and leaves no partial
file (agent.models.transfer).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import structlog

from agent.models.errors import ModelOperationError
from agent.models.local_store import LocalModelStore
from agent.models.transfer import CHUNK_BYTES, Arrival, file_chunks, receive
from agent.runners.base import FinalState, LogSource, Outcome, RunContext, Runner, TaskReporter
from aifarm.v1 import agent_service_pb2 as agent_pb
from aifarm.v1 import task_pb2
from taskspec.model_operation import Operation, Pool
from taskspec.proto import model_operation_from_proto, storage_pool

log = structlog.get_logger(__name__)

HTTP_TIMEOUT_SECONDS = 60


class ModelOperationRunner(Runner):
    def __init__(self, spec: task_pb2.ModelOperationSpec, ctx: RunContext, reporter: TaskReporter,
                 store: LocalModelStore, peer_source: agent_pb.PeerSource | None) -> None:  # fmt: skip
        self.spec = model_operation_from_proto(spec)
        self.ctx = ctx
        self.reporter = reporter
        self.store = store
        self.peer_source = peer_source
        self._work: asyncio.Task[str] | None = None
        #: The sha256 the source says its bytes have (a peer's, a moved file's), checked on arrival.
        self._source_sha256 = ""
        #: What a source opened (an HTTP session, a channel), closed once the transfer is over, however it ended.
        self._closers: list[Callable[[], Awaitable[object]]] = []
        self._arrival: Arrival | None = None
        self._log = log.bind(task_id=ctx.task_id, model=self.spec.model, operation=self.spec.operation.value)

    async def run(self) -> Outcome:
        self._work = asyncio.create_task(self._operate())
        await asyncio.wait([self._work])
        if self._work.cancelled():
            return Outcome(FinalState.CANCELLED, error="cancelled; no partial file was kept")
        if (exc := self._work.exception()) is not None:
            error = str(exc) if isinstance(exc, ModelOperationError) else f"TASK_FAILED: {exc}"
            self._log.warning("model operation failed", error=error)
            self.reporter.log(LogSource.SYSTEM, error)
            return Outcome(FinalState.FAILED, exit_code=1, error=error)
        summary = self._work.result()
        self.reporter.log(LogSource.SYSTEM, summary)
        if self._arrival is not None:  # what arrived, for the controller (a data chunk's size comes from it)
            a = self._arrival
            self.reporter.metric(0, {"bytes": float(a.size), "seconds": a.seconds,
                                     "mb_per_s": a.size / a.seconds / 1e6 if a.seconds > 0 else 0.0})  # fmt: skip
        self.reporter.progress(1.0)
        return Outcome(FinalState.COMPLETED, output_sha256=self.store.sha256(self.spec.model, self._kept_device()))

    def _kept_device(self) -> str:
        return self.spec.source_device if self.spec.operation is Operation.DELETE else self.spec.target_device

    async def _operate(self) -> str:
        spec = self.spec
        if spec.operation is Operation.DELETE:
            return await self._delete()
        target = spec.target_device
        self.store.root(target)  # a device this node lacks fails before anything moves
        try:
            arrival = self._arrival = await self._transfer(target)
        finally:
            for close in self._closers:
                with contextlib.suppress(Exception):
                    await close()
        if target.startswith("gpu"):
            try:
                await self.store.holders.hold(spec.model, target, self.store.path(spec.model, target))
            except BaseException:
                self.store.remove(spec.model, target)
                raise
        if spec.operation is Operation.MOVE and not spec.keep_source:
            await self._remove(spec.source_device)
        return _summary(spec.operation.value, spec.model, target, arrival)

    async def _transfer(self, target: str) -> Arrival:
        spec = self.spec
        if spec.operation is Operation.DOWNLOAD:
            size, chunks = await self._download_source()
        elif spec.operation is Operation.MOVE:
            size, chunks = self._local_source(spec.source_device)
        else:
            size, chunks = await self._peer_source()
        self.reporter.log(LogSource.SYSTEM, f"{spec.operation.value} {spec.model} to {target}: "
                                            f"{size if size >= 0 else 'unknown'} bytes")  # fmt: skip
        return await receive(self.store, spec.model, target, self.ctx.task_id, chunks, size=size,
                             expected_sha256=spec.sha256 or self._source_sha256, bandwidth_limit=spec.bandwidth_limit,
                             progress=self.reporter.progress)  # fmt: skip

    async def _remove(self, device: str) -> bool:
        if device.startswith("gpu"):
            await self.store.holders.release(self.spec.model, device)
        return self.store.remove(self.spec.model, device)

    async def _delete(self) -> str:
        serves = self.ctx.services is not None and self.store.pool is Pool.MODELS
        serving = self.ctx.services.using(self.spec.model, self.spec.source_device) if serves else []  # type: ignore[union-attr]
        if serving and not self.spec.force:
            raise ModelOperationError("CONFLICT", f"{self.spec.model} is served by {', '.join(serving)} on this node:"
                                      " stop them first, or delete with force")  # fmt: skip
        devices = [self.spec.source_device] if self.spec.source_device else ["disk", "dram", *self.store.gpu_devices()]
        removed = [d for d in devices if await self._removed(d)]
        if self.spec.source_device and not removed:
            raise ModelOperationError("MODEL_NOT_FOUND", f"{self.spec.model} is not on {self.spec.source_device} of this node")
        return f"deleted {self.spec.model} from {', '.join(removed) or 'no device (it was on none)'}"

    async def _removed(self, device: str) -> bool:
        try:
            return await self._remove(device)
        except ModelOperationError:
            return False  # a device this node lacks holds nothing

    def _local_source(self, device: str) -> tuple[int, AsyncIterator[bytes]]:
        path = self.store.path(self.spec.model, device)
        if not path.is_file():
            raise ModelOperationError("MODEL_NOT_FOUND", f"{self.spec.model} is not on {device} of this node")
        if self.spec.verify_checksum:
            self._source_sha256 = self.store.sha256(self.spec.model, device)
        return path.stat().st_size, file_chunks(path)

    async def _download_source(self) -> tuple[int, AsyncIterator[bytes]]:
        url = self.spec.source_url
        if not url:
            if self.ctx.fetch_model is None:
                raise ModelOperationError("TASK_FAILED", "this agent cannot fetch models from the registry")
            # A chunk's bytes are staged with the controller under its item's name ("data/ID").
            name = self.spec.item if self.spec.pool is Pool.DATA else f"models/{self.spec.model}"
            fetched = await self.ctx.fetch_model(name)
            return fetched.stat().st_size, _consumed(fetched)
        parts = urlsplit(url)
        if parts.scheme.lower() == "file":
            return self._file_source(Path(unquote(parts.path)))
        return await self._http_source(url)

    def _file_source(self, path: Path) -> tuple[int, AsyncIterator[bytes]]:
        resolved = path.resolve()
        if self.store.data_dir.resolve() in resolved.parents:
            raise ModelOperationError("INVALID_REQUEST", f"{path} is inside the agent's own data directory; "
                                      "give a file elsewhere")  # fmt: skip
        if not resolved.is_file():
            raise ModelOperationError("MODEL_NOT_FOUND", f"no file at {path}")
        return resolved.stat().st_size, file_chunks(resolved)

    async def _http_source(self, url: str) -> tuple[int, AsyncIterator[bytes]]:
        import aiohttp

        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_connect=HTTP_TIMEOUT_SECONDS,
                                                                      sock_read=HTTP_TIMEOUT_SECONDS))  # fmt: skip
        self._closers.append(session.close)
        try:
            response = await session.get(url)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise ModelOperationError("NETWORK_ERROR", f"cannot fetch {url}: {exc or type(exc).__name__}") from None
        if response.status != 200:
            raise ModelOperationError("NETWORK_ERROR", f"{url} answered HTTP {response.status}")

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    yield chunk
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise ModelOperationError("NETWORK_ERROR", f"fetching {url} failed: {exc or type(exc).__name__}") from None

        return response.content_length if response.content_length is not None else -1, chunks()

    async def _peer_source(self) -> tuple[int, AsyncIterator[bytes]]:
        import grpc

        from aifarm.v1 import peer_service_pb2 as peer_pb
        from aifarm.v1 import peer_service_pb2_grpc

        source = self.peer_source
        if source is None or not source.address:
            raise ModelOperationError("NETWORK_ERROR", f"node {self.spec.source_node} is not online to read"
                                      f" {self.spec.model} from (or serves no models); the copy is retried")  # fmt: skip
        channel = grpc.aio.insecure_channel(source.address, options=[("grpc.max_receive_message_length", 16 << 20)])
        self._closers.append(channel.close)
        stub = peer_service_pb2_grpc.PeerServiceStub(channel)
        call = stub.ReadPeerModel(peer_pb.ReadPeerModelRequest(
            model=self.spec.model, device=self.spec.source_local_device, task_id=self.ctx.task_id,
            attempt=self.ctx.attempt, reader_node=self.ctx.node_id, ticket=source.ticket,
            pool=storage_pool(self.spec.pool),
        ))  # the reader paces (agent.models.transfer); HTTP/2 flow control holds the source to it  # fmt: skip
        try:
            first = await call.read()
        except grpc.aio.AioRpcError as exc:
            code = "MODEL_NOT_FOUND" if exc.code() is grpc.StatusCode.NOT_FOUND else "NETWORK_ERROR"
            raise ModelOperationError(code, f"node {self.spec.source_node} refused the read: {exc.details()}") from None
        if first is grpc.aio.EOF:
            raise ModelOperationError("NETWORK_ERROR", f"node {self.spec.source_node} sent nothing")
        self._source_sha256 = first.sha256

        async def chunks() -> AsyncIterator[bytes]:
            try:
                yield first.chunk
                while (piece := await call.read()) is not grpc.aio.EOF:
                    yield piece.chunk
            except grpc.aio.AioRpcError as exc:
                raise ModelOperationError("NETWORK_ERROR", f"reading from node {self.spec.source_node} failed:"
                                          f" {exc.details()}") from None  # fmt: skip

        return first.size_bytes, chunks()

    async def pause(self) -> None:
        """A transfer does not pause: it runs to the end or is cancelled."""

    async def resume(self) -> None:
        pass

    async def stop(self) -> None:
        await self.cancel()

    async def cancel(self) -> None:
        if self._work is not None and not self._work.done():
            self._work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._work


async def _consumed(path: Path) -> AsyncIterator[bytes]:
    """A fetched file's bytes, then the file removed (it was fetched for this operation only)."""
    try:
        async for chunk in file_chunks(path):
            yield chunk
    finally:
        path.unlink(missing_ok=True)


def _summary(what: str, model: str, device: str, arrival: Arrival) -> str:
    rate = arrival.size / arrival.seconds / 1e6 if arrival.seconds > 0 else 0.0
    return (f"{what} of {model} to {device} done: {arrival.size} bytes in {arrival.seconds:.2f} s"
            f" ({rate:.1f} MB/s), sha256 {arrival.sha256}")  # fmt: skip
