"""A model server as AI Farm's are (seeds/001): GET a model's URL with a `Version` header, get
JSON {"code": ...} defining create_model(); or any bytes. A real HTTP server on a free loopback port."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def create_model_code(features: int, classes: int) -> str:
    """Code whose create_model() gives (model, optimizer) for `features` -> `classes` (its own SGD)."""
    return f"""
import torch
def create_model():
    model = torch.nn.Sequential(torch.nn.Linear({features}, 32), torch.nn.ReLU(), torch.nn.Linear(32, {classes}))
    return model, torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
"""


@dataclass(frozen=True)
class Route:
    body: bytes
    content_type: str = "application/json"
    #: The Version header it answers (None: any); another version is a 404, as for a missing model.
    version: str | None = None
    #: Seconds to wait after each KiB sent: a slow link, to cancel a download in the middle.
    trickle_per_kib: float = 0.0

    @classmethod
    def code(cls, code: str, version: str | None = None) -> Route:
        return cls(json.dumps({"code": code}).encode(), version=version)


class ModelServer(ThreadingHTTPServer):
    """Serves `routes` (path -> Route) until stop(); records each request's Version header."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.versions: list[str | None] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, name="model-server", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        version = self.headers.get("Version")
        self.server.versions.append(version)
        route = self.server.routes.get(self.path)
        if route is None or route.version not in (None, version):
            self._send(404, "text/plain", b"no such model")
        else:
            self._send(200, route.content_type, route.body, route.trickle_per_kib)

    def _send(self, status: int, content_type: str, body: bytes, trickle_per_kib: float = 0.0) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not trickle_per_kib:
            self.wfile.write(body)
            return
        try:
            for at in range(0, len(body), 1024):
                self.wfile.write(body[at:at + 1024])
                self.wfile.flush()
                time.sleep(trickle_per_kib)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (a cancelled download)

    def log_message(self, *args: object) -> None:
        pass
