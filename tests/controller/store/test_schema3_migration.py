"""A database written by the controller before schema 4 opens with today's code, its tasks unchanged.

Schema 3 stored a task's spec as the core proto's JSON and kept ShelbyCompute's
job fields in the user's labels. Migration 4 (a Python step) rewrites each spec
as the domain's own JSON and moves those fields to compat_metadata.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from google.protobuf import json_format

from aifarm.v1 import task_pb2
from controller.domain.store import TaskQuery
from controller.domain.types import Priority, Resources, TaskState
from controller.store.db import MIGRATIONS
from controller.store.sqlite_store import SqliteStore
from taskspec.script import ScriptSpec
from taskspec.training import SyntheticData, TrainingConfig, TrainingSpec

pytestmark = pytest.mark.asyncio(loop_scope="function")

SHELBY_LABELS = {"dataset_name": "cats", "dataset_url": "https://data.example/cats.zip", "dataset_hash": "ab" * 32,
                 "meta": '{"owner": "ana"}', "runtime_minutes_estimate": "30.0"}  # fmt: skip


def proto_json(message: object) -> str:
    """A spec as schema 3 stored it (controller/api/task_convert.py before b3d4a50)."""
    return json_format.MessageToJson(message, indent=None)  # type: ignore[arg-type]


def schema3_database(path: Path) -> None:
    """Run the first three migrations and insert rows as the schema-3 controller did."""
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:3]:
        assert isinstance(step, str), "the first three migrations are SQL"
        conn.executescript(step)
    conn.execute("PRAGMA user_version=3")
    rows = [
        ("script", "script", proto_json(task_pb2.ScriptSpec(source="print('hi')", entrypoint="hello.py",
                                                            env={"A": "1"}, args=["--x"])),
         {"team": "vision"}, "completed"),
        ("defaults", "script", proto_json(task_pb2.ScriptSpec(source="echo hi", interpreter="bash")), {}, "pending"),
        ("synthetic", "training", proto_json(task_pb2.TrainingSpec(
            architecture="cnn", epochs=3, synthetic=task_pb2.SyntheticDataset(samples=100, image_size=16))), {},
         "running"),
        ("on-dataset", "training", proto_json(task_pb2.TrainingSpec(
            architecture="mlp", epochs=2, batch_size=64, learning_rate=0.01, optimizer="sgd",
            validation_split=0.25, dataset="datasets/iris.csv")), {}, "failed"),
        ("shelby", "script", proto_json(task_pb2.ScriptSpec(entrypoint="main.py", env={"DATASET_NAME": "cats"})),
         SHELBY_LABELS, "pending"),
        ("shelby-like", "script", proto_json(task_pb2.ScriptSpec(source="x=1")), {"meta": "mine", "dataset_name": "d"},
         "pending"),
    ]  # fmt: skip
    for i, (task_id, kind, spec, labels, state) in enumerate(rows):
        running = state == "running"
        conn.execute(
            "INSERT INTO tasks (id, request_id, display_name, kind, spec, resources, priority, depends_on,"
            " time_limit_seconds, max_retries, labels, state, state_reason, attempt, failures, node_id, gpu_indices,"
            " progress, metrics, exit_code, output_sha256, error, create_time, start_time, end_time, update_time,"
            " concurrency_group, output_model, held)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, f"req-{task_id}", task_id.title(), kind, spec,
             json.dumps({"gpus": 1, "gpu_memory_mb": 0, "cpu_cores": 2.0, "memory_mb": 512}), 3, "[]", 0, 1,
             json.dumps(labels), state, "", 1 if running else 0, 0, "n1" if running else "", "[0]" if running else "[]",
             0.5, '{"loss": 0.5}', 0, "", "", 1000.0 + i, 0.0, 0.0, 1000.0 + i, "", "", int(task_id == "shelby")),
        )  # fmt: skip
    conn.commit()
    conn.close()


@pytest.fixture
def old_database(tmp_path: Path) -> Path:
    path = tmp_path / "controller.db"
    schema3_database(path)
    return path


async def test_specs_read_back_as_the_same_domain_specs(old_database: Path) -> None:
    store = await SqliteStore.open(old_database)
    try:
        script = await store.get_task("script")
        assert script.spec == ScriptSpec(source="print('hi')", entrypoint="hello.py", env={"A": "1"}, args=("--x",))
        assert (await store.get_task("defaults")).spec == ScriptSpec(source="echo hi", interpreter="bash")
        assert (await store.get_task("synthetic")).spec == TrainingSpec(
            TrainingConfig(architecture="cnn", epochs=3), synthetic=SyntheticData(samples=100, image_size=16))
        assert (await store.get_task("on-dataset")).spec == TrainingSpec(
            TrainingConfig(architecture="mlp", epochs=2, batch_size=64, learning_rate=0.01, optimizer="sgd",
                           validation_split=0.25), dataset="iris.csv")  # fmt: skip
    finally:
        await store.close()


async def test_training_defaults_are_applied(old_database: Path) -> None:
    store = await SqliteStore.open(old_database)
    try:
        config = (await store.get_task("synthetic")).spec.config
        assert (config.batch_size, config.learning_rate, config.optimizer) == (32, 0.001, "adam")
        assert (config.loss_function, config.validation_split, config.device) == ("cross_entropy", 0.2, "auto")
        assert (await store.get_task("synthetic")).spec.synthetic == SyntheticData(
            samples=100, features=16, classes=4, image_size=16, channels=3)
    finally:
        await store.close()


async def test_shelby_fields_move_from_labels_to_compat_metadata(old_database: Path) -> None:
    store = await SqliteStore.open(old_database)
    try:
        shelby = await store.get_task("shelby")
        assert dict(shelby.labels) == {} and dict(shelby.compat_metadata) == SHELBY_LABELS
        assert shelby.held and shelby.spec == ScriptSpec(source="", env={"DATASET_NAME": "cats"})
        script = await store.get_task("script")
        assert (dict(script.labels), dict(script.compat_metadata)) == ({"team": "vision"}, {})
        other = await store.get_task("shelby-like")
        assert dict(other.labels) == {"meta": "mine", "dataset_name": "d"}, "a user's own labels stay labels"
        assert dict(other.compat_metadata) == {}
    finally:
        await store.close()


async def test_the_rest_of_each_task_is_unchanged_and_the_domain_can_use_it(old_database: Path) -> None:
    store = await SqliteStore.open(old_database)
    try:
        running = await store.get_task("synthetic")
        assert (running.state, running.node_id, running.attempt, running.gpu_indices) == (
            TaskState.RUNNING, "n1", 1, (0,))  # fmt: skip
        assert (running.resources, running.priority, running.max_retries) == (
            Resources(gpus=1, cpu_cores=2.0, memory_mb=512), Priority.HIGH, 1)  # fmt: skip
        assert (running.request_id, running.display_name, dict(running.metrics)) == (
            "req-synthetic", "Synthetic", {"loss": 0.5})  # fmt: skip
        assert not running.stopping
        assert [t.id for t in await store.active_tasks()] == ["defaults", "synthetic", "shelby", "shelby-like"]
        page = await store.list_tasks(TaskQuery())
        assert page.total == 6 and page.tasks[-1].spec == ScriptSpec(
            source="", entrypoint="hello.py", env={}, args=("--x",)), "summary rows work on migrated specs"  # fmt: skip
    finally:
        await store.close()


async def test_a_migrated_database_opens_again_unchanged(old_database: Path) -> None:
    store = await SqliteStore.open(old_database)
    first = await store.list_tasks(TaskQuery(summary=False))
    await store.close()
    store = await SqliteStore.open(old_database)
    try:
        assert await store.list_tasks(TaskQuery(summary=False)) == first, "migration 4 ran once"
    finally:
        await store.close()
