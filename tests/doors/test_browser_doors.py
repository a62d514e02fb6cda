"""What a browser needs, through both doors: CORS (off by default, `--cors-origin`), 405 with
`Allow` for a known path and another method, and the docs pages with their assets served locally.

Every door here is a real process (`aifarm gateway`, or Envoy with the config `aifarm envoy-config`
writes) in front of the real farm of tests/doors/conftest.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from conftest import Door, Farm, start_door
from farm_processes import GatewayProcess

FRONTEND = "http://localhost:3000"
OTHER_SITE = "https://evil.example"
#: What a browser sends before a POST with a key and a JSON body from another origin.
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}

pytestmark = pytest.mark.slow


def start_cors_door(kind: str, work: Path, controller: str, origins: tuple[str, ...]) -> Any:
    if kind == "gateway":
        extra = [arg for origin in origins for arg in ("--cors-origin", origin)]
        return GatewayProcess(controller, work / "gateway.log", extra=extra).start()
    from envoy_process import EnvoyProcess

    return EnvoyProcess(work, controller, cors_origins=origins).start()


@pytest.fixture(scope="module", params=["gateway", "envoy"])
def cors_door(request: pytest.FixtureRequest, farm: Farm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    """A door that lets FRONTEND call it (`--cors-origin http://localhost:3000`)."""
    proc = start_cors_door(request.param, tmp_path_factory.mktemp(f"cors-{request.param}"), farm.controller.address,
                           (FRONTEND,))  # fmt: skip
    yield Door(request.param, proc.url)
    proc.stop()


def _cors_headers(response: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def _listed(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",") if item.strip()}


@pytest.mark.parametrize("path", ["/v1/tasks", "/api/jobs/create"])
def test_a_preflight_from_an_allowed_origin_gets_the_cors_answer(cors_door: Door, path: str) -> None:
    reply = cors_door.call("OPTIONS", path, key=None, headers={"Origin": FRONTEND, **PREFLIGHT})
    assert reply.status_code == 200, reply.text
    assert reply.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    assert {"get", "post", "put", "delete"} <= _listed(reply.headers["Access-Control-Allow-Methods"])
    assert {"authorization", "content-type"} <= _listed(reply.headers["Access-Control-Allow-Headers"])
    assert int(reply.headers["Access-Control-Max-Age"]) > 0


def test_answers_and_errors_to_an_allowed_origin_name_it(cors_door: Door) -> None:
    listed = cors_door.call("GET", "/v1/tasks", headers={"Origin": FRONTEND})
    assert listed.status_code == 200
    refused = cors_door.call("GET", "/v1/tasks", key=None, headers={"Origin": FRONTEND})
    missing = cors_door.call("GET", "/v1/tasks/no-such-task", headers={"Origin": FRONTEND})
    unknown = cors_door.call("GET", "/v1/no-such-collection", headers={"Origin": FRONTEND})
    assert (refused.status_code, missing.status_code, unknown.status_code) == (401, 404, 404)
    for reply in (listed, refused, missing, unknown):
        assert reply.headers.get("Access-Control-Allow-Origin") == FRONTEND, (reply.status_code, reply.headers)
        assert reply.headers.get("Access-Control-Allow-Credentials") == "true"
        assert "origin" in reply.headers.get("Vary", "").lower()  # no cache gives it to another origin
    # A page reads the total of a list and the request id only if they are exposed.
    assert {"x-total-count", "x-request-id"} <= _listed(listed.headers["Access-Control-Expose-Headers"])


def test_another_origin_gets_no_cors_header(cors_door: Door) -> None:
    preflight = cors_door.call("OPTIONS", "/v1/tasks", key=None, headers={"Origin": OTHER_SITE, **PREFLIGHT})
    # Not answered as a preflight: the route's own answer (OPTIONS is not a method of /v1/tasks).
    assert preflight.status_code == 405 and _cors_headers(preflight) == {}
    listed = cors_door.call("GET", "/v1/tasks", headers={"Origin": OTHER_SITE})
    assert listed.status_code == 200 and _cors_headers(listed) == {}


def test_cors_is_off_by_default(door: Door) -> None:
    preflight = door.call("OPTIONS", "/v1/tasks", key=None, headers={"Origin": FRONTEND, **PREFLIGHT})
    assert preflight.status_code == 405 and _cors_headers(preflight) == {}
    listed = door.call("GET", "/v1/tasks", headers={"Origin": FRONTEND})
    assert listed.status_code == 200 and _cors_headers(listed) == {}


def test_any_origin_is_for_development_and_the_gateway_says_so(farm: Farm, tmp_path: Path) -> None:
    gateway = GatewayProcess(farm.controller.address, tmp_path / "gateway.log", extra=["--cors-origin", "*"]).start()
    try:
        reply = requests.options(gateway.url + "/v1/tasks", headers={"Origin": OTHER_SITE, **PREFLIGHT}, timeout=10)
        assert reply.status_code == 200 and reply.headers["Access-Control-Allow-Origin"] == OTHER_SITE
    finally:
        gateway.stop()
    assert "cors.any_origin" in gateway.log and "development" in gateway.log


# A known path, a method it does not have: (method, path, Allow).
WRONG_METHODS = [
    ("PUT", "/v1/tasks", "GET, POST"),
    ("PATCH", "/v1/tasks/", "GET, POST"),
    ("POST", "/v1/tasks/some-task", "DELETE, GET"),
    ("GET", "/v1/tasks/some-task:cancel", "POST"),
    ("GET", "/api/jobs/create", "POST"),
    ("DELETE", "/v1/health?verbose=1", "GET"),
]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS, ids=[f"{m} {p}" for m, p, _ in WRONG_METHODS])
def test_a_known_path_with_another_method_is_405_with_allow(door: Door, method: str, path: str, allow: str) -> None:
    reply = door.call(method, path)
    assert reply.status_code == 405, reply.text
    assert reply.headers["Allow"] == allow
    bare = path.split("?")[0]
    assert f"{method} is not allowed on {bare}; allowed: {allow}" in reply.text
    assert reply.headers["Content-Type"].startswith("application/json")


def test_wrong_method_answers_in_the_surface_words(door: Door) -> None:
    """The 405 takes the error shape of the path's surface: ShelbyCompute's `{"detail": ...}`."""
    shelby = door.call("GET", "/api/jobs/create").json()
    assert shelby["detail"] == "GET is not allowed on /api/jobs/create; allowed: POST"


def test_the_methods_of_a_path_still_work_and_an_unknown_path_is_still_404(door: Door) -> None:
    assert door.call("GET", "/v1/tasks").status_code == 200
    assert door.call("GET", "/v1/tasks/no-such-task").status_code == 404
    assert door.call("PUT", "/v1/no-such-collection").status_code == 404


class _Assets(HTMLParser):
    """The URLs a page loads: scripts, stylesheets, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


ASSET_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",), ".png": ("image/png",)}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_everything_from_the_gateway(farm: Farm, tmp_path: Path, page: str) -> None:
    proc = start_door("gateway", tmp_path, farm.controller.address)
    try:
        html = requests.get(proc.url + page, timeout=10)
        assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
        parser = _Assets()
        parser.feed(html.text)
        assert any(u.endswith(".js") for u in parser.urls), parser.urls
        inline_urls = re.findall(r"https?://[^\s\"'<>]+", html.text)
        assert inline_urls == [], f"the page names outside URLs: {inline_urls}"
        for url in parser.urls:
            absolute = urljoin(proc.url + page, url)
            assert urlsplit(absolute).netloc == urlsplit(proc.url).netloc, f"{url} is not served by the gateway"
            asset = requests.get(absolute, timeout=10)
            assert asset.status_code == 200, url
            suffix = Path(urlsplit(absolute).path).suffix
            assert asset.headers["Content-Type"].split(";")[0] in ASSET_TYPES[suffix], (url, asset.headers)
            assert len(asset.content) > 100, url
        spec = requests.get(proc.url + "/openapi.json", timeout=10)
        assert spec.status_code == 200 and spec.json()["paths"]
    finally:
        proc.stop()
