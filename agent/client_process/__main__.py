"""``python -m agent.client_process``: the same command as ``aifarm client-process``."""

from agent.client_process.command import client_process

client_process(prog_name="python -m agent.client_process")
