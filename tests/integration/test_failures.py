"""Lost agents, a killed controller, and bad input: nothing acknowledged is lost."""

from __future__ import annotations

import signal
import subprocess
import shutil
import time

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from aifarm.v1 import agent_service_pb2, task_pb2, task_service_pb2
from farm_processes import AGENT_TOKEN, Client, ControllerProcess, script_task, wait_for

T = task_pb2


def test_lost_agent_work_is_requeued_and_its_late_report_ignored(start_agent, client: Client) -> None:
    a = start_agent("a")
    wait_for(lambda: len(client.online_nodes()) == 1, what="agent a")
    src = "import time\nfor i in range(12):\n    print('step', i, flush=True)\n    time.sleep(0.25)\n"
    task = client.create(script_task(src))
    running = client.wait_state(task.name, T.TASK_STATE_RUNNING)
    assert running.node == f"nodes/{a.node_id}" and running.attempt == 1

    a.signal(signal.SIGSTOP)  # frozen: no heartbeats, but its work goes on and will report late
    b = start_agent("b")
    moved = wait_for(lambda: (t := client.get(task.name)).attempt == 2 and t, timeout=30, what="requeue to b")
    assert moved.node == f"nodes/{b.node_id}"
    a.signal(signal.SIGCONT)  # a wakes up and reports attempt 1 as finished

    done = client.wait_state(task.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=60)
    assert done.state == T.TASK_STATE_COMPLETED and done.attempt == 2 and done.node == f"nodes/{b.node_id}"
    wait_for(lambda: "ignoring report from a superseded attempt" in controller_log(client), timeout=20,
             what="the stale report to be ignored")  # fmt: skip
    time.sleep(1)
    again = client.get(task.name)
    assert (again.state, again.attempt, again.node) == (done.state, 2, done.node)


def controller_log(client: Client) -> str:
    return client.controller_log()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _expose_log(client: Client, controller: ControllerProcess) -> None:
    client.controller_log = lambda: controller.log  # type: ignore[attr-defined]


def test_controller_kill9_loses_nothing_and_reattaches_running_work(controller, start_agent, client: Client) -> None:
    start_agent("solo", "--cpus", "1")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent")
    long = client.create(script_task("import time\nfor i in range(16):\n    print(i, flush=True)\n    time.sleep(0.5)\n"))
    client.wait_state(long.name, T.TASK_STATE_RUNNING)
    queued = [client.create(script_task(f"print('queued {i}')")) for i in range(3)]

    controller.kill(signal.SIGKILL)
    time.sleep(1.0)
    controller.start()
    restarted = Client(controller.address)
    try:
        for t in [long, *queued]:
            assert restarted.get(t.name).name == t.name  # every acknowledged task survived
        done = restarted.wait_state(long.name, T.TASK_STATE_COMPLETED, T.TASK_STATE_FAILED, timeout=60)
        assert done.state == T.TASK_STATE_COMPLETED and done.attempt == 1, done.state_reason
        stdout = [ln.text for ln in restarted.logs(long.name) if ln.stream == T.LOG_STREAM_STDOUT]
        assert stdout == [str(i) for i in range(16)], "reattached, not restarted: every line exactly once"
        for t in queued:
            assert restarted.wait_state(t.name, T.TASK_STATE_COMPLETED).attempt == 1
    finally:
        restarted.close()


def _error_reason(err: grpc.RpcError) -> str:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            status.details[0].Unpack(info)
            return info.reason
    return ""


