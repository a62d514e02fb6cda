"""ShelbyCompute (seeds/003): every documented endpoint and every documented error, through the
Python gateway and Envoy in front of one farm, with the same status and JSON from both.

A read of one job or list must be identical from both doors; a call that makes or changes
something is made once per door on that door's own job or node, and the two answers are compared
with each door's ids replaced by a placeholder and times compared by type. Errors are exactly
`{"detail": "<non-empty string>"}` (the document's "Error Responses") and the same from both.
Jobs are scripts of a few lines. The agent endpoints run last, with the farm's streaming agent
stopped (SIGSTOP) so that the polling agents get every job.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import signal
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from both_doors import (
    NUMBER,
    OPTIONAL_NUMBER,
    OPTIONAL_STR,
    PARSER_WORDS,
    Answer,
    Doors,
    EnvoyDifference,
    Normaliser,
    assert_difference,
    assert_error,
    assert_ok,
    assert_same,
    assert_shape,
    label,
)
from conftest import MAX_BODY_BYTES, Door, Farm
from farm_processes import AGENT_TOKEN, wait_for

pytestmark = pytest.mark.slow

SCRIPT = "print('epoch 1/2', flush=True)\nprint('epoch 2/2', flush=True)\nopen('model.bin', 'wb').write(b'w' * 64)\n"
#: The document's job statuses (plus failed, for failed runs): nothing else may appear.
STATUSES = {"pending", "assigned", "finished", "failed"}
#: Values that change between two calls: compared by type only.
TIMES = frozenset({"createdAt", "startedAt", "finishedAt", "duration", "timestamp", "lastSeen", "lastSeenAgo",
                   "cpuUsage", "ramUsage"})  # fmt: skip
OPTIONAL_INT = (int, type(None))

# The document's shapes (keys and types).
JOB = {"jobId": str, "status": str, "datasetName": str, "datasetUrl": str, "meta": dict, "createdAt": int,
       "assignedNode": OPTIONAL_STR, "startedAt": OPTIONAL_INT, "finishedAt": OPTIONAL_INT,
       "duration": OPTIONAL_NUMBER, "modelHash": OPTIONAL_STR, "metadata": dict}  # fmt: skip
LOG = {"line": str, "timestamp": int}
JOB_DETAIL = {**JOB, "logs": [LOG], "provenance": [dict]}
JOBS = {"jobs": [JOB], "count": int}
LOGS = {"jobId": str, "logs": [LOG]}
JOB_STATS = {"pending": int, "assigned": int, "finished": int, "total": int}
DASHBOARD = {"jobStats": JOB_STATS, "activeNodes": int, "recentJobs": [dict], "timestamp": int}
HEALTH = {"status": str, "database": str, "activeNodes": int,
          "jobQueue": {"pending": int, "running": int, "completed": int}, "timestamp": int}  # fmt: skip
NODE = {"nodeId": str, "status": str, "lastSeen": NUMBER, "lastSeenAgo": NUMBER,
        "specs": {"cpuUsage": NUMBER, "ramUsage": NUMBER, "totalRAM_GB": NUMBER, "os": str, "platform": str}}  # fmt: skip
NODES = {"nodes": [NODE], "count": int}
POLLED = {"jobId": str, "datasetName": str, "datasetUrl": str}
FETCHED = {"script": str, "requirements": str, "entrypoint": str}

#: What Envoy cannot do like the gateway; each is asserted, so the list cannot grow unnoticed.
#: Besides these, only the words of a door's own parser error differ (PARSER_WORDS, marked in ERRORS).
ENVOY_DIFFERENCES = [
    EnvoyDifference("GET", "/docs", 200, 404, "Envoy serves only the transcoded API: the pages are the gateway's"),
    EnvoyDifference("GET", "/redoc", 200, 404, "as /docs"),
]


@dataclass(frozen=True)
class World:
    """What the read cases read: a finished job and a job still waiting for its script."""

    finished: str
    held: str

    def fill(self, path: str) -> str:
        return path.format(finished=self.finished, held=self.held)


@pytest.fixture(scope="module")
def doors(both_doors: Doors) -> Doors:
    return both_doors


@pytest.fixture(scope="module")
def world(doors: Doors) -> World:
    finished = _create(doors.gateway, jobId=f"job-{uuid.uuid4().hex[:8]}", datasetHash="abc",
                       meta={"description": "Custom training job"})  # fmt: skip
    _upload(doors.gateway, finished)
    assert _wait(doors.gateway, finished, "finished", "failed")["status"] == "finished"
    return World(finished, _create(doors.gateway))


def _ok(reply: Any) -> Any:
    assert reply.status_code == 200, reply.text
    return reply.json()


def _create(door: Door, **body: Any) -> str:
    body = {"datasetName": "MNIST Dataset", "datasetUrl": "https://example.com/mnist", **body}
    return _ok(door.call("POST", "/api/jobs/create", json=body))["jobId"]


def _upload(door: Door, job_id: str, script: str = SCRIPT) -> dict:
    return _ok(door.call("POST", "/api/jobs/upload-script", json={"jobId": job_id, "script": script}))


def _job(door: Door, job_id: str) -> dict:
    return _ok(door.call("GET", f"/api/frontend/jobs/{job_id}"))


def _wait(door: Door, job_id: str, *statuses: str, timeout: float = 60) -> dict:
    return wait_for(lambda: (j := _job(door, job_id))["status"] in statuses and j, timeout=timeout, interval=0.1,
                    what=f"job {job_id} to be {'/'.join(statuses)}")  # fmt: skip


def _ids(**pairs: list[str]) -> dict[str, str]:
    return {real: f"<{name}>" for name, reals in pairs.items() for real in reals}


def _statuses_are_documented(body: Any) -> None:
    for job in body.get("jobs", []) + body.get("recentJobs", []) + ([body] if "status" in body and "jobId" in body else []):
        assert job["status"] in STATUSES, job


# --- every documented read, the same through both doors --------------------------------------

READS = [
    ("/api/frontend/dashboard", {}, DASHBOARD),
    ("/api/frontend/system/health", {}, HEALTH),
    ("/api/frontend/jobs", {}, JOBS),
    ("/api/frontend/jobs", {"status": "finished", "limit": 1000}, JOBS),
    ("/api/frontend/jobs", {"status": "pending"}, JOBS),
    ("/api/frontend/jobs", {"status": "assigned"}, JOBS),
    ("/api/frontend/jobs", {"status": "failed"}, JOBS),
    ("/api/frontend/jobs", {"limit": 1}, JOBS),
    ("/api/frontend/jobs/{finished}", {}, JOB_DETAIL),
    ("/api/frontend/jobs/{held}", {}, JOB_DETAIL),
    ("/api/frontend/logs/{finished}", {}, LOGS),
    ("/api/frontend/logs/{finished}", {"limit": 2}, LOGS),
    ("/api/frontend/nodes", {}, NODES),
]


@pytest.mark.parametrize(("path", "params", "shape"), READS, ids=[label("GET", p, str(q or "")) for p, q, _ in READS])
def test_a_documented_read_is_the_same_through_both_doors(doors: Doors, world: World, path: str, params: dict,
                                                         shape: Any) -> None:  # fmt: skip
    answers = doors.ask("GET", world.fill(path), params=params)
    assert_ok(answers)
    assert_same(answers, Normaliser(TIMES if "jobs/" not in path and "logs/" not in path else frozenset()))
    body = answers[0].body
    assert_shape(body, shape)
    _statuses_are_documented(body)
    if "status" in params:
        assert all(j["status"] == params["status"] for j in body["jobs"]) and body["count"] == len(body["jobs"])
    if params.get("limit") == 1:
        assert body["count"] == 1
    if path.startswith("/api/frontend/logs/") and "limit" in params:
        everything = _ok(doors.envoy.call("GET", world.fill(path)))["logs"]
        assert body["logs"] == everything[-2:] and len(everything) > 2
    if path == "/api/frontend/dashboard":
        assert set(body["jobStats"]) <= STATUSES | {"total"}, body["jobStats"]  # issue 11, engineer C
        assert body["jobStats"]["total"] == sum(v for k, v in body["jobStats"].items() if k != "total")


def test_the_finished_job_reads_as_the_document_says(doors: Doors, world: World) -> None:
    detail = _job(doors.envoy, world.finished)
    assert detail["status"] == "finished" and detail["meta"] == {"description": "Custom training job"}
    assert detail["modelHash"] and detail["metadata"]["exitCode"] == 0 and detail["finishedAt"] >= detail["startedAt"]
    assert [e["line"] for e in detail["logs"] if e["line"].startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    finished = _ok(doors.envoy.call("GET", "/api/frontend/jobs", params={"status": "finished", "limit": 1000}))
    assert world.finished in [j["jobId"] for j in finished["jobs"]]
    held = _job(doors.envoy, world.held)
    assert held["status"] == "pending" and held["assignedNode"] is None and held["modelHash"] is None


# --- every documented call that makes or changes something, once per door --------------------


def test_create_upload_run_restart_and_delete_answer_the_same_through_both_doors(doors: Doors) -> None:
    job_ids = [f"job-{door.name}-{uuid.uuid4().hex[:6]}" for door in doors]
    ids = _ids(job=job_ids)
    body = {"datasetName": "My Dataset", "datasetUrl": "https://example.com/dataset", "datasetHash": "h",
            "runtimeMinutesEstimate": 30, "meta": {"description": "Custom training job"}}  # fmt: skip
    creates = tuple(Answer.of(d.name, d.call("POST", "/api/jobs/create", json={"jobId": j, **body}))
                    for d, j in zip(doors, job_ids))  # fmt: skip
    assert_ok(creates)
    created = assert_same(creates, Normaliser(ids=ids))
    assert created["jobId"] == "<job>" and created["status"] == "pending"
    uploads = tuple(Answer.of(d.name, d.call("POST", "/api/jobs/upload-script",
                                             json={"jobId": j, "script": SCRIPT, "requirements": "", "entrypoint": "train.py"}))
                    for d, j in zip(doors, job_ids))  # fmt: skip
    assert_ok(uploads)
    assert assert_same(uploads, Normaliser(ids=ids))["scriptHash"] == hashlib.sha256(SCRIPT.encode()).hexdigest()
    for door, job_id in zip(doors, job_ids):
        assert _wait(door, job_id, "finished", "failed")["status"] == "finished"
    details = tuple(Answer.of(d.name, d.call("GET", f"/api/frontend/jobs/{j}")) for d, j in zip(doors, job_ids))
    detail = assert_same(details, Normaliser(TIMES, ids))
    assert_shape(details[0].body, JOB_DETAIL)
    assert detail["status"] == "finished" and detail["datasetName"] == "My Dataset"
    restarts = tuple(Answer.of(d.name, d.call("POST", f"/api/frontend/jobs/{j}/restart")) for d, j in zip(doors, job_ids))
    assert_ok(restarts)
    assert assert_same(restarts, Normaliser(ids=ids))["status"] == "pending"
    for door, job_id in zip(doors, job_ids):
        assert _wait(door, job_id, "finished", "failed")["metadata"]["attempt"] == 2
    deletes = tuple(Answer.of(d.name, d.call("DELETE", f"/api/frontend/jobs/{j}")) for d, j in zip(doors, job_ids))
    assert_ok(deletes)
    assert assert_same(deletes, Normaliser(ids=ids))["success"] is True
    for job_id in job_ids:
        gone = doors.ask("GET", f"/api/frontend/jobs/{job_id}")
        assert_error(gone, 404)
        assert_same(gone)


def test_a_job_without_an_id_gets_one_the_same_way_through_both_doors(doors: Doors) -> None:
    """The document's frontend example: create with only a dataset name and URL."""
    creates = tuple(Answer.of(d.name, d.call("POST", "/api/jobs/create",
                                             json={"datasetName": "My Dataset", "datasetUrl": "https://example.com/data"}))
                    for d in doors)  # fmt: skip
    assert_ok(creates)
    job_ids = [a.body["jobId"] for a in creates]
    assert all(j.startswith("job-") for j in job_ids) and job_ids[0] != job_ids[1]
    assert_same(creates, Normaliser(ids=_ids(job=job_ids)))
    for door, job_id in zip(doors, job_ids):
        _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_unknown_fields_in_a_body_are_ignored_by_both_doors(doors: Doors) -> None:
    """Issue 11 (engineer A): as Envoy's transcoder and grpc-gateway do."""
    answers = doors.ask("POST", "/api/jobs/create", json={"datasetName": "x", "dataset": "x", "extra": {"a": 1}})
    for answer in answers:
        if answer.status == 200:
            doors.gateway.call("DELETE", f"/api/frontend/jobs/{answer.body['jobId']}")
    assert_ok(answers)


