"""Rows of nodes. Liveness (each heartbeat) stays in memory; only coarse state is stored."""

from __future__ import annotations

import json
from dataclasses import asdict

import aiosqlite

from controller.domain.types import Capabilities, Gpu, Node, NodeState
from controller.store.db import Database


def _capabilities_from_json(text: str) -> Capabilities:
    raw = json.loads(text)
    raw["gpus"] = tuple(Gpu(**g) for g in raw.get("gpus", []))
    return Capabilities(**raw)


class NodeStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def upsert(self, conn: aiosqlite.Connection, node: Node) -> None:
        await conn.execute(
            "INSERT INTO nodes (id, hostname, state, capabilities, labels, agent_version, create_time, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET hostname=excluded.hostname, state=excluded.state,"
            " capabilities=excluded.capabilities, labels=excluded.labels,"
            " agent_version=excluded.agent_version, last_seen=excluded.last_seen",
            (
                node.id, node.hostname, node.state.value, json.dumps(asdict(node.capabilities)),
                json.dumps(node.labels), node.agent_version, node.create_time, node.last_seen,
            ),  # fmt: skip
        )

    async def set_state(self, conn: aiosqlite.Connection, node_id: str, state: NodeState, last_seen: float) -> None:
        await conn.execute("UPDATE nodes SET state=?, last_seen=? WHERE id=?", (state.value, last_seen, node_id))

    async def all(self) -> list[Node]:
        async with self.db.conn.execute("SELECT * FROM nodes ORDER BY id") as cur:
            return [
                Node(
                    id=row["id"],
                    hostname=row["hostname"],
                    state=NodeState(row["state"]),
                    capabilities=_capabilities_from_json(row["capabilities"]),
                    labels=json.loads(row["labels"]),
                    agent_version=row["agent_version"],
                    create_time=row["create_time"],
                    last_seen=row["last_seen"],
                )
                async for row in cur
            ]
