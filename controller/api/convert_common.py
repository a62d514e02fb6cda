"""Conversions shared by every resource: timestamps and page tokens."""

from __future__ import annotations

import base64

from google.protobuf import timestamp_pb2

from controller.domain.errors import InvalidArgument


def timestamp(seconds: float) -> timestamp_pb2.Timestamp | None:
    """A Timestamp, or None for 0 (unset) so the field stays absent."""
    if not seconds:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def seconds(ts: timestamp_pb2.Timestamp) -> float:
    return ts.ToNanoseconds() / 1e9


#: Page tokens are short; the largest offset one can hold fits SQLite's 64-bit integers with room to spare.
MAX_TOKEN_CHARS = 64
MAX_OFFSET = 1 << 53


def page_bounds(page_size: int, page_token: str, *, default: int, maximum: int) -> tuple[int, int]:
    """(offset, limit) from AIP-158 paging fields; the token is an opaque offset."""
    if page_size < 0:
        raise InvalidArgument("page_size must not be negative")
    limit = min(page_size or default, maximum)
    if not page_token:
        return 0, limit
    invalid = InvalidArgument(f"invalid page_token {page_token[:64]!r}; pass one from next_page_token")
    if len(page_token) > MAX_TOKEN_CHARS:
        raise invalid
    try:
        offset = int(base64.urlsafe_b64decode(page_token.encode()).decode().removeprefix("o:"))
    except (ValueError, UnicodeError) as exc:
        raise invalid from exc
    # A token only ever holds a row offset or sequence number; anything larger is forged.
    if not 0 <= offset <= MAX_OFFSET:
        raise invalid
    return offset, limit


def offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def next_page_token(offset: int, limit: int, returned: int, total: int | None = None) -> str:
    end = offset + returned
    if returned < limit or (total is not None and end >= total):
        return ""
    return offset_token(end)


def resource_id(name: str, collection: str) -> str:
    """'tasks/abc' -> 'abc' (a bare 'abc' is accepted too); clear error otherwise."""
    prefix = f"{collection}/"
    rest = name[len(prefix) :] if name.startswith(prefix) else name
    if not rest or "/" in rest:
        raise InvalidArgument(f"invalid resource name {name!r}: expected '{collection}/{{id}}'")
    return rest
