"""A pytest plugin that makes torch unimportable, as on a controller installed without it.

    python -m pytest -p tests.without_torch tests/controller

Every `import torch` (or of a submodule) raises ModuleNotFoundError, as it
does where torch is not installed; at the end of the session the run fails if
any torch module got loaded all the same. It acts in the pytest process only:
a test that starts a subprocess checks that process itself.
"""

from __future__ import annotations

import importlib.abc
import sys
from types import ModuleType
from typing import Sequence

import pytest


class TorchBlocker(importlib.abc.MetaPathFinder):
    """First on `sys.meta_path`: refuses torch before any finder could find the installed one."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        if fullname == "torch" or fullname.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {fullname!r} (torch is blocked by tests.without_torch)",
                                      name=fullname)  # fmt: skip
        return None


def torch_modules() -> list[str]:
    return sorted(name for name in sys.modules if name == "torch" or name.startswith("torch."))


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    # Before any conftest or test module is imported, so none of them can load torch first.
    if loaded := torch_modules():
        raise pytest.UsageError(f"torch was imported before tests.without_torch could block it: {loaded[:5]}")
    sys.meta_path.insert(0, TorchBlocker())


def pytest_report_header() -> str:
    return "torch: blocked (tests.without_torch)"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if loaded := torch_modules():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"tests.without_torch: torch modules were loaded all the same: {loaded[:5]}"
        if reporter is not None:
            reporter.write_line(message, red=True)
        else:
            print(message, file=sys.stderr)
