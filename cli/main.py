"""The `aifarm` command: run the farm's parts and talk to a running farm."""

from __future__ import annotations

import importlib

import click

from cli.client_commands import add_client_commands

#: Commands imported only when run (or listed by --help): `aifarm agent` should load neither
#: the gateway's code nor Envoy's config writer; each costs a long-running process megabytes.
_LAZY_COMMANDS = {
    "up": "cli.run_commands:up",
    "controller": "cli.run_commands:controller",
    "agent": "cli.run_commands:agent",
    "gateway": "cli.run_commands:gateway",
    "envoy-config": "cli.envoy_command:envoy_config",
    "slurm": "cli.slurm_commands:slurm",
    "client-process": "agent.client_process.command:client_process",
}


class _LazyGroup(click.Group):
    """click's documented pattern for lazily loaded subcommands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, attr = _LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """aifarm: a control plane for GPU and AI compute farms."""


add_client_commands(main)

if __name__ == "__main__":
    main()
