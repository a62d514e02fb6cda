"""The controller's composition root: the store, the wired domain, the gRPC server, the loops."""

from __future__ import annotations

import time

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controller.api.admission import ApiAdmission, read_methods
from controller.api.auth import (
    AGENT_PREFIX,
    AuthInterceptor,
    Credentials,
    LegacyAccess,
    agent_methods,
    legacy_methods,
    open_methods,
)
from controller.api.compat.servermgmt.training_servicer import SESSION_GROUP
from controller.api.request_decoding import RequestDecodingInterceptor
from controller.api.rate_limit import RateLimitInterceptor, declared_limits
from controller.api.request_id import RequestIdInterceptor
from controller.api.surfaces import Binding, Serving, all_surfaces
from controller.client_process_caller import HttpClientProcessCaller
from controller.config import ControllerConfig
from controller.credentials import load_credentials
from controller.domain.farm import Farm, FarmSettings
from controller.host_probe import HostProbe
from controller.loops import LoopSupervisor
from controller.private_files import private_directory, private_file
from controller.slurm_backend import SlurmBackend, SlurmSettings
from controller.store.sqlite_store import SqliteStore
from controller.tls import ServerTls, check_bind

log = structlog.get_logger(__name__)


class Controller:
    """Start with `start()`, stop with `shutdown()` (safe to call twice)."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.credentials: Credentials | None = None
        self.address = ""
        #: The mutual-TLS port for agents holding a farm certificate ("" without TLS).
        self.agent_address = ""
        #: gswarm's profiler gRPC port, when served ("" otherwise).
        self.profiler_address = ""
        #: The farm CA and the served certificate; None without TLS.
        self.tls: ServerTls | None = None
        self.farm: Farm | None = None
        self._server: grpc.aio.Server | None = None
        self._store: SqliteStore | None = None
        self._process_caller: HttpClientProcessCaller | None = None
        self._loops: LoopSupervisor | None = None
        self._stopped = False

    async def start(self) -> str:
        """Open the store, serve, start the loops; a failure part way closes what was opened."""
        try:
            return await self._start()
        except BaseException:
            await self.shutdown(grace=0)
            raise

    async def _start(self) -> str:
        cfg = self.config
        check_bind(cfg.host, tls=cfg.tls_enabled, insecure=cfg.insecure, what="the controller's gRPC port")
        private_directory(cfg.data_dir)
        self.credentials = load_credentials(cfg)
        self.tls = ServerTls.prepare(cfg) if cfg.tls_enabled else None
        # SQLite gives the -wal and -shm files the database file's mode when it creates them.
        store = self._store = await SqliteStore.open(private_file(cfg.db_path))
        for suffix in ("-wal", "-shm"):  # left by an older run, with whatever mode it had
            if (side := cfg.db_path.with_name(cfg.db_path.name + suffix)).exists():
                private_file(side)
        # With TLS a node registers a CSR and gets a certificate from the farm CA (else a node secret).
        launch_key = min(self.credentials.api_keys, default="")
        self._process_caller = HttpClientProcessCaller(api_key=launch_key)
        slurm = SlurmBackend(SlurmSettings(conf=cfg.slurm_conf, partition=cfg.slurm_partition, api_key=launch_key,
                                           output_dir=cfg.data_dir / "slurm-jobs"))  # fmt: skip
        farm = self.farm = await Farm.open(store, _settings(cfg, launch_key), signer=self.tls.ca if self.tls else None,
                                           process_caller=self._process_caller, job_backends={"slurm": slurm})  # fmt: skip
        bindings = all_surfaces()
        server = self._server = self._grpc_server(bindings, farm)
        host = HostProbe(cfg.data_dir)
        serving = Serving(farm, cfg, self.credentials, time.time(), host)
        for b in bindings:
            b.add_to_server(b.build(serving), server)
        names = [b.service.full_name for b in bindings]
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
        self._bind(server)
        await server.start()
        for name in ["", *names]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        # The host sampler too: system/info serves its latest sample and never waits for one.
        self._loops = LoopSupervisor({**farm.loops(), "host sampler": host.run})
        self._loops.start()
        log.info("controller serving", grpc=self.address, bound=cfg.host, agents_mtls=self.agent_address or None,
                 tls=self.tls is not None, data_dir=str(cfg.data_dir), tasks_active=len(farm.book.active))  # fmt: skip
        return self.address

    def _bind(self, server: grpc.aio.Server) -> None:
        """The gRPC port (server TLS with TLS on), and with TLS the agents' mutual-TLS port (controller.tls)."""
        cfg = self.config
        main = f"{cfg.host}:{cfg.grpc_port}"
        if self.tls is None:
            port = server.add_insecure_port(main)
        else:
            port = server.add_secure_port(main, self.tls.people_credentials())
        if port == 0:
            raise OSError(f"cannot bind the gRPC port {main}; is another controller running?"
                          " (choose another with --grpc-port, or 0 for a free one)")  # fmt: skip
        self.address = f"{_dial_host(cfg.host)}:{port}"
        if cfg.profiler_grpc_port is not None:
            self.profiler_address = self._bind_port(server, cfg.profiler_grpc_port, "gswarm's profiler gRPC port",
                                                    "--profiler-grpc-port")  # fmt: skip
        if self.tls is None:
            return
        agents = f"{cfg.host}:{cfg.agent_port}"
        agent_port = server.add_secure_port(agents, self.tls.agent_credentials())
        if agent_port == 0:
            raise OSError(f"cannot bind the agents' mutual-TLS port {agents}; is another controller running?"
                          " (choose another with --agent-port, or 0 for a free one)")  # fmt: skip
        self.agent_address = f"{_dial_host(cfg.host)}:{agent_port}"

    def _bind_port(self, server: grpc.aio.Server, port: int, what: str, flag: str) -> str:
        """Another port for the people's services (plaintext, or server TLS with TLS on)."""
        cfg = self.config
        bind = f"{cfg.host}:{port}"
        bound = server.add_insecure_port(bind) if self.tls is None else server.add_secure_port(bind, self.tls.people_credentials())
        if bound == 0:
            raise OSError(f"cannot bind {what} {bind}; is another controller running? (choose another with {flag},"
                          " or 0 for a free one)")  # fmt: skip
        return f"{_dial_host(cfg.host)}:{bound}"

    def _grpc_server(self, bindings: list[Binding], farm: Farm) -> grpc.aio.Server:
        assert self.credentials is not None
        services = [b.service for b in bindings]
        # Health checks (the open methods) and the agents' reads do not wait behind people's reads.
        reads = read_methods(services, except_prefix=AGENT_PREFIX) - agent_methods(services) - open_methods(services)
        max_message = self.config.max_message_mb << 20
        legacy, legacy_paths = self._legacy_access(services)
        return grpc.aio.server(
            # Outermost first: the inner ones get the decoded request.
            interceptors=[RequestDecodingInterceptor(), ApiAdmission(farm.book.nodes_busy, reads, share=self.config.api_share),
                          RequestIdInterceptor(),
                          AuthInterceptor(self.credentials, open_methods(services), agent_methods(services),
                                          legacy, legacy_paths),
                          RateLimitInterceptor(declared_limits(services, self.config.rate_limit_per_minute))],
            options=[
                ("grpc.max_receive_message_length", max_message),
                ("grpc.max_send_message_length", max_message),
                # Agents keep one long stream; let their keepalive pings through.
                ("grpc.http2.min_ping_interval_without_data_ms", 5000),
                ("grpc.keepalive_permit_without_calls", 1),
                # On by default in gRPC: a second controller would bind the same port beside this one
                # and the kernel would split connections between them.
                ("grpc.so_reuseport", 0),
            ],
        )  # fmt: skip

    def _legacy_access(self, services: list[ServiceDescriptor]) -> tuple[LegacyAccess, dict[str, str]]:
        """The opened legacy groups (--open-legacy), checked against the protos' and said loudly."""
        cfg = self.config
        paths = legacy_methods(services)
        declared = sorted(set(paths.values()))
        unknown = sorted(set(cfg.open_legacy) - set(declared))
        if unknown:
            raise ValueError(f"--open-legacy {', '.join(unknown)}: no such legacy-open group;"
                             f" the protos declare {', '.join(declared) or 'none'}")  # fmt: skip
        legacy = LegacyAccess.parse(cfg.open_legacy, cfg.trusted_networks)
        for group in sorted(legacy.groups):
            log.warning("LEGACY-OPEN: these methods accept calls WITHOUT credentials from loopback and the trusted"
                        " networks; their nodes prove themselves by handshake key only", group=group,
                        trusted_networks=[str(n) for n in legacy.trusted_networks] or None,
                        methods=sorted(m for m, g in paths.items() if g == group))  # fmt: skip
        return legacy, paths

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()

    async def shutdown(self, grace: float = 2.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._loops is not None:
            await self._loops.stop()
        if self.farm is not None:
            self.farm.registry.close_all()
        if self._server is not None:
            await self._server.stop(grace)
        if self._store is not None:
            await self._store.close()
        if self._process_caller is not None:
            await self._process_caller.close()
        log.info("controller stopped")


def _dial_host(bind_host: str) -> str:
    """Where a client on this machine reaches a port bound to ``bind_host``: loopback for the
    unspecified addresses (0.0.0.0 is no address to dial, nor one a certificate can name)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]", "[::]": "[::1]"}.get(bind_host, bind_host)


def _settings(cfg: ControllerConfig, launch_key: str) -> FarmSettings:
    return FarmSettings(
        files_dir=cfg.data_dir / "files",
        models_dir=cfg.model_dir,
        datasets_dir=cfg.datasets_dir,
        max_upload_bytes=cfg.max_upload_mb << 20,
        node_ttl_seconds=cfg.node_ttl_seconds,
        restart_grace_seconds=cfg.restart_grace_seconds,
        concurrency_limits={SESSION_GROUP: 1, **dict(cfg.concurrency_limits)},
        profiling_retention_seconds=cfg.profiling_retention_hours * 3600,
        aifactory_url=cfg.aifactory_url,
        aifactory_backend=cfg.aifactory_backend,
        aifactory_target=cfg.aifactory_target,
        aifactory_api_key=launch_key,
    )
