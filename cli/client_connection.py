"""Finding a running controller and talking to it over gRPC.

The controller's address and API key are looked up in this order:

1. the ``--controller`` and ``--api-key`` options;
2. the ``AIFARM_CONTROLLER`` and ``AIFARM_API_KEY`` environment variables;
3. the local data directory (``--data-dir``, ``AIFARM_DATA_DIR``, default
   ``./.aifarm``), whose ``endpoints.json`` was written by ``aifarm up``.

The data directory's key is only sent to the controller that directory
describes, so a local key never leaks to a controller named elsewhere.

TLS: the CA certificate to verify the controller with comes from ``--ca-file``,
then ``AIFARM_CA_FILE``, then ``endpoints.json``'s ``ca_file`` (for the controller it
describes); with one the client speaks TLS, else plaintext. An ``endpoints.json``
that says ``"tls": true`` without a CA file means a publicly trusted certificate.
Every failure becomes a :class:`CliError` whose message says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
import grpc

from aifarm.v1 import node_service_pb2_grpc, system_service_pb2_grpc, task_service_pb2_grpc

ENV_CONTROLLER = "AIFARM_CONTROLLER"
ENV_API_KEY = "AIFARM_API_KEY"
ENV_DATA_DIR = "AIFARM_DATA_DIR"
ENV_CA_FILE = "AIFARM_CA_FILE"
DEFAULT_DATA_DIR = ".aifarm"
ENDPOINTS_FILE = "endpoints.json"
UNARY_TIMEOUT_SECONDS = 30.0

EXIT_RPC_ERROR = 1
EXIT_CONFIG_ERROR = 2

Response = TypeVar("Response")


class CliError(click.ClickException):
    """A failure to report on stderr as one line, without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_RPC_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ConnectionSettings:
    """Where the controller is and how to authenticate to it."""

    address: str
    """``HOST:PORT`` of the controller's gRPC listener."""
    address_source: str
    """Where the address came from, for error messages."""
    api_key: str | None
    """Key sent as ``authorization: Bearer KEY``; None sends no key."""
    api_key_source: str | None
    """Where the key came from, for error messages; None when there is no key."""
    ca_file: Path | None = None
    """CA certificate the controller's TLS certificate is verified with; None: the system's (or no TLS)."""
    tls: bool = False
    """Speak TLS (always when there is a ``ca_file``)."""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """gRPC metadata carrying the key, if any."""
        if self.api_key is None:
            return ()
        return (("authorization", f"Bearer {self.api_key}"),)


@dataclass(frozen=True)
class LocalEndpoints:
    """What a data directory's ``endpoints.json`` says about its controller."""

    path: Path
    """The endpoints file itself."""
    grpc_address: str
    """The controller's gRPC ``HOST:PORT``."""
    api_key_file: Path | None
    """File holding the API keys, one a line; None when auth is off."""
    tls: bool = False
    """The controller serves TLS."""
    ca_file: Path | None = None
    """The CA certificate clients verify it with; None: publicly trusted (or no TLS)."""


def data_dir_from(option: str | None, environ: Mapping[str, str]) -> Path:
    """The data directory named by option, environment or default."""
    return Path(option or environ.get(ENV_DATA_DIR) or DEFAULT_DATA_DIR)


def read_local_endpoints(data_dir: Path) -> LocalEndpoints | None:
    """Read ``<data_dir>/endpoints.json``; None when there is none."""
    path = data_dir / ENDPOINTS_FILE
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_CONFIG_ERROR) from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not valid JSON: {exc}", EXIT_CONFIG_ERROR) from exc
    address = data.get("grpc") if isinstance(data, dict) else None
    if not isinstance(address, str) or not address:
        raise CliError(f'{path} has no "grpc" address', EXIT_CONFIG_ERROR)
    key_file = data.get("api_key_file")
    key_path = None
    if isinstance(key_file, str) and key_file:
        key_path = Path(key_file)
        if not key_path.is_absolute():
            key_path = data_dir / key_path
    ca_value = data.get("ca_file")
    ca_path = None
    if isinstance(ca_value, str) and ca_value:
        ca_path = Path(ca_value) if Path(ca_value).is_absolute() else data_dir / ca_value
    tls = bool(data.get("tls")) or ca_path is not None
    return LocalEndpoints(path=path, grpc_address=address, api_key_file=key_path, tls=tls, ca_file=ca_path)