# --- every documented error, the same request through both doors ----------------------------

USER_ROUTES = [
    ("GET", "/api/frontend/dashboard"), ("GET", "/api/frontend/system/health"), ("GET", "/api/frontend/jobs"),
    ("GET", "/api/frontend/jobs/j"), ("DELETE", "/api/frontend/jobs/j"), ("POST", "/api/frontend/jobs/j/restart"),
    ("GET", "/api/frontend/nodes"), ("GET", "/api/frontend/logs/j"), ("POST", "/api/jobs/create"),
    ("POST", "/api/jobs/upload-script"),
]  # fmt: skip
AGENT_ROUTES = [
    ("POST", "/api/nodes/register"), ("POST", "/api/nodes/heartbeat"), ("GET", "/api/jobs/poll?nodeId=n"),
    ("POST", "/api/jobs/ack"), ("GET", "/api/jobs/fetch-script?jobId=j&nodeId=n"), ("POST", "/api/jobs/finish"),
    ("POST", "/api/jobs/stream-log"), ("POST", "/api/usage-report"),
]  # fmt: skip
AUTH_CASES = [(m, p, k, 401) for m, p in USER_ROUTES + AGENT_ROUTES for k in (None, "wrong-key")] + [
    (m, p, AGENT_TOKEN, 403) for m, p in USER_ROUTES  # an agent is not a user
] + [(m, p, "test-api-key", 403) for m, p in AGENT_ROUTES]  # and a user is not an agent  # fmt: skip


