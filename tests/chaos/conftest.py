"""The chaos suite's fixtures: a farm per test, and the figures table printed at the end of the run."""

from __future__ import annotations

from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from chaos_parts import Farm, Figures

FIGURES = pytest.StashKey[Figures]()


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> Figures:
    return pytestconfig.stash.setdefault(FIGURES, Figures())


@pytest.fixture
def make_farm(tmp_path: Path) -> Iterator[Callable[..., Farm]]:
    """Start a farm below tmp_path (controller flags as arguments); every farm made is closed after the test."""
    farms: list[Farm] = []

    def make(*controller_flags: str, name: str = "farm") -> Farm:
        farm = Farm.start(tmp_path / name, *controller_flags)
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, None)
    if figures is None or not figures.rows:
        return
    terminalreporter.write_sep("-", "chaos figures (README, How it works → Chaos)")
    for line in figures.table():
        terminalreporter.write_line(line)
