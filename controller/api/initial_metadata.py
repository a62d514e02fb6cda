"""A servicer's context that adds metadata to the first initial metadata the call sends, so an
interceptor's headers (X-Request-Id, X-RateLimit-*) and the servicer's own go out together."""

from __future__ import annotations

from typing import Any, Sequence

import grpc

Metadata = Sequence[tuple[str, str | bytes]]


class AddingContext:
    """Wraps `context`; `send_initial_metadata()` with no argument sends only what is added (a
    no-op once something was sent), for the interceptor to call when the servicer sent nothing."""

    def __init__(self, context: grpc.aio.ServicerContext, added: Metadata) -> None:
        self._context = context
        self._added = added
        self._sent = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    async def send_initial_metadata(self, metadata: Metadata = ()) -> None:
        if not self._sent:
            self._sent = True
            await self._context.send_initial_metadata((*self._added, *metadata))
