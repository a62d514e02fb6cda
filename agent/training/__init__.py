"""Torch training that the agent runs in a worker subprocess.

`spec` (no torch) is shared with the agent's training runner; `models`, `data`
and `loop` run inside the worker (`python -m agent.training.worker`).
"""
