"""AI Factory client groups and observers in SQLite (schema 17): one row each, written whole."""

from __future__ import annotations

import json
from collections.abc import Sequence

from controller.domain.client_groups import ClientGroup, GroupState, Observer
from controller.store.db import Database

_COLUMNS = ("benchmark_id, num_clients, time_limit_minutes, server_addr, created_at, job_id, state, state_reason,"
            " client_addresses, figures")  # fmt: skip


def _group(row: Sequence) -> ClientGroup:
    return ClientGroup(benchmark_id=row[0], num_clients=row[1], time_limit_minutes=row[2], server_addr=row[3],
                       created_at=row[4], job_id=row[5], state=GroupState(row[6]), state_reason=row[7],
                       client_addresses=tuple(json.loads(row[8])), figures=json.loads(row[9]))  # fmt: skip


class SqliteClientGroupStore:
    """Implements controller.domain.client_groups.ClientGroupStore."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def put_group(self, group: ClientGroup) -> None:
        async with self.db.write() as conn:
            await conn.execute(f"INSERT OR REPLACE INTO client_groups ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", (
                group.benchmark_id, group.num_clients, group.time_limit_minutes, group.server_addr, group.created_at,
                group.job_id, group.state.value, group.state_reason, json.dumps(list(group.client_addresses)),
                json.dumps({k: dict(v) for k, v in group.figures.items()})))  # fmt: skip

    async def delete_group(self, benchmark_id: int) -> None:
        async with self.db.write() as conn:
            await conn.execute("DELETE FROM client_groups WHERE benchmark_id = ?", (benchmark_id,))

    async def groups(self) -> list[ClientGroup]:
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall(f"SELECT {_COLUMNS} FROM client_groups ORDER BY created_at, benchmark_id")
        return [_group(r) for r in rows]

    async def put_observer(self, observer: Observer) -> None:
        async with self.db.write() as conn:
            # An upsert, not a replace: an observer keeps its place in the order they were added.
            await conn.execute("INSERT INTO client_observers (key, ip_address, port, update_preferences) VALUES (?,?,?,?)"
                               " ON CONFLICT(key) DO UPDATE SET update_preferences = excluded.update_preferences",
                               (observer.key, observer.ip_address, observer.port,
                                json.dumps(dict(observer.update_preferences))))  # fmt: skip

    async def observers(self) -> list[Observer]:
        async with self.db.read() as conn:
            rows = await conn.execute_fetchall("SELECT ip_address, port, update_preferences FROM client_observers"
                                               " ORDER BY rowid")  # fmt: skip
        return [Observer(r[0], r[1], json.loads(r[2])) for r in rows]
