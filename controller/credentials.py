"""API keys and the agent token: given, or generated once into the data directory (mode 0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import structlog

from controller.api.auth import Credentials
from controller.config import ControllerConfig

log = structlog.get_logger(__name__)

API_KEY_FILE = "api_keys"
AGENT_TOKEN_FILE = "agent_token"


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def _read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()] if path.exists() else []


def load_credentials(config: ControllerConfig) -> Credentials:
    key_file = config.data_dir / API_KEY_FILE
    keys = list(config.api_keys)
    if keys:
        # Keep the file in step so local tools (aifarm tasks, ...) find a working key.
        _write_secret(key_file, "\n".join(keys) + "\n")
    else:
        keys = _read_lines(key_file)
    if not keys and not config.no_auth:
        keys = [f"afk_{secrets.token_urlsafe(24)}"]
        _write_secret(key_file, keys[0] + "\n")
        print(f"Generated an API key (stored in {key_file}): {keys[0]}", flush=True)
    token_file = config.data_dir / AGENT_TOKEN_FILE
    token = config.agent_token or next(iter(_read_lines(token_file)), "")
    if not token:
        token = f"aft_{secrets.token_urlsafe(24)}"
        _write_secret(token_file, token + "\n")
        log.info("generated an agent token", path=str(token_file))
    elif config.agent_token:
        _write_secret(token_file, token + "\n")
    if config.no_auth:
        log.warning("AUTHENTICATION IS OFF (--no-auth): anyone who reaches the gRPC port controls this farm")
    return Credentials(api_keys=frozenset(keys), agent_token=token, enabled=not config.no_auth)


def rotate_join_token(credentials: Credentials, data_dir: Path) -> str:
    """A new join token, in force at once and written to the token file; admitted nodes keep their credentials."""
    token = f"aft_{secrets.token_urlsafe(24)}"
    _write_secret(data_dir / AGENT_TOKEN_FILE, token + "\n")
    credentials.agent_token = token
    log.warning("join token rotated; new nodes must register with the new one", path=str(data_dir / AGENT_TOKEN_FILE))
    return token
