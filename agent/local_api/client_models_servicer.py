"""gswarm's client API (seeds/002, Model Operations APIs) on one node: its models and resources, and
downloads, moves, copies and deletions queued as the farm's tasks, pinned to their node.

Queued operations answer at once with gswarm's `{task_id, status, position, estimated_time}`; a
deletion waits for its task, so its answer says what happened.
"""

from __future__ import annotations

import asyncio
import re
import shutil

import grpc
from google.protobuf import json_format, struct_pb2

from agent.capabilities import HostProbe
from agent.local_api.arguments import checked, invalid, priority, task_id
from agent.local_api.farm_calls import FarmCalls
from agent.local_api.status import LocalApiError, maps_errors
from agent.models.errors import ModelOperationError
from agent.models.local_store import LocalModelStore
from agent.serving.services import ServiceBook
from aifarm.compat.gswarm.v1 import client_model_service_pb2 as pb
from aifarm.compat.gswarm.v1 import client_model_service_pb2_grpc
from aifarm.compat.gswarm.v1 import host_model_service_pb2 as host_pb
from aifarm.v1 import model_service_pb2, node_pb2, task_pb2, task_service_pb2
from taskspec.model_operation import check_device, check_model_name, split_node_device

#: A transfer's expected rate when the node has measured none yet (bytes per second).
NOMINAL_RATE = 100e6
#: How long a deletion's answer waits for its task.
DELETE_WAIT_SECONDS = 120.0
_TERMINAL = (task_pb2.TASK_STATE_COMPLETED, task_pb2.TASK_STATE_FAILED, task_pb2.TASK_STATE_CANCELLED)


