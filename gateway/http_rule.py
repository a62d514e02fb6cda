"""google.api.http path templates: parsing, URL splitting and matching.

Pure functions and frozen dataclasses, no I/O. The semantics follow Envoy's
grpc_json_transcoder (grpc-httpjson-transcoding's PathMatcher), so that the
Python gateway and Envoy route the same request to the same method:

* Grammar (google/api/http.proto)::

      Template = "/" Segments [ Verb ] ;
      Segments = Segment { "/" Segment } ;
      Segment  = "*" | "**" | LITERAL | Variable ;
      Variable = "{" FieldPath [ "=" Segments ] "}" ;
      Verb     = ":" LITERAL ;

* Literal segments are compared with the raw (still percent-encoded) request
  path, as Envoy does without path normalisation.
* A request's last segment is split at its last ':' only when the text after
  it is a verb some registered template uses; if nothing matches that way the
  unsplit path is tried too (so ``/v1/files/a:b`` can still bind ``{name}``).
* Among several matching templates the search is depth first: a literal
  segment beats ``*``, which beats ``**`` (Envoy's trie order).
* Variable values are percent-decoded per :class:`UnescapeSpec`; the default is
  Envoy's ``ALL_CHARACTERS_EXCEPT_RESERVED``: RFC 6570 reserved characters stay
  encoded, so ``%2F`` arrives as ``%2F`` in both ``{var}`` and ``{var=**}``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

# RFC 6570 reserved characters ("gen-delims" and "sub-delims").
_RESERVED = frozenset(":/?#[]@!$&'()*+,;=")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TemplateError(ValueError):
    """A path template that does not follow the HttpRule grammar."""


class UnescapeSpec(enum.Enum):
    """How variable values are percent-decoded (Envoy's ``url_unescape_spec``)."""

    ALL_CHARACTERS_EXCEPT_RESERVED = "ALL_CHARACTERS_EXCEPT_RESERVED"
    ALL_CHARACTERS_EXCEPT_SLASH = "ALL_CHARACTERS_EXCEPT_SLASH"
    ALL_CHARACTERS = "ALL_CHARACTERS"


class SegmentKind(enum.IntEnum):
    """Ordered by match priority: a literal wins over ``*``, ``*`` over ``**``."""

    LITERAL = 0
    SINGLE = 1
    MULTI = 2


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    literal: str = ""

    def __str__(self) -> str:
        return {SegmentKind.SINGLE: "*", SegmentKind.MULTI: "**"}.get(self.kind, self.literal)


@dataclass(frozen=True)
class Variable:
    """A ``{field.path=...}`` binding covering ``segments[start:end]``."""

    field_path: tuple[str, ...]
    start: int
    end: int


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template such as ``/v1/{name=tasks/*}:cancel``."""

    source: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str = ""

    def key(self) -> tuple[str, ...]:
        """Normalised shape; two templates with the same key conflict."""
        shape = tuple(str(s) for s in self.segments)
        return (*shape, ":" + self.verb) if self.verb else shape


def parse_template(source: str) -> PathTemplate:
    """Parse a google.api.http path template, raising TemplateError when malformed."""
    if not source.startswith("/"):
        raise TemplateError(f"template {source!r} must start with '/'")
    body, verb = _split_template_verb(source)
    segments: list[Segment] = []
    variables: list[Variable] = []
    pos = 1
    if body == "/":
        return PathTemplate(source, (), (), verb)
    while pos <= len(body):
        if body.startswith("{", pos):
            close = body.find("}", pos)
            if close < 0:
                raise TemplateError(f"unclosed '{{' in {source!r}")
            inner = body[pos + 1 : close]
            name, _, pattern = inner.partition("=")
            path = tuple(name.split("."))
            if not all(_IDENT.fullmatch(p) for p in path):
                raise TemplateError(f"bad field path {name!r} in {source!r}")
            start = len(segments)
            for part in (pattern or "*").split("/"):
                if "{" in part or "}" in part:
                    raise TemplateError(f"nested variable in {source!r}")
                segments.append(_segment(part, source))
            variables.append(Variable(path, start, len(segments)))
            pos = close + 1
        else:
            nxt = body.find("/", pos)
            nxt = len(body) if nxt < 0 else nxt
            part = body[pos:nxt]
            if "{" in part or "}" in part:
                raise TemplateError(f"a variable must be a whole segment in {source!r}")
            segments.append(_segment(part, source))
            pos = nxt
        if pos < len(body) and body[pos] != "/":
            raise TemplateError(f"expected '/' at {pos} in {source!r}")
        pos += 1
    if sum(s.kind is SegmentKind.MULTI for s in segments) > 1:
        raise TemplateError(f"more than one '**' in {source!r}")
    seen = [v.field_path for v in variables]
    if len(set(seen)) != len(seen):
        raise TemplateError(f"a field is bound twice in {source!r}")
    return PathTemplate(source, tuple(segments), tuple(variables), verb)


def _split_template_verb(source: str) -> tuple[str, str]:
    # The verb follows the last '}' or '/', so a ':' inside {...} is not one.
    tail = max(source.rfind("}"), source.rfind("/"))
    colon = source.find(":", tail)
    if colon < 0:
        return source, ""
    verb = source[colon + 1 :]
    if not verb or "/" in verb:
        raise TemplateError(f"bad verb in {source!r}")
    return source[:colon], verb


def _segment(part: str, source: str) -> Segment:
    if part == "*":
        return Segment(SegmentKind.SINGLE)
    if part == "**":
        return Segment(SegmentKind.MULTI)
    if not part:
        raise TemplateError(f"empty segment in {source!r}")
    return Segment(SegmentKind.LITERAL, part)


def split_path(raw_path: str) -> list[str]:
    """Split a raw (percent-encoded, query-free) URL path into segments."""
    stripped = raw_path[1:] if raw_path.startswith("/") else raw_path
    return stripped.split("/") if stripped else []


def unescape(value: str, spec: UnescapeSpec, *, multi: bool) -> str:
    """Percent-decode one variable value per ``spec`` (a single pass, like Envoy)."""
    out = bytearray()
    pos = 0
    for m in _PERCENT.finditer(value):
        out += value[pos : m.start()].encode()
        byte = int(m.group(1), 16)
        ch = chr(byte)
        keep = (spec is UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED and ch in _RESERVED) or (
            spec is UnescapeSpec.ALL_CHARACTERS_EXCEPT_SLASH and ch == "/" and multi
        )
        out += m.group(0).encode() if keep else bytes([byte])
        pos = m.end()
    out += value[pos:].encode()
    # Decoding bytes (not chars) keeps multi-byte UTF-8 escapes like %C3%A9 whole.
    return out.decode("utf-8", errors="replace")


@dataclass
class _Node(Generic[T]):
    children: dict[tuple[SegmentKind, str], _Node[T]] = field(default_factory=dict)
    verbs: dict[str, dict[str, T]] = field(default_factory=dict)  # verb -> method -> value


class PathMatcher(Generic[T]):
    """A trie of templates; finds the value registered for (method, path)."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._verbs: set[str] = set()

    def register(self, method: str, template: PathTemplate, value: T) -> None:
        """Add a template; raises TemplateError when (method, template) is taken."""
        node = self._root
        for seg in template.segments:
            node = node.children.setdefault((seg.kind, seg.literal), _Node())
        methods = node.verbs.setdefault(template.verb, {})
        if method in methods:
            raise TemplateError(f"conflicting bindings: {method} {template.source} is registered twice")
        methods[method] = value
        if template.verb:
            self._verbs.add(template.verb)

    def lookup(self, method: str, raw_path: str) -> tuple[T, list[str], str] | None:
        """Return (value, raw segments, verb) of the best match, or None."""
        segments = split_path(raw_path)
        attempts: list[tuple[list[str], str]] = []
        if segments:
            head, colon, verb = segments[-1].rpartition(":")
            if colon and verb in self._verbs:
                attempts.append(([*segments[:-1], head], verb))
        attempts.append((segments, ""))
        for segs, verb in attempts:
            found = _lookup(self._root, segs, 0, method, verb)
            if found is not None:
                return found, segs, verb
        return None


def _lookup(node: _Node[T], segs: list[str], i: int, method: str, verb: str) -> T | None:
    if i == len(segs):
        hit = node.verbs.get(verb, {}).get(method)
        if hit is not None:
            return hit
        # A trailing '**' may match zero segments.
        multi = node.children.get((SegmentKind.MULTI, ""))
        return _lookup(multi, segs, i, method, verb) if multi else None
    for key in ((SegmentKind.LITERAL, segs[i]), (SegmentKind.SINGLE, "")):
        child = node.children.get(key)
        if child is not None:
            hit = _lookup(child, segs, i + 1, method, verb)
            if hit is not None:
                return hit
    multi = node.children.get((SegmentKind.MULTI, ""))
    if multi is not None:
        # '**' is greedy: try the longest span first, as Envoy does.
        for j in range(len(segs), i - 1, -1):
            hit = _lookup(multi, segs, j, method, verb)
            if hit is not None:
                return hit
    return None


def bind(
    template: PathTemplate, segs: list[str], spec: UnescapeSpec = UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED
) -> dict[tuple[str, ...], str] | None:
    """Match ``segs`` (raw, verb already removed) to ``template``; field path -> decoded value."""
    spans = _spans(template.segments, 0, segs, 0)
    if spans is None:
        return None
    out: dict[tuple[str, ...], str] = {}
    for var in template.variables:
        lo, hi = spans[var.start], spans[var.end]
        multi = any(s.kind is SegmentKind.MULTI for s in template.segments[var.start : var.end])
        out[var.field_path] = unescape("/".join(segs[lo:hi]), spec, multi=multi or hi - lo > 1)
    return out


def _spans(pattern: tuple[Segment, ...], p: int, segs: list[str], i: int) -> list[int] | None:
    """Backtracking match; returns the request index where each template segment starts (+ end)."""
    if p == len(pattern):
        return [i] if i == len(segs) else None
    seg = pattern[p]
    if seg.kind is SegmentKind.MULTI:
        for j in range(len(segs), i - 1, -1):
            rest = _spans(pattern, p + 1, segs, j)
            if rest is not None:
                return [i, *rest]
        return None
    if i >= len(segs) or (seg.kind is SegmentKind.LITERAL and segs[i] != seg.literal):
        return None
    rest = _spans(pattern, p + 1, segs, i + 1)
    return None if rest is None else [i, *rest]