@pytest.mark.parametrize(("method", "path", "key", "status"), AUTH_CASES,
                         ids=[label(m, p, f"{s} {k or 'no key'}") for m, p, k, s in AUTH_CASES])  # fmt: skip
def test_a_refused_caller_gets_the_same_error_through_both_doors(doors: Doors, method: str, path: str,
                                                                key: str | None, status: int) -> None:  # fmt: skip
    answers = doors.ask(method, path, key=key, json={} if method == "POST" else None)
    assert_error(answers, status)
    assert_same(answers)


def test_401_comes_before_the_body_is_read(doors: Doors) -> None:
    """A malformed body without a key is refused for the key (issue 11, engineer A)."""
    answers = doors.ask("POST", "/api/jobs/create", key=None, data=b"{not json",
                        headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error(answers, 401)
    assert_same(answers)


# (method, path, JSON body or raw bytes or None, status, words the detail must hold; None: the
# door's parser speaks, in words of its own: PARSER_WORDS)
ERRORS = [
    ("POST", "/api/jobs/create", b"{not json", 422, None),
    ("POST", "/api/jobs/create", {"datasetUrl": "https://x"}, 422, "datasetName"),
    ("POST", "/api/jobs/create", {"jobId": "../evil", "datasetName": "x"}, 422, "invalid"),
    ("POST", "/api/jobs/create", {"datasetName": "x", "runtimeMinutesEstimate": -1}, 422, "runtimeMinutesEstimate"),
    ("POST", "/api/jobs/create", {"datasetName": 5, "meta": "no"}, 422, None),
    ("POST", "/api/jobs/create", {"jobId": "{finished}", "datasetName": "x"}, 400, "already exists"),
    ("POST", "/api/jobs/create", {"datasetName": "#" * (MAX_BODY_BYTES + 1024)}, 413, ""),
    ("POST", "/api/jobs/upload-script", b"{not json", 422, None),
    ("POST", "/api/jobs/upload-script", {"jobId": "{held}"}, 422, "script"),
    ("POST", "/api/jobs/upload-script", {"jobId": "{held}", "script": "x", "entrypoint": "../x.py"}, 422, "entrypoint"),
    ("POST", "/api/jobs/upload-script", {"jobId": "{held}", "script": "x", "entrypoint": "x.txt"}, 422, "entrypoint"),
    ("POST", "/api/jobs/upload-script", {"jobId": "nope", "script": "x"}, 404, "not found"),
    ("POST", "/api/jobs/upload-script", {"jobId": "{held}", "script": "#" * (MAX_BODY_BYTES + 1024)}, 413, ""),
    ("GET", "/api/frontend/jobs?status=bogus", None, 422, "status"),
    ("GET", "/api/frontend/jobs?limit=many", None, 422, None),
    ("GET", "/api/frontend/jobs/nope", None, 404, "'nope' not found"),
    ("DELETE", "/api/frontend/jobs/nope", None, 404, "'nope' not found"),
    ("POST", "/api/frontend/jobs/nope/restart", None, 404, "'nope' not found"),
    ("POST", "/api/frontend/jobs/{held}/restart", None, 400, "only an ended"),
    ("GET", "/api/frontend/logs/nope", None, 404, "'nope' not found"),
    ("GET", "/api/nope", None, 404, ""),
    ("GET", "/api/frontend/nope", None, 404, ""),
    ("POST", "/api/jobs/nope", {}, 404, ""),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "status", "words"), ERRORS,
                         ids=[label(m, p, f"{s} {w if w is not None else 'parser'} {b if isinstance(b, bytes) else ''!s:.30}")
                              for m, p, b, s, w in ERRORS])  # fmt: skip