def read_first_key(path: Path) -> str:
    """The first non-empty line of an API key file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CliError(f"cannot read API key file {path}: {exc.strerror}", EXIT_CONFIG_ERROR) from exc
    for line in lines:
        key = line.strip()
        if key:
            return key
    raise CliError(f"API key file {path} holds no key", EXIT_CONFIG_ERROR)


def resolve_connection(
    controller: str | None,
    api_key: str | None,
    data_dir: str | None,
    environ: Mapping[str, str],
    ca_file: str | None = None,
) -> ConnectionSettings:
    """Settle address, key and TLS from options, environment and data directory."""
    local_dir = data_dir_from(data_dir, environ)
    local: LocalEndpoints | None = None

    def load_local() -> LocalEndpoints | None:
        nonlocal local
        if local is None:
            local = read_local_endpoints(local_dir)
        return local

    if controller:
        address, address_source = controller, "--controller"
    elif environ.get(ENV_CONTROLLER):
        address, address_source = environ[ENV_CONTROLLER], ENV_CONTROLLER
    else:
        endpoints = load_local()
        if endpoints is None:
            raise CliError(
                f"no controller found: {local_dir / ENDPOINTS_FILE} does not exist. "
                f"Start one with `aifarm up`, pass --controller HOST:PORT, "
                f"or set {ENV_CONTROLLER} (or --data-dir / {ENV_DATA_DIR} "
                f"to a farm's data directory).",
                EXIT_CONFIG_ERROR,
            )
        address, address_source = endpoints.grpc_address, str(endpoints.path)

    if ca_file or environ.get(ENV_CA_FILE):
        ca_path: Path | None = Path(ca_file or environ[ENV_CA_FILE])
        tls = True
    else:
        # The data directory's CA, like its key, only for the controller it describes.
        endpoints = load_local()
        ours = endpoints is not None and endpoints.grpc_address == address
        ca_path = endpoints.ca_file if ours and endpoints is not None else None
        tls = ours and endpoints is not None and endpoints.tls
    if ca_path is not None and not ca_path.is_file():
        raise CliError(f"the CA file {ca_path} does not exist", EXIT_CONFIG_ERROR)

    def settings(key: str | None, key_source: str | None) -> ConnectionSettings:
        return ConnectionSettings(address, address_source, key, key_source, ca_file=ca_path, tls=tls)

    if api_key:
        return settings(api_key, "--api-key")
    if environ.get(ENV_API_KEY):
        return settings(environ[ENV_API_KEY], ENV_API_KEY)
    endpoints = load_local()
    if endpoints is not None and endpoints.api_key_file is not None and endpoints.grpc_address == address:
        key = read_first_key(endpoints.api_key_file)
        return settings(key, str(endpoints.api_key_file))
    return settings(None, None)


def describe_rpc_error(error: grpc.RpcError, settings: ConnectionSettings, subject: str | None) -> CliError:
    """Turn a failed call into a message that says what went wrong and what to try."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or ""
    where = f"{settings.address} (from {settings.address_source})"
    if code == grpc.StatusCode.UNAVAILABLE:
        message = f"controller not reachable at {where}"
        if details:
            message += f": {details}"
        if not settings.tls:
            hint = f" If it serves TLS, pass --ca-file (its <data-dir>/pki/ca.crt) or set {ENV_CA_FILE}."
        else:
            hint = f" If it does not serve TLS, leave out --ca-file and {ENV_CA_FILE}; if it does, check that"
            hint += f" {settings.ca_file or 'the system CA store'} holds the CA that signed its certificate."
        return CliError(message + ". Is it running? Start one with `aifarm up`." + hint)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        if settings.api_key_source is None:
            return CliError(
                f"controller at {where} requires an API key and none was found: "
                f"pass --api-key or set {ENV_API_KEY}" + (f" ({details})" if details else "")
            )
        return CliError(
            f"controller at {where} rejected the API key from {settings.api_key_source}"
            + (f": {details}" if details else "")
        )
    if code == grpc.StatusCode.NOT_FOUND and subject:
        return CliError(f"{subject} not found" + (f" ({details})" if details else ""))
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return CliError(f"controller at {where} did not answer in time" + (f": {details}" if details else ""))
    name = code.name if isinstance(code, grpc.StatusCode) else str(code)
    return CliError(f"{name}: {details or 'the call failed'}")


def _channel(settings: ConnectionSettings) -> grpc.Channel:
    if not settings.tls:
        return grpc.insecure_channel(settings.address)
    try:
        roots = settings.ca_file.read_bytes() if settings.ca_file is not None else None
    except OSError as exc:
        raise CliError(f"cannot read the CA file {settings.ca_file}: {exc.strerror}", EXIT_CONFIG_ERROR) from exc
    return grpc.secure_channel(settings.address, grpc.ssl_channel_credentials(root_certificates=roots))


class ControllerClient:
    """A synchronous channel to the controller with the stubs the CLI uses."""

    def __init__(self, settings: ConnectionSettings, timeout: float = UNARY_TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.timeout = timeout
        self._channel = _channel(settings)
        self.tasks = task_service_pb2_grpc.TaskServiceStub(self._channel)
        self.nodes = node_service_pb2_grpc.NodeServiceStub(self._channel)
        self.system = system_service_pb2_grpc.SystemServiceStub(self._channel)

    def __enter__(self) -> ControllerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; safe to call twice."""
        self._channel.close()

    def call(self, method: Callable[..., Response], request: Any, subject: str | None = None) -> Response:
        """Make a unary call; failures become a :class:`CliError`.

        ``subject`` names what the request is about ("task tasks/abc") so that
        NOT_FOUND can say what was not found.
        """
        try:
            return method(request, timeout=self.timeout, metadata=self.settings.metadata())
        except grpc.RpcError as exc:
            raise describe_rpc_error(exc, self.settings, subject) from None

    def stream(
        self, method: Callable[..., Any], request: Any, subject: str | None = None, timeout: float | None = None
    ) -> Iterator[Any]:
        """Iterate a server stream; failures become a :class:`CliError`.

        Without ``timeout`` the stream has no deadline. With one, the iteration
        simply ends when the deadline passes: the caller sees a shorter stream,
        not an error. The call is cancelled when the caller stops iterating
        early (Ctrl-C).
        """
        responses = method(request, timeout=timeout, metadata=self.settings.metadata())
        try:
            yield from responses
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if timeout is not None and code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return
            raise describe_rpc_error(exc, self.settings, subject) from None
        finally:
            responses.cancel()
