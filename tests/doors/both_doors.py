"""One request through both REST doors, and what must be the same in the two answers.

The per-document suites (test_servermgmt_both_doors.py, test_shelby_both_doors.py) send every
request to the Python gateway and to Envoy in front of one farm and compare the answers: the same
status, and the same JSON once values that legitimately differ per call (ids the server makes,
timestamps, figures measured at the moment) are replaced by placeholders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import requests

from conftest import Door

#: Placeholder for a value that differs per call: only its type is compared.
_TYPE_NAMES = {bool: "<bool>", int: "<number>", float: "<number>", str: "<str>", type(None): "null"}


@dataclass(frozen=True)
class Answer:
    """What one door answered: the status, the JSON (None when the body is not JSON), the raw body."""

    door: str
    status: int
    body: Any
    content: bytes
    content_type: str
    headers: Mapping[str, str]

    @classmethod
    def of(cls, door: str, reply: requests.Response) -> Answer:
        content_type = reply.headers.get("Content-Type", "")
        body: Any = None
        if reply.content and "json" in content_type:
            try:
                body = reply.json()
            except ValueError:
                body = None
        return cls(door, reply.status_code, body, reply.content, content_type, reply.headers)

    def describe(self) -> str:
        return f"{self.door}: {self.status} {self.content[:300]!r}"


@dataclass(frozen=True)
class Doors:
    """Both doors in front of one farm."""

    gateway: Door
    envoy: Door

    def __iter__(self) -> Iterator[Door]:
        return iter((self.gateway, self.envoy))

    def ask(self, method: str, path: str, **kw: Any) -> tuple[Answer, Answer]:
        """The same request through each door, the gateway first."""
        return tuple(Answer.of(door.name, door.call(method, path, **kw)) for door in self)  # type: ignore[return-value]


@dataclass
class Normaliser:
    """Replaces what legitimately differs between two calls: ids made per call (each door's own
    resource: `ids` maps each id to a placeholder, also inside messages) and values under the
    `volatile` keys (timestamps, durations, measured figures: compared by type only)."""

    volatile: frozenset[str] = frozenset()
    ids: dict[str, str] = field(default_factory=dict)

    def apply(self, value: Any, key: str | None = None) -> Any:
        if key in self.volatile:
            return _TYPE_NAMES.get(type(value), value if not isinstance(value, (dict, list)) else "<any>")
        if isinstance(value, dict):
            return {k: self.apply(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        if isinstance(value, str):
            for real in sorted(self.ids, key=len, reverse=True):
                value = value.replace(real, self.ids[real])
        return value


def assert_same(answers: tuple[Answer, Answer], normaliser: Normaliser | None = None) -> Any:
    """Both doors gave the same status and the same (normalised) JSON; returns that JSON, normalised."""
    gateway, envoy = answers
    assert gateway.status == envoy.status, f"status differs:\n{gateway.describe()}\n{envoy.describe()}"
    norm = normaliser or Normaliser()
    if gateway.body is None or envoy.body is None:
        assert gateway.content == envoy.content, f"body differs:\n{gateway.describe()}\n{envoy.describe()}"
        return gateway.body
    left, right = norm.apply(gateway.body), norm.apply(envoy.body)
    assert left == right, f"JSON differs:\ngateway: {_dump(left)}\nenvoy:   {_dump(right)}"
    return left


def assert_error(answers: Iterable[Answer], status: int) -> list[str]:
    """The documents' error: the status and exactly {"detail": "<non-empty string>"}, from every door."""
    answers, details = list(answers), []
    for answer in answers:  # every door's status first: a wrong status says more than a wrong body
        assert answer.status == status, f"expected {status}: {answer.describe()}"
    for answer in answers:
        assert answer.content_type.startswith("application/json"), answer.describe()
        assert isinstance(answer.body, dict) and set(answer.body) == {"detail"}, f"not {{'detail'}}: {answer.describe()}"
        assert isinstance(answer.body["detail"], str) and answer.body["detail"].strip(), answer.describe()
        details.append(answer.body["detail"])
    return details


def assert_envelope_error(answers: Iterable[Answer], status: int, code: str) -> None:
    """gswarm's (and AI Farm's) error: the status, {"success": false, "data": null, "error": {code,
    message, details}} with that code, and `detail` the message, from every door."""
    for answer in answers:
        assert answer.status == status, answer.describe()
        body = answer.body
        assert body["success"] is False and body["data"] is None, answer.describe()
        assert body["error"]["code"] == code and body["detail"] == body["error"]["message"], answer.describe()


def assert_ok(answers: Iterable[Answer], status: int = 200) -> None:
    for answer in answers:
        assert answer.status == status, f"expected {status}: {answer.describe()}"


# What a document promises an answer looks like: a dict of key -> type (a tuple of types where a
# value may be null), a nested dict, or [shape] for a list whose items all have that shape.
Shape = Any
NUMBER = (int, float)
OPTIONAL_NUMBER = (int, float, type(None))
OPTIONAL_STR = (str, type(None))


def assert_shape(value: Any, shape: Shape, *, exact: bool = False, where: str = "body") -> None:
    """`value` has the documented keys with the documented types (`exact`: and no other keys)."""
    if isinstance(shape, list):
        assert isinstance(value, list), f"{where}: expected a list, got {_dump(value)}"
        for i, item in enumerate(value):
            assert_shape(item, shape[0], exact=exact, where=f"{where}[{i}]")
        return
    if isinstance(shape, dict):
        assert isinstance(value, dict), f"{where}: expected an object, got {_dump(value)}"
        missing = set(shape) - set(value)
        assert not missing, f"{where}: missing {sorted(missing)} in {_dump(value)}"
        if exact:
            assert set(value) == set(shape), f"{where}: unexpected {sorted(set(value) - set(shape))}"
        for key, sub in shape.items():
            assert_shape(value[key], sub, exact=exact, where=f"{where}.{key}")
        return
    types = shape if isinstance(shape, tuple) else (shape,)
    # a JSON integer is a number; a bool is not
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    assert ok, f"{where}: {value!r} is not {' or '.join(t.__name__ for t in types)}"


#: A door's own parser error (a malformed JSON body, a value of the wrong type in a body or query):
#: each door words it in its own parser's words (Python's json and protobuf against Envoy's
#: transcoder), which Envoy cannot avoid; so only the status and the `{"detail"}` shape are compared.
PARSER_WORDS = Normaliser(frozenset({"detail"}))


@dataclass(frozen=True)
class EnvoyDifference:
    """A difference Envoy cannot avoid: the request, what each door answers, and why."""

    method: str
    path: str
    gateway_status: int
    envoy_status: int
    why: str


def assert_difference(doors: Doors, difference: EnvoyDifference) -> None:
    gateway, envoy = doors.ask(difference.method, difference.path, key=None)
    assert gateway.status == difference.gateway_status, gateway.describe()
    assert envoy.status == difference.envoy_status, envoy.describe()


def _dump(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) < 1500 else text[:1500] + "..."


_SAFE = re.compile(r"[^a-z0-9]+")


def label(method: str, path: str, note: str = "") -> str:
    """A readable test id: 'GET /api/v1/models 401-no-key'."""
    return f"{method} {path}" + (f" {_SAFE.sub('-', note.lower()).strip('-')}" if note else "")
