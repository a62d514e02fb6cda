"""`aifarm envoy-config`: write envoy.yaml and the descriptor set for Envoy as the REST door."""

from __future__ import annotations

from pathlib import Path

import click

from cli.cors_option import cors_origin_option
from gateway.cors import CorsPolicy
from gateway.envoy import DESCRIPTOR_FILE, EnvoyTls, split_address, write_envoy_config
from gateway.listeners import LISTENERS, default_binds
from gateway.server import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_UPLOAD_BYTES

_SERVED = [lst.name for lst in LISTENERS if lst.services and lst.side == "controller"]


def _address(value: str, param_hint: str) -> tuple[str, int]:
    try:
        return split_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


def _listens(values: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """``NAME=HOST:PORT`` items; none given: every listener with services at its documented port."""
    if not values:
        return default_binds()
    binds: dict[str, tuple[str, int]] = {}
    for item in values:
        name, sep, address = item.partition("=")
        if not sep or name not in _SERVED:
            raise click.BadParameter(
                f"expected NAME=HOST:PORT with NAME one of {', '.join(_SERVED)}, got {item!r}", param_hint="--listen"
            )
        binds[name] = _address(address, "--listen")
    return binds


@click.command("envoy-config")
@click.option("--controller", "controller_address", required=True, envvar="AIFARM_CONTROLLER", metavar="HOST:PORT",
              help="The controller's gRPC address, as Envoy will reach it.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory for envoy.yaml and the descriptor set.")
@click.option("--listen", "listens", multiple=True, metavar="NAME=HOST:PORT",
              help=f"A REST listener to serve, repeatable; without any: {', '.join(_SERVED)} on 0.0.0.0 "
                   "at the documented ports.")
@click.option("--admin", metavar="HOST:PORT", help="Serve Envoy's admin interface here (keep it on loopback).")
@click.option("--descriptor-path", metavar="PATH",
              help=f"How envoy.yaml names the descriptor set (default: the absolute path of OUT/{DESCRIPTOR_FILE}); "
                   "a relative path is resolved against Envoy's working directory.")
@click.option("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20, show_default=True,
              help="Largest JSON request body; larger ones are answered 413.")
@click.option("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_BYTES / 2**20, show_default=True,
              help="Largest unary upload (a google.api.HttpBody request body), buffered, 413 beyond; also Envoy's"
                   " limit on unary replies. Streamed uploads (client-streaming methods) pass unbuffered: the"
                   " controller's --max-upload-mb answers 413 for them.")
@click.option("--controller-ca", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="Speak TLS to the controller, checking its certificate against this CA (the farm's pki/ca.crt)"
                   " and the --controller host.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="Serve HTTPS with this certificate chain (with --tls-key), e.g. the farm's pki/server.crt.")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), metavar="FILE",
              help="The private key of --tls-cert.")
@cors_origin_option
def envoy_config(
    controller_address: str,
    out_dir: Path,
    listens: tuple[str, ...],
    admin: str | None,
    descriptor_path: str | None,
    max_body_mb: float,
    max_upload_mb: float,
    controller_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    cors_policy: CorsPolicy,
) -> None:
    """Write an Envoy config that serves the REST API in front of a controller.

    The listeners, routes and transcoder services come from the same table and
    descriptors as the Python gateway. Run it with `envoy -c OUT/envoy.yaml`.
    """
    _address(controller_address, "--controller")
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    path = write_envoy_config(
        out_dir,
        controller_address,
        _listens(listens),
        admin=_address(admin, "--admin") if admin else None,
        descriptor_path=descriptor_path,
        max_body_bytes=int(max_body_mb * 2**20),
        max_upload_bytes=int(max_upload_mb * 2**20),
        tls=EnvoyTls.from_files(controller_ca, tls_cert, tls_key),
        cors=cors_policy,
    )
    if cors_policy.any_origin:
        click.echo("warning: CORS allows every origin, with credentials (--cors-origin '*'): for development only",
                   err=True)  # fmt: skip
    click.echo(f"wrote {path} and {out_dir / DESCRIPTOR_FILE}; check it with: envoy --mode validate -c {path}")