@maps_errors
class ClientModelServicer(client_model_service_pb2_grpc.ClientModelServiceServicer):
    def __init__(self, farm: FarmCalls, store: LocalModelStore, probe: HostProbe, services: ServiceBook) -> None:
        self.farm = farm
        self.store = store
        self.probe = probe
        self.services = services
        self.node_id = farm.node_id

    async def ListLocalModels(self, request: pb.ListLocalModelsRequest, context: grpc.aio.ServicerContext) -> pb.LocalModels:
        await self.farm.admit(context)
        held = await asyncio.to_thread(self.store.held)
        return pb.LocalModels(models=[pb.LocalModel(model_name=h.model, device=h.device, size=h.size, sha256=h.sha256,
                                                    status="serving" if self.services.using(h.model, h.device)
                                                    else "available") for h in held])  # fmt: skip

    async def DownloadModel(self, request: pb.DownloadModelRequest, context: grpc.aio.ServicerContext) -> pb.QueuedOperation:
        await self.farm.admit(context)
        target = self._local_device(request.target_device or "disk", "target_device")
        spec = task_pb2.ModelOperationSpec(operation=task_pb2.MODEL_OPERATION_DOWNLOAD, model=request.model_name,
                                           source_url=request.source_url, target_device=target,
                                           verify_checksum=request.verify_checksum)  # fmt: skip
        return await self._queue("download", spec, self.node_id, request.priority, request.dependencies, context)

    async def MoveModel(self, request: pb.MoveModelRequest, context: grpc.aio.ServicerContext) -> pb.QueuedOperation:
        await self.farm.admit(context)
        if request.compression not in ("", "none"):
            raise LocalApiError(grpc.StatusCode.UNIMPLEMENTED, f"compression {request.compression!r} is not built:"
                                " bytes move as they are (\"none\")", "NOT_IMPLEMENTED")  # fmt: skip
        source = self._local_device(request.source_device, "source_device")
        target = self._local_device(request.target_device, "target_device")
        if not self.store.has(request.model_name, source):
            raise LocalApiError(grpc.StatusCode.NOT_FOUND, f"model {request.model_name!r} is not on {source} of node"
                                f" {self.node_id}", "MODEL_NOT_FOUND")  # fmt: skip
        spec = task_pb2.ModelOperationSpec(operation=task_pb2.MODEL_OPERATION_MOVE, model=request.model_name,
                                           source_device=source, target_device=target, keep_source=request.keep_source,
                                           verify_checksum=request.verify_checksum)  # fmt: skip
        return await self._queue("move", spec, self.node_id, request.priority, request.dependencies, context)

    async def CopyModel(self, request: pb.CopyModelRequest, context: grpc.aio.ServicerContext) -> pb.QueuedOperation:
        await self.farm.admit(context)
        checked(split_node_device, request.source_device, "source_device")
        target_node, target_device = checked(split_node_device, request.target_device, "target_device")
        if request.bandwidth_limit < 0:
            raise invalid("bandwidth_limit must be a number of bytes per second, or 0 for none")
        spec = task_pb2.ModelOperationSpec(operation=task_pb2.MODEL_OPERATION_COPY, model=request.model_name,
                                           source_device=request.source_device, target_device=target_device,
                                           verify_checksum=True, bandwidth_limit=request.bandwidth_limit)  # fmt: skip
        return await self._queue("copy", spec, target_node, request.priority, request.dependencies, context,
                                 rate=request.bandwidth_limit)  # fmt: skip

    async def DeleteLocalModel(self, request: pb.DeleteLocalModelRequest, context: grpc.aio.ServicerContext) -> host_pb.ActionResponse:
        await self.farm.admit(context)
        model = checked(check_model_name, request.model_name)
        devices = [self._local_device(request.device, "device")] if request.device else \
            ["disk", "dram", *self.store.gpu_devices()]
        if not any(self._holds(model, d) for d in devices):
            where = request.device or "any device"
            raise LocalApiError(grpc.StatusCode.NOT_FOUND, f"model {model!r} is not on {where} of node {self.node_id}",
                                "MODEL_NOT_FOUND")  # fmt: skip
        await self._stop_services(model, request.device, request.force, context)
        spec = task_pb2.ModelOperationSpec(operation=task_pb2.MODEL_OPERATION_DELETE, model=model,
                                           source_device=request.device, force=request.force)  # fmt: skip
        queued = await self._queue("delete", spec, self.node_id, "high", (), context)
        task = await self._ended(queued.task_id, context)
        if task.state != task_pb2.TASK_STATE_COMPLETED:
            error = task.result.error or task.state_reason
            code, _, message = error.partition(": ") if re.match(r"^[A-Z_]+: ", error) else ("TASK_FAILED", "", error)
            raise ModelOperationError(code, message)
        data = struct_pb2.Struct()
        data.update({"task_id": queued.task_id, "model_name": model, "node": self.node_id,
                     "device": request.device or "all"})  # fmt: skip
        return host_pb.ActionResponse(success=True, message=f"model {model} deleted from {request.device or 'every device'}"
                                      f" of node {self.node_id}", data=data)  # fmt: skip

    async def GetResources(self, request: pb.GetResourcesRequest, context: grpc.aio.ServicerContext) -> pb.NodeResources:
        await self.farm.admit(context)
        usage: node_pb2.NodeUsage = await asyncio.to_thread(self.probe.usage)
        capabilities: node_pb2.Capabilities = self.probe.capabilities()
        disk = await asyncio.to_thread(_disk_figures, self.store)
        total_mem = capabilities.memory_mb * 2**20
        # Models in DRAM live in shared memory, which the kernel counts as cache, not as used: added here.
        in_dram = await asyncio.to_thread(self.store.bytes_on, "dram")
        used_mem = min(usage.memory_used_mb * 2**20 + in_dram, total_mem)
        storage = {"disk": disk, "dram": pb.StorageFigures(total=total_mem, used=used_mem, available=total_mem - used_mem)}
        compute: dict[str, object] = {"cpu": {"cores": capabilities.cpu_cores, "usage": round(usage.cpu_percent, 1)}}
        gpu_usage = {g.index: g for g in usage.gpus}
        for gpu in capabilities.gpus:
            used = gpu_usage[gpu.index].memory_used_mb * 2**20 if gpu.index in gpu_usage else 0
            total = gpu.memory_mb * 2**20
            storage[f"gpu{gpu.index}"] = pb.StorageFigures(total=total, used=used, available=max(total - used, 0))
            figures = gpu_usage.get(gpu.index)
            compute[f"gpu{gpu.index}"] = {"usage": round(figures.utilization_percent, 1) if figures else 0.0,
                                          "temperature": figures.temperature_c if figures else 0.0}  # fmt: skip
        answer = pb.NodeResources(storage=storage)
        json_format.ParseDict(compute, answer.compute)
        return answer

    async def _stop_services(self, model: str, device: str, force: bool, context: grpc.aio.ServicerContext) -> None:
        """A model a service of this node serves is not deleted from under it: CONFLICT, unless `force`,
        which stops those services first."""
        serving = self.services.using(model, device)
        if serving and not force:
            raise LocalApiError(grpc.StatusCode.FAILED_PRECONDITION, f"model {model!r} is served by"
                                f" {', '.join(serving)} on this node: stop them, or delete with force=true",
                                "CONFLICT")  # fmt: skip
        for service_id in serving:
            await self.farm.tasks.CancelTask(task_service_pb2.CancelTaskRequest(name=f"tasks/{service_id}"),
                                             metadata=self.farm.metadata(context))  # fmt: skip

    def _local_device(self, device: str, what: str) -> str:
        checked(check_device, device, what)
        self.store.root(device)  # RESOURCE_UNAVAILABLE for a device this node lacks (a GPU it has not)
        return device

    def _holds(self, model: str, device: str) -> bool:
        try:
            return self.store.has(model, device)
        except ModelOperationError:
            return False

    async def _queue(self, operation: str, spec: task_pb2.ModelOperationSpec, node: str, priority_name: str,
                     dependencies, context: grpc.aio.ServicerContext, *, rate: float = 0.0) -> pb.QueuedOperation:  # fmt: skip
        checked(check_model_name, spec.model)
        metadata = self.farm.metadata(context)
        task = task_pb2.Task(
            display_name=f"{operation} {spec.model}", model_operation=spec, priority=priority(priority_name),
            resources=node_pb2.Resources(node=node, cpu_cores=1), depends_on=[f"tasks/{d.removeprefix('tasks/')}"
                                                                             for d in dependencies],
            labels={"gswarm.task_type": operation},
        )  # fmt: skip
        created = await self.farm.tasks.CreateTask(
            task_service_pb2.CreateTaskRequest(task=task, task_id=task_id(operation, spec.model)), metadata=metadata
        )
        position = await self._position(created, metadata)
        model = await self.farm.models.GetModel(model_service_pb2.GetModelRequest(name=f"models/{spec.model}"),
                                                metadata=metadata)  # fmt: skip
        estimate = model.size_bytes / (rate or NOMINAL_RATE) if operation != "delete" else 0.0
        return pb.QueuedOperation(task_id=created.name.removeprefix("tasks/"), status="queued", position=position,
                                  estimated_time=round(estimate, 1))  # fmt: skip

    async def _position(self, task: task_pb2.Task, metadata) -> int:  # type: ignore[no-untyped-def]
        """How many pending tasks the queue places before this one (higher priority, or as high and older)."""
        pending = await self.farm.tasks.ListTasks(task_service_pb2.ListTasksRequest(
            states=[task_pb2.TASK_STATE_PENDING], page_size=1000), metadata=metadata)  # fmt: skip
        mine = (task.priority, -task.create_time.ToNanoseconds())
        return sum(1 for t in pending.tasks
                   if t.name != task.name and (t.priority, -t.create_time.ToNanoseconds()) > mine)  # fmt: skip

    async def _ended(self, task_id: str, context: grpc.aio.ServicerContext) -> task_pb2.Task:
        metadata = self.farm.metadata(context)
        deadline = asyncio.get_running_loop().time() + DELETE_WAIT_SECONDS
        while True:
            task = await self.farm.tasks.GetTask(task_service_pb2.GetTaskRequest(name=f"tasks/{task_id}"), metadata=metadata)
            if task.state in _TERMINAL:
                return task
            if asyncio.get_running_loop().time() > deadline:
                raise LocalApiError(grpc.StatusCode.DEADLINE_EXCEEDED, f"the deletion (task {task_id}) has not ended"
                                    f" after {DELETE_WAIT_SECONDS:.0f} s; see /api/v1/queue/tasks/{task_id}",
                                    "TASK_FAILED")  # fmt: skip
            await asyncio.sleep(0.05)


def _disk_figures(store: LocalModelStore) -> pb.StorageFigures:
    usage = shutil.disk_usage(store.root("disk"))
    return pb.StorageFigures(total=usage.total, used=usage.used, available=usage.free)
