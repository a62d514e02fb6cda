"""Files that task attempts upload (checkpoints, outputs), and reading them back."""

from __future__ import annotations

import re
from typing import AsyncIterable, AsyncIterator

import structlog

from controller.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from controller.domain.task_book import TaskBook
from controller.domain.task_reports import TaskReports
from controller.domain.types import Artifact
from controller.store.blob_store import BlobStore

log = structlog.get_logger(__name__)

FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ArtifactShelf:
    def __init__(self, book: TaskBook, reports: TaskReports, blobs: BlobStore) -> None:
        self.book = book
        self.reports = reports
        self.blobs = blobs
        book.on_deleted.append(self.forget)

    async def upload(
        self, node_id: str, task_id: str, attempt: int, file_name: str, chunks: AsyncIterable[bytes]
    ) -> Artifact:
        if not FILE_NAME.match(file_name) or ".." in file_name:
            raise InvalidArgument(f"invalid artifact file name {file_name!r}")
        if self.book.placed(task_id, node_id, attempt) is None:
            raise FailedPrecondition(f"attempt {attempt} of task {task_id!r} is not running on this node")
        blob = await self.blobs.write(("artifacts", task_id, file_name), chunks)
        artifact = Artifact(task_id, file_name, attempt, blob.size_bytes, blob.sha256)
        if not await self.reports.add_artifact(node_id, artifact):
            raise FailedPrecondition(f"attempt {attempt} of task {task_id!r} ended during the upload")
        return artifact

    async def read(self, task_id: str, file_name: str) -> AsyncIterator[bytes]:
        task = await self.book.get(task_id)
        if not any(a.file_name == file_name for a in task.artifacts):
            raise NotFound(f"task {task_id!r} has no artifact {file_name!r}", reason="ARTIFACT_NOT_FOUND")
        return self.blobs.read("artifacts", task_id, file_name)

    def forget(self, task_id: str) -> None:
        """A deleted task's files go with it."""
        removed = self.blobs.delete_tree("artifacts", task_id)
        if removed:
            log.info("artifacts of a deleted task removed", task_id=task_id, files=removed)