def test_a_documented_error_is_the_same_through_both_doors(doors: Doors, world: World, method: str, path: str,
                                                          body: Any, status: int, words: str) -> None:  # fmt: skip
    before = _ok(doors.gateway.call("GET", "/api/frontend/jobs", params={"limit": 1000}))["count"]
    if isinstance(body, bytes):
        kw: dict[str, Any] = {"data": body, "headers": {"Content-Type": "application/json"}}
    else:
        kw = {"json": {k: world.fill(v) if isinstance(v, str) and "{" in v else v for k, v in body.items()}
              if body is not None else None}  # fmt: skip
    answers = doors.ask(method, world.fill(path), **kw)
    detail = assert_error(answers, status)[0]
    assert (words or "").lower() in detail.lower(), detail
    assert_same(answers, PARSER_WORDS if words is None else None)
    # and nothing changed
    assert _ok(doors.gateway.call("GET", "/api/frontend/jobs", params={"limit": 1000}))["count"] == before
    assert _job(doors.gateway, world.held)["status"] == "pending"


@pytest.mark.parametrize(("method", "path", "allowed"),
                         [("PUT", "/api/jobs/create", {"POST"}), ("POST", "/api/frontend/dashboard", {"GET"}),
                          ("PUT", "/api/frontend/jobs/j", {"GET", "DELETE"})])  # fmt: skip