def test_malformed_requests_get_clear_errors(client: Client) -> None:
    cases = [
        (task_service_pb2.CreateTaskRequest(task=T.Task(display_name="no spec")), grpc.StatusCode.INVALID_ARGUMENT),
        (task_service_pb2.CreateTaskRequest(task=script_task("x"), task_id="../etc"), grpc.StatusCode.INVALID_ARGUMENT),
        (task_service_pb2.CreateTaskRequest(task=script_task("x", depends_on=["tasks/nope"])),
         grpc.StatusCode.INVALID_ARGUMENT),
        (task_service_pb2.CreateTaskRequest(), grpc.StatusCode.INVALID_ARGUMENT),
    ]  # fmt: skip
    for request, code in cases:
        with pytest.raises(grpc.RpcError) as err:
            client.tasks.CreateTask(request, metadata=client.metadata)
        assert err.value.code() == code, request
    with pytest.raises(grpc.RpcError) as err:
        client.get("tasks/does-not-exist")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND and _error_reason(err.value) == "TASK_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as err:
        client.tasks.ListTasks(task_service_pb2.ListTasksRequest(page_token="garbage!"), metadata=client.metadata)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    client.create(script_task("print(1)"), task_id="dup")
    with pytest.raises(grpc.RpcError) as err:
        client.create(script_task("print(1)"), task_id="dup")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert client.create(script_task("print(1)"), request_id="r1").name == client.create(
        script_task("print(2)"), request_id="r1").name  # fmt: skip
    assert client.health().status == "healthy"


def test_keys_are_required_and_agent_tokens_only_reach_agent_service(client: Client) -> None:
    anonymous = Client(client.channel._channel.target().decode(), key="wrong")  # type: ignore[attr-defined]
    agent = Client(client.channel._channel.target().decode(), key=AGENT_TOKEN)  # type: ignore[attr-defined]
    try:
        with pytest.raises(grpc.RpcError) as err:
            anonymous.get("tasks/x")
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as err:
            agent.get("tasks/x")
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert anonymous.health().status == "healthy"  # health stays open
    finally:
        anonymous.close()
        agent.close()


def test_garbage_on_the_agent_stream_leaves_the_controller_up(controller, client: Client) -> None:
    md = (("authorization", f"Bearer {AGENT_TOKEN}"),)
    raw = client.channel.stream_stream("/aifarm.v1.AgentService/Connect",
                                       request_serializer=lambda b: b, response_deserializer=lambda b: b)  # fmt: skip
    with pytest.raises(grpc.RpcError):
        list(raw(iter([b"\xff\x00garbage\x13\x37" * 10]), metadata=md, timeout=10))
    stub = client.channel.stream_stream(
        "/aifarm.v1.AgentService/Connect",
        request_serializer=agent_service_pb2.ConnectRequest.SerializeToString,
        response_deserializer=agent_service_pb2.ConnectResponse.FromString,
    )
    beat = agent_service_pb2.ConnectRequest(heartbeat=agent_service_pb2.Heartbeat())
    with pytest.raises(grpc.RpcError) as err:
        list(stub(iter([beat]), metadata=md, timeout=10))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "hello" in err.value.details()
    unary = client.channel.unary_unary("/aifarm.v1.TaskService/CreateTask", request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)  # fmt: skip
    with pytest.raises(grpc.RpcError):
        unary(b"\xff\xff\xff\xff", metadata=client.metadata, timeout=10)
    assert client.health().status == "healthy"
    assert controller.proc.poll() is None


@pytest.mark.skipif(shutil.which("buf") is None, reason="buf is installed by .ci/run (npm @bufbuild/buf)")
def test_buf_curl_lists_methods_through_reflection(controller) -> None:
    out = subprocess.run(
        ["buf", "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--list-methods",
         f"http://{controller.address}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "aifarm.v1.TaskService/CreateTask" in out
    assert "aifarm.v1.AgentService/Connect" in out


def test_sigterm_stops_an_agent_with_running_work_promptly(start_agent, client: Client) -> None:
    agent = start_agent("busy")
    wait_for(lambda: len(client.online_nodes()) == 1, what="the agent online")
    task = client.create(script_task("import time\nprint('working', flush=True)\ntime.sleep(120)\n"))
    client.wait_state(task.name, T.TASK_STATE_RUNNING)
    agent.signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=12) == 0
    assert "Traceback" not in agent.log
    # The node is gone, so its work goes back to the queue rather than being lost.
    requeued = client.wait_state(task.name, T.TASK_STATE_PENDING)
    assert requeued.state_reason
