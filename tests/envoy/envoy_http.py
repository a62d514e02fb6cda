"""A few lines of http.client for the Envoy tests: status, headers and raw body, nothing hidden."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from farm_processes import API_KEY


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def call(
    conn_or_url: http.client.HTTPConnection | str,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | dict | None = None,
    *,
    key: str | None = API_KEY,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request; a dict body is sent as JSON, an iterable one chunked. ``key=None`` sends no API key."""
    conn = connect(conn_or_url) if isinstance(conn_or_url, str) else conn_or_url
    sent = dict(headers or {})
    if key is not None:
        sent.setdefault("Authorization", f"Bearer {key}")
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=sent)
    response = conn.getresponse()
    return Reply(response.status, response.headers, response.read())
