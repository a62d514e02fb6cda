"""The `aifarm` command: run the farm's parts and talk to a running farm."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """aifarm: a control plane for GPU and AI compute farms."""


if __name__ == "__main__":
    main()
