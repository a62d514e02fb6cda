"""The script spec: a program run in its own working directory, and the bounds it must keep."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from taskspec.errors import SpecError

DEFAULT_ENTRYPOINT = "main.py"
INTERPRETERS = ("python", "bash")
#: Interpreter inferred from the entry point's suffix when none is given.
EXTENSIONS = {".py": "python", ".sh": "bash"}
#: Largest script source (UTF-8 bytes). Scripts are code; data belongs in datasets and artifacts.
MAX_SOURCE_BYTES = 1 << 20
#: Largest total of everything else a script spec carries (requirements, arguments, environment).
MAX_EXTRAS_BYTES = 64 << 10


@dataclass(frozen=True)
class ScriptSpec:
    """What a script task runs."""

    #: Source of the entry point.
    source: str
    #: File name the source is written to, inside the attempt's working directory.
    entrypoint: str = DEFAULT_ENTRYPOINT
    #: "python" or "bash"; "" infers it from the entry point's suffix.
    interpreter: str = ""
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    #: pip requirements (requirements.txt syntax); "" runs with the agent's own Python.
    requirements: str = ""

    def launch_interpreter(self) -> str:
        """The interpreter to run the entry point with; `SpecError` when it cannot be known."""
        interpreter = self.interpreter or EXTENSIONS.get(PurePosixPath(self.entrypoint).suffix, "")
        if not interpreter:
            raise SpecError(f"cannot infer the interpreter of {self.entrypoint!r}; set interpreter to 'python' or 'bash'")
        if interpreter not in INTERPRETERS:
            raise SpecError(f"unknown interpreter {interpreter!r}; use 'python' or 'bash'")
        return interpreter

    def validate(self) -> None:
        """Raise `SpecError` naming what is wrong: an empty source, a path as entry point, sizes over the bounds."""
        if not self.source:
            raise SpecError("script.source is empty: give the program to run")
        validate_entrypoint(self.entrypoint)
        self.launch_interpreter()
        size = len(self.source.encode("utf-8"))
        if size > MAX_SOURCE_BYTES:
            raise SpecError(
                f"script.source is {size} bytes; at most {MAX_SOURCE_BYTES} are accepted"
                " (put data in a dataset, not in the script)"
            )
        extras = sum(len(s.encode("utf-8")) for s in (self.requirements, *self.args, *self.env, *self.env.values()))
        if extras > MAX_EXTRAS_BYTES:
            raise SpecError(f"script requirements, args and env total {extras} bytes; at most {MAX_EXTRAS_BYTES}")
        for name in self.env:
            if not name or "=" in name or "\0" in name:
                raise SpecError(f"invalid environment variable name {name!r}")


def validate_entrypoint(entrypoint: str) -> str:
    """The entry point when it is a plain file name; `SpecError` for paths, '..' and empty names."""
    if (
        not entrypoint
        or entrypoint in (".", "..")
        or any(bad in entrypoint for bad in ("/", "\\", "\0"))
        or ".." in entrypoint
        or len(entrypoint) > 255
    ):
        raise SpecError(f"entrypoint {entrypoint!r} must be a plain file name (no path separators or '..')")
    return entrypoint