def test_a_known_path_with_a_wrong_method_is_405_with_allow(doors: Doors, method: str, path: str, allowed: set) -> None:
    """Issue 11 (engineer B)."""
    answers = doors.ask(method, path, json={})
    assert_error(answers, 405)
    assert_same(answers)
    for answer in answers:
        assert {m.strip() for m in answer.headers.get("Allow", "").split(",")} >= allowed, answer.headers


@pytest.mark.parametrize("difference", ENVOY_DIFFERENCES, ids=[d.path for d in ENVOY_DIFFERENCES])
def test_the_differences_envoy_cannot_avoid(doors: Doors, difference: EnvoyDifference) -> None:
    assert_difference(doors, difference)


# --- the agent endpoints, with the streaming agent stopped -----------------------------------


def _hmac(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass
class PollingNode:
    """A node of the documented agent API behind one door: the join token, its handshake key."""

    door: Door
    node_id: str
    key: str

    @classmethod
    def new(cls, door: Door) -> PollingNode:
        return cls(door, f"poll-{door.name}-{uuid.uuid4().hex[:6]}", secrets.token_hex(16))

    def call(self, method: str, path: str, **kw: Any) -> Answer:
        headers = {"X-Node-Signature": _hmac(self.key, self.node_id), **kw.pop("headers", {})}
        return Answer.of(self.door.name, self.door.call(method, path, key=AGENT_TOKEN, headers=headers, **kw))

    def post(self, path: str, body: dict) -> Answer:
        return self.call("POST", path, json={"nodeId": self.node_id, **body})


@pytest.fixture
def streaming_agent_stopped(farm: Farm, doors: Doors) -> Any:
    farm.agent.signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not farm.client.online_nodes(), timeout=15, interval=0.1, what="the streaming agent to be lost")
        yield
    finally:
        farm.agent.signal(signal.SIGCONT)
        wait_for(lambda: len(farm.client.online_nodes()) == 1, timeout=30, interval=0.1, what="the agent back")


