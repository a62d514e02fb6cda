"""`--cors-origin`, shared by `aifarm gateway`, `aifarm up` and `aifarm envoy-config`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gateway.cors import CorsPolicy


def _policy(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> CorsPolicy:
    # Here, not at the top: gateway.cors loads aiohttp, which the commands that only declare
    # this option (an agent shares their module) must not pay for.
    from gateway.cors import CorsError, CorsPolicy

    try:
        return CorsPolicy.parse(values)
    except CorsError as exc:
        raise click.BadParameter(str(exc), param_hint="--cors-origin") from None


cors_origin_option = click.option(
    "--cors-origin", "cors_policy", multiple=True, metavar="ORIGIN", callback=_policy,
    help="Let browser pages from ORIGIN (scheme://host[:port]) call the REST API with credentials (CORS);"
         " repeatable; * allows any origin (development only, logged as such). Default: CORS off.",
)  # fmt: skip
