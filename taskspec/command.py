"""The command spec: a program run straight from its argv, no shell and no interpreter, and its bounds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from taskspec.errors import SpecError

#: Largest total of a command's argv, environment and working directory (UTF-8 bytes): a command
#: line, not a place for data (that belongs in a dataset).
MAX_COMMAND_BYTES = 64 << 10


@dataclass(frozen=True)
class CommandSpec:
    """What a command task runs."""

    #: The program, then its arguments; passed to exec as they are.
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    #: Relative to the attempt's working directory; "" is that directory.
    working_directory: str = ""

    @property
    def program(self) -> str:
        return self.argv[0] if self.argv else ""

    def validate(self) -> None:
        """Raise `SpecError` naming what is wrong: no program, NUL bytes, a directory outside the attempt's, sizes."""
        if not self.argv or not self.argv[0]:
            raise SpecError("command.argv is empty: give the program to run, then its arguments"
                            " (e.g. [\"echo\", \"hello\"])")  # fmt: skip
        for i, arg in enumerate(self.argv):
            if "\0" in arg:
                raise SpecError(f"command.argv[{i}] holds a NUL byte, which no program can be given; remove it")
        for name, value in self.env.items():
            if not name or "=" in name or "\0" in name:
                raise SpecError(f"invalid environment variable name {name!r} in command.env")
            if "\0" in value:
                raise SpecError(f"command.env[{name!r}] holds a NUL byte; remove it")
        working_directory_parts(self.working_directory)
        size = sum(len(s.encode("utf-8")) for s in (*self.argv, *self.env, *self.env.values(), self.working_directory))
        if size > MAX_COMMAND_BYTES:
            raise SpecError(f"command argv, env and working_directory total {size} bytes; at most {MAX_COMMAND_BYTES}"
                            " (put data in a dataset, not on the command line)")  # fmt: skip


def working_directory_parts(path: str) -> tuple[str, ...]:
    """The path's parts below the attempt's working directory; `SpecError` for one that is absolute or leaves it."""
    if "\0" in path or "\\" in path:
        raise SpecError(f"command.working_directory {path!r} must be a relative POSIX path (no NUL or backslash)")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise SpecError(f"command.working_directory {path!r} must stay inside the task's own working directory:"
                        " give a relative path without '..' (or leave it empty)")  # fmt: skip
    return tuple(part for part in pure.parts if part != ".")
