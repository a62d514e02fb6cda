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
* Only literals may follow ``**`` (Envoy refuses ``*`` or ``**`` after it), and
  ``:`` appears only before the verb.
* A request's last segment is split at its last ':' when the text after it is
  a verb some registered template uses (with any HTTP method), and then only
  templates with that verb can match; otherwise the ':' stays in the segment
  (so ``/v1/files/a:b`` binds ``{name}`` to ``a:b``). Trailing empty segments
  (``/v1/tasks/``) are dropped.
* Among several matching templates the search is depth first: a literal
  segment beats ``*``, which beats ``**`` (Envoy's trie order). ``**`` takes one
  segment at a time and tries the literal segments after it first; it matches
  zero segments only at the end of a template.
* A variable bound to one segment (``{var}``, ``{var=*}``) is fully
  percent-decoded. A variable spanning several (``{var=**}``, ``{var=a/*}``) is
  decoded per :class:`UnescapeSpec`; the default is Envoy's
  ``ALL_CHARACTERS_EXCEPT_RESERVED``: RFC 6570 reserved characters, ``%2F``
  among them, stay encoded.
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
        if verb:
            raise TemplateError(f"a verb needs a segment before it in {source!r}")
        return PathTemplate(source, (), (), verb)
    while pos <= len(body):
        if body.startswith("{", pos):
            close = body.find("}", pos)
            if close < 0:
                raise TemplateError(f"unclosed '{{' in {source!r}")
            inner = body[pos + 1 : close]
            name, eq, pattern = inner.partition("=")
            if eq and not pattern:
                raise TemplateError(f"empty pattern in {{{inner}}} of {source!r}")
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
    multi = next((i for i, s in enumerate(segments) if s.kind is SegmentKind.MULTI), len(segments))
    if any(s.kind is not SegmentKind.LITERAL for s in segments[multi + 1 :]):
        raise TemplateError(f"only literal segments may follow '**' in {source!r}")
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
    if not verb or "/" in verb or ":" in verb:
        raise TemplateError(f"bad verb in {source!r}")
    return source[:colon], verb


def _segment(part: str, source: str) -> Segment:
    if part == "*":
        return Segment(SegmentKind.SINGLE)
    if part == "**":
        return Segment(SegmentKind.MULTI)
    if not part:
        raise TemplateError(f"empty segment in {source!r}")
    if ":" in part or part.startswith("*"):
        raise TemplateError(f"bad segment {part!r} in {source!r}")
    return Segment(SegmentKind.LITERAL, part)


def split_path(raw_path: str) -> list[str]:
    """Split a raw (percent-encoded, query-free) URL path into segments.

    Trailing empty segments are dropped (``/a/`` is ``/a``), as Envoy does.
    """
    stripped = raw_path[1:] if raw_path.startswith("/") else raw_path
    parts = stripped.split("/") if stripped else []
    while parts and not parts[-1]:
        parts.pop()
    return parts


def unescape(value: str, spec: UnescapeSpec, *, multi: bool) -> str:
    """Percent-decode one variable value (a single pass, like Envoy).

    ``spec`` applies to multi-segment values only; a single segment is always
    fully decoded (Envoy's ExtractBindingsFromPath).
    """
    out = bytearray()
    pos = 0
    for m in _PERCENT.finditer(value):
        out += value[pos : m.start()].encode()
        byte = int(m.group(1), 16)
        ch = chr(byte)
        keep = multi and (
            (spec is UnescapeSpec.ALL_CHARACTERS_EXCEPT_RESERVED and ch in _RESERVED)
            or (spec is UnescapeSpec.ALL_CHARACTERS_EXCEPT_SLASH and ch == "/")
        )
        out += m.group(0).encode() if keep else bytes([byte])
        pos = m.end()
    out += value[pos:].encode()
    # Decoding bytes (not chars) keeps multi-byte UTF-8 escapes like %C3%A9 whole.
    return out.decode("utf-8", errors="replace")


@dataclass
class _Node(Generic[T]):
    children: dict[tuple[SegmentKind, str], _Node[T]] = field(default_factory=dict)
    verbs: dict[str, dict[str, T]] = field(default_factory=dict)  # verb -> method ("*": any) -> value
    wildcard: bool = False  # reached through '**': may take more segments

    def result(self, method: str, verb: str) -> T | None:
        methods = self.verbs.get(verb, {})
        return methods.get(method, methods.get("*"))


_SINGLE = (SegmentKind.SINGLE, "")
_MULTI = (SegmentKind.MULTI, "")


class PathMatcher(Generic[T]):
    """A trie of templates; finds the value registered for (method, path)."""

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._verbs: set[str] = set()
        self._methods: set[str] = set()

    def register(self, method: str, template: PathTemplate, value: T) -> None:
        """Add a template; raises TemplateError when (method, template) is taken."""
        node = self._root
        for seg in template.segments:
            node = node.children.setdefault((seg.kind, seg.literal), _Node(wildcard=seg.kind is SegmentKind.MULTI))
        methods = node.verbs.setdefault(template.verb, {})
        if method in methods:
            raise TemplateError(f"conflicting bindings: {method} {template.source} is registered twice")
        methods[method] = value
        self._methods.add(method)
        if template.verb:
            self._verbs.add(template.verb)

    @property
    def methods(self) -> frozenset[str]:
        """Every HTTP method some template is registered with."""
        return frozenset(self._methods)

    def lookup(self, method: str, raw_path: str) -> tuple[T, list[str], str] | None:
        """Return (value, raw segments, verb) of the best match, or None."""
        path, verb = raw_path, ""
        colon = raw_path.rfind(":")
        if colon > raw_path.rfind("/") and raw_path[colon + 1 :] in self._verbs:
            path, verb = raw_path[:colon], raw_path[colon + 1 :]
        segs = split_path(path)
        found = _lookup(self._root, segs, 0, method, verb)
        return None if found is None else (found, segs, verb)


def _lookup(node: _Node[T], segs: list[str], i: int, method: str, verb: str) -> T | None:
    """Envoy's PathMatcherNode::LookupPath: depth first, literal before '*' before '**'."""
    while True:
        if i == len(segs):
            hit = node.result(method, verb)
            multi = node.children.get(_MULTI)
            # A trailing '**' may match zero segments.
            return hit if hit is not None or multi is None else multi.result(method, verb)
        child = node.children.get((SegmentKind.LITERAL, segs[i]))
        if child is not None:
            hit = _lookup(child, segs, i + 1, method, verb)
            if hit is not None:
                return hit
        if not node.wildcard:
            break
        i += 1  # '**' takes this segment too; only literals can follow it
    for key in (_SINGLE, _MULTI):
        child = node.children.get(key)
        if child is not None:
            hit = _lookup(child, segs, i + 1, method, verb)
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
        # Zero segments only at the end of the template, as in the matcher.
        for j in range(len(segs), i - (p == len(pattern) - 1), -1):
            rest = _spans(pattern, p + 1, segs, j)
            if rest is not None:
                return [i, *rest]
        return None
    if i >= len(segs) or (seg.kind is SegmentKind.LITERAL and segs[i] != seg.literal):
        return None
    rest = _spans(pattern, p + 1, segs, i + 1)
    return None if rest is None else [i, *rest]