def _both(nodes: list[PollingNode], call: Any) -> tuple[Answer, Answer]:
    return tuple(call(node) for node in nodes)  # type: ignore[return-value]


def test_the_agent_api_answers_the_same_through_both_doors(doors: Doors, streaming_agent_stopped: None) -> None:
    nodes = [PollingNode.new(door) for door in doors]
    specs = {"cpuUsage": 5.0, "ramUsage": 20.0, "totalRAM_GB": 4.0, "os": "Linux", "platform": "test", "cpuCount": 2}
    registered = _both(nodes, lambda n: n.call("POST", "/api/nodes/register",
                                               json={"nodeId": n.node_id, "specs": specs, "handshakeKey": n.key}))  # fmt: skip
    assert_ok(registered)
    ids = _ids(node=[n.node_id for n in nodes])
    assert_same(registered, Normaliser(ids=ids))
    beats = _both(nodes, lambda n: n.post("/api/nodes/heartbeat", {"specs": {"cpuUsage": 10.0, "ramUsage": 20.0}}))
    assert_ok(beats)
    assert_same(beats, Normaliser(ids=ids))
    empty = _both(nodes, lambda n: n.call("GET", "/api/jobs/poll", params={"nodeId": n.node_id}))
    assert_ok(empty)
    assert assert_same(empty, Normaliser(ids=ids))["jobs"] == []
    assert all(a.body.get("job", "absent") is None for a in empty), "poll answers job: null (issue 11, engineer C)"

    # one job per door, each polled, acked, fetched, logged and finished by that door's node
    steps: dict[str, list[Answer]] = {}
    job_ids = []
    for node in nodes:
        job_id = _create(node.door, datasetHash="abc")
        _upload(node.door, job_id)
        job_ids.append(job_id)
        for step, answer in [
            ("poll", node.call("GET", "/api/jobs/poll", params={"nodeId": node.node_id})),
            ("ack", node.post("/api/jobs/ack", {"jobId": job_id, "signature": _hmac(node.key, job_id)})),
            ("fetch-script", node.call("GET", "/api/jobs/fetch-script", params={"jobId": job_id, "nodeId": node.node_id})),
            ("stream-log", node.post("/api/jobs/stream-log", {"jobId": job_id, "attempt": 1, "lines": ["epoch 1/1"],
                                                              "lineNo": 1})),
            ("usage-report", node.post("/api/usage-report", {"jobId": job_id, "cpuUsage": 50.0, "ramUsage": 30.0})),
            ("finish", node.post("/api/jobs/finish", {"jobId": job_id, "attempt": 1, "exitCode": 0, "modelHash": "ab" * 32})),
        ]:  # fmt: skip
            steps.setdefault(step, []).append(answer)
    ids |= _ids(job=job_ids)
    for step, answers in steps.items():
        assert_ok(answers)
        assert_same(tuple(answers), Normaliser(ids=ids))
    polled = steps["poll"][0].body
    assert polled["count"] == 1 and polled["jobs"][0]["jobId"] == job_ids[0]
    assert_shape(polled["jobs"][0], POLLED)
    assert polled.get("job", {}).get("jobId") == job_ids[0], "poll answers job (issue 11, engineer C)"
    assert_shape(steps["fetch-script"][0].body, FETCHED)
    assert steps["fetch-script"][0].body["script"] == SCRIPT
    details = tuple(Answer.of(d.name, d.call("GET", f"/api/frontend/jobs/{j}")) for d, j in zip(doors, job_ids))
    detail = assert_same(details, Normaliser(TIMES, ids))
    assert detail["status"] == "finished" and detail["assignedNode"] == "<node>" and detail["modelHash"] == "ab" * 32
    assert [e["line"] for e in detail["logs"]] == ["epoch 1/1"]
    for door, job_id in zip(doors, job_ids):
        _ok(door.call("DELETE", f"/api/frontend/jobs/{job_id}"))


