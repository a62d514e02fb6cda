"""An impostor holding only the join token: python impostor.py ADDRESS NODE_ID TOKEN; prints what it got as JSON."""

import json
import sys
import time

import grpc

from aifarm.v1 import agent_service_pb2 as pb
from aifarm.v1 import agent_service_pb2_grpc, node_pb2

address, node_id, token = sys.argv[1:4]
stub = agent_service_pb2_grpc.AgentServiceStub(grpc.insecure_channel(address))
md = (("authorization", f"Bearer {token}"),)
got: dict = {"replies": [], "assigned": [], "env": {}, "connect_error": None, "register": None}


def claim():  # a hello in the live node's name, then heartbeats
    caps = node_pb2.Capabilities(cpu_cores=64, memory_mb=1 << 16)
    yield pb.ConnectRequest(hello=pb.Hello(node_id=node_id, hostname="impostor", capabilities=caps))
    while True:
        time.sleep(0.3)
        yield pb.ConnectRequest(heartbeat=pb.Heartbeat())


try:
    for reply in stub.Connect(claim(), metadata=md, timeout=4):
        got["replies"].append(reply.WhichOneof("message"))
        if reply.HasField("assignment"):
            got["assigned"].append(reply.assignment.task.name)
            got["env"].update(reply.assignment.task.script.env)
except grpc.RpcError as exc:
    got["connect_error"] = exc.code().name
try:  # and by the front door: register the live node's id anew
    issued = stub.Register(pb.RegisterRequest(node_id=node_id), metadata=md, timeout=5)
    credential = issued.node_secret or issued.certificate_pem
    got["register"] = "issued" if issued.node_id == node_id and credential else "another id"
except grpc.RpcError as exc:
    got["register"] = exc.code().name
except AttributeError:
    got["register"] = "no Register RPC"
print(json.dumps(got), flush=True)
