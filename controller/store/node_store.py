"""Rows of nodes. Liveness (each heartbeat) stays in memory; only coarse state is stored."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

import aiosqlite

from controller.domain.store import NodeStateChange
from controller.domain.types import Capabilities, CredentialKind, Gpu, Node, NodeCredential, NodeState


def _capabilities_from_json(text: str) -> Capabilities:
    raw = json.loads(text)
    raw["gpus"] = tuple(Gpu(**g) for g in raw.get("gpus", []))
    return Capabilities(**raw)


async def upsert(conn: aiosqlite.Connection, nodes: Sequence[Node]) -> None:
    await conn.executemany(
        "INSERT INTO nodes (id, hostname, state, capabilities, labels, agent_version, create_time, last_seen)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET hostname=excluded.hostname, state=excluded.state,"
        " capabilities=excluded.capabilities, labels=excluded.labels,"
        " agent_version=excluded.agent_version, last_seen=excluded.last_seen",
        [
            (n.id, n.hostname, n.state.value, json.dumps(asdict(n.capabilities)), json.dumps(n.labels),
             n.agent_version, n.create_time, n.last_seen)
            for n in nodes
        ],
    )  # fmt: skip


async def set_states(conn: aiosqlite.Connection, changes: Sequence[NodeStateChange]) -> None:
    await conn.executemany(
        "UPDATE nodes SET state=?, last_seen=? WHERE id=?", [(c.state.value, c.last_seen, c.node_id) for c in changes]
    )


async def all_nodes(conn: aiosqlite.Connection) -> list[Node]:
    rows = await conn.execute_fetchall("SELECT * FROM nodes ORDER BY id")
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
        for row in rows
    ]


async def insert_or_revoke_credentials(conn: aiosqlite.Connection, credentials: Sequence[NodeCredential]) -> None:
    """A new credential is inserted (a node id that has one is a unique-key Conflict); a revoked one replaces it."""
    new = [c for c in credentials if not c.revoke_time]
    revoked = [c for c in credentials if c.revoke_time]
    await conn.executemany(
        "INSERT INTO node_credentials (node_id, kind, digest, key, create_time, revoke_time) VALUES (?, ?, ?, ?, ?, ?)",
        [(c.node_id, c.kind.value, c.digest, c.key, c.create_time, c.revoke_time) for c in new],
    )
    await conn.executemany(
        "INSERT OR REPLACE INTO node_credentials (node_id, kind, digest, key, create_time, revoke_time)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(c.node_id, c.kind.value, c.digest, c.key, c.create_time, c.revoke_time) for c in revoked],
    )


async def all_credentials(conn: aiosqlite.Connection) -> list[NodeCredential]:
    rows = await conn.execute_fetchall(
        "SELECT node_id, kind, digest, key, create_time, revoke_time FROM node_credentials ORDER BY node_id"
    )
    return [NodeCredential(r[0], CredentialKind(r[1]), r[2], r[3], r[4], r[5]) for r in rows]
