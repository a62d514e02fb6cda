"""The `aifarm` command: run the farm's parts and talk to a running farm."""

from __future__ import annotations

import click

from cli.client_commands import add_client_commands
from cli.envoy_command import envoy_config
from cli.run_commands import agent, controller, gateway, up


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """aifarm: a control plane for GPU and AI compute farms."""


main.add_command(up)
main.add_command(controller)
main.add_command(agent)
main.add_command(gateway)
main.add_command(envoy_config)
add_client_commands(main)

if __name__ == "__main__":
    main()
