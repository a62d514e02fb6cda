"""Settings of a controller process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


#: Where client processes reach AI Factory's client service on this machine (the aifactory listener's default).
DEFAULT_AIFACTORY_URL = "http://127.0.0.1:8001/api/v1"


@dataclass(frozen=True)
class ControllerConfig:
    #: Where the database, keys and files live.
    data_dir: Path
    #: Address the gRPC port binds to.
    host: str = "127.0.0.1"
    #: gRPC port; 0 picks a free one.
    grpc_port: int = 50051
    #: API keys given on the command line or in API_KEYS; empty: use or generate the key file.
    api_keys: tuple[str, ...] = ()
    #: Token agents join with; empty: use or generate the token file.
    agent_token: str = ""
    #: Accept every call without a key (trusted networks only).
    no_auth: bool = False
    #: How often agents send heartbeats.
    heartbeat_interval_seconds: float = 2.0
    #: A node silent this long is declared lost and its work requeued.
    node_ttl_seconds: float = 10.0
    #: After a controller restart, how long known nodes have to reconnect.
    restart_grace_seconds: float = 30.0
    #: Largest dataset, model or artifact accepted (MB, 2^20 bytes; --max-upload-mb); larger: RESOURCE_EXHAUSTED.
    max_upload_mb: int = 1024
    #: Largest single gRPC message (uploads and downloads stream in messages far smaller).
    max_message_mb: int = 256
    #: Share of the controller's time people's reads keep while nodes are busy (controller.api.admission); 1: no yielding.
    api_share: float = 0.1
    #: Serve TLS on the gRPC port with a certificate from the farm CA (<data_dir>/pki, generated on first start).
    tls: bool = False
    #: Serve TLS with this certificate chain and key instead of one from the farm CA (both or neither).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: The CA that signed tls_cert, written to endpoints.json for local clients; None: publicly trusted.
    tls_ca: Path | None = None
    #: More host names and addresses for the generated server certificate (bound host, host names and loopback are in).
    tls_hosts: tuple[str, ...] = ()
    #: Port for agents holding a farm certificate, mutual TLS (with TLS only); 0 picks a free one.
    agent_port: int = 50052
    #: gswarm's profiler gRPC port (gswarm_profiler.ProfilerService where its CLI dials it; every service
    #: is served there too, with the same auth and TLS); 0 picks a free one; None: not served.
    profiler_grpc_port: int | None = None
    #: Profiling frames older than this are deleted; 0 keeps them all.
    profiling_retention_hours: float = 168.0
    #: Allow plaintext on a non-loopback address (trusted networks only; logged loudly).
    insecure: bool = False
    #: Legacy-open groups (a proto's auth.legacy_open, e.g. "shelby-agents") whose methods take calls
    #: without credentials from loopback and trusted_networks (controller.api.auth; logged loudly).
    open_legacy: tuple[str, ...] = ()
    #: CIDRs trusted besides loopback: callers served by the open legacy groups, and REST doors
    #: whose x-forwarded-for is believed.
    trusted_networks: tuple[str, ...] = ()
    #: Calls a minute per caller for the services that declare a rate limit (http_service):
    #: None keeps each declared limit, 0 turns them off, N sets each to N (controller.api.rate_limit).
    rate_limit_per_minute: int | None = None
    #: Where client processes reach AI Factory's client service (the aifactory listener's /api/v1).
    aifactory_url: str = DEFAULT_AIFACTORY_URL
    #: The execution backend of new client groups: "aifarm" (a task of the farm's agents) or "slurm".
    aifactory_backend: str = "aifarm"
    #: Where client groups send load when a create names no server_addr.
    aifactory_target: str = ""
    #: slurm.conf of the Slurm cluster client groups run on (SLURM_CONF); None: Slurm's default.
    slurm_conf: Path | None = None
    #: The Slurm partition of client groups' jobs; "": the cluster's default.
    slurm_partition: str = ""

    #: SQLite file; None: <data_dir>/aifarm.db (env DATABASE_PATH).
    database_path: Path | None = None
    #: Directory of the model registry's files; None: <data_dir>/models (env MODELS_DIR).
    models_dir: Path | None = None
    #: Directory of dataset files; None: <data_dir>/files/datasets (env DATASETS_DIR).
    datasets_dir: Path | None = None
    #: Concurrency group -> most tasks of it running at once (e.g. training sessions: MAX_CONCURRENT_SESSIONS).
    concurrency_limits: tuple[tuple[str, int], ...] = ()

    @property
    def tls_enabled(self) -> bool:
        return self.tls or self.tls_cert is not None

    @property
    def db_path(self) -> Path:
        return self.database_path or self.data_dir / "aifarm.db"

    @property
    def model_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"
