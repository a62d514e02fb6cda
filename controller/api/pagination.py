"""Page headers of a paged list (X-Total-Count, X-Page-Count, Link), sent as initial metadata,
which both REST doors answer as response headers. The Link targets are the method's own
google.api.http path, so a list needs only its page, limit and total."""

from __future__ import annotations

import math

from google.api import annotations_pb2
from google.protobuf.descriptor import MethodDescriptor


def http_path(method: MethodDescriptor) -> str:
    """The GET path of a method's google.api.http rule (a list has no path variables)."""
    return method.GetOptions().Extensions[annotations_pb2.http].get


def page_headers(path: str, page: int, limit: int, total: int) -> tuple[tuple[str, str], ...]:
    """The headers of page `page` (from 1) of `limit` items out of `total`."""
    pages = max(1, math.ceil(total / limit))
    links = [(1, "first"), (pages, "last")]
    if page > 1:
        links.append((min(page - 1, pages), "prev"))
    if page < pages:
        links.append((page + 1, "next"))
    link = ", ".join(f'<{path}?page={p}&limit={limit}>; rel="{rel}"' for p, rel in links)
    return ("x-total-count", str(total)), ("x-page-count", str(pages)), ("link", link)