def test_the_agent_api_errors_are_the_same_through_both_doors(doors: Doors, streaming_agent_stopped: None) -> None:
    nodes = [PollingNode.new(door) for door in doors]
    for node in nodes:
        assert node.call("POST", "/api/nodes/register", json={"nodeId": node.node_id, "handshakeKey": node.key}).status == 200
    ids = _ids(node=[n.node_id for n in nodes])
    cases: list[tuple[str, int, Any]] = [
        ("poll of an unknown node", 404, lambda n: n.call("GET", "/api/jobs/poll", params={"nodeId": "never-registered"})),
        ("heartbeat of an unknown node", 404, lambda n: n.call("POST", "/api/nodes/heartbeat",
                                                               json={"nodeId": "never-registered"})),
        ("heartbeat without nodeId", 422, lambda n: n.call("POST", "/api/nodes/heartbeat", json={})),
        ("register, malformed JSON", 422, lambda n: n.call("POST", "/api/nodes/register", data=b"{",
                                                           headers={"Content-Type": "application/json"})),  # PARSER_WORDS
        ("register, short handshakeKey", 422, lambda n: n.call("POST", "/api/nodes/register",
                                                               json={"nodeId": n.node_id + "-2", "handshakeKey": "abc"})),
        ("ack of an unknown job", 404, lambda n: n.post("/api/jobs/ack", {"jobId": "nope", "signature": _hmac(n.key, "nope")})),
        ("finish of an unknown job", 404, lambda n: n.post("/api/jobs/finish", {"jobId": "nope", "exitCode": 0})),
        ("fetch-script of an unknown job", 404, lambda n: n.call("GET", "/api/jobs/fetch-script",
                                                                 params={"jobId": "nope", "nodeId": n.node_id})),
        ("poll without the node's signature", 403, lambda n: Answer.of(n.door.name, n.door.call(
            "GET", "/api/jobs/poll", key=AGENT_TOKEN, params={"nodeId": n.node_id}))),
        ("ack with a wrong signature", 403, lambda n: n.post("/api/jobs/ack", {"jobId": "nope", "signature": "00" * 32})),
    ]  # fmt: skip
    failures = []
    for what, status, call in cases:
        answers = _both(nodes, call)
        try:
            assert_error(answers, status)
            assert_same(answers, PARSER_WORDS if "malformed" in what else Normaliser(ids=ids))
        except AssertionError as e:
            failures.append(f"{what}: {e}")
    # a job acked by one node is refused to the other (400), through each door in turn
    refused = []
    for winner, loser in (nodes, nodes[::-1]):
        job_id = _create(doors.gateway)
        _upload(doors.gateway, job_id)
        won = winner.post("/api/jobs/ack", {"jobId": job_id, "signature": _hmac(winner.key, job_id)})
        assert won.status == 200, won.describe()
        refused.append(loser.post("/api/jobs/ack", {"jobId": job_id, "signature": _hmac(loser.key, job_id)}))
        _ok(doors.gateway.call("DELETE", f"/api/frontend/jobs/{job_id}"))
    try:
        assert_error(refused[::-1], 400)  # the gateway's answer first
    except AssertionError as e:
        failures.append(f"ack of a job another node got: {e}")
    assert not failures, "\n".join(failures)
