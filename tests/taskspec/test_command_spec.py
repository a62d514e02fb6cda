"""The command spec's bounds, and its round trip through the wire message."""

from __future__ import annotations

import pytest

from taskspec.command import MAX_COMMAND_BYTES, CommandSpec, working_directory_parts
from taskspec.errors import SpecError
from taskspec.proto import command_from_proto, command_to_proto


def test_a_plain_command_is_valid_and_round_trips() -> None:
    spec = CommandSpec(argv=("echo", "a b", "$HOME"), env={"K": "v=w"}, working_directory="out/run")
    spec.validate()
    assert command_from_proto(command_to_proto(spec)) == spec


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (CommandSpec(argv=()), "command.argv is empty"),
        (CommandSpec(argv=("",)), "command.argv is empty"),
        (CommandSpec(argv=("echo", "x\0")), "command.argv[1] holds a NUL byte"),
        (CommandSpec(argv=("true",), env={"A=B": "x"}), "invalid environment variable name"),
        (CommandSpec(argv=("true",), env={"A": "\0"}), "command.env['A'] holds a NUL byte"),
        (CommandSpec(argv=("true",), working_directory="/tmp"), "must stay inside"),
        (CommandSpec(argv=("true",), working_directory="../up"), "without '..'"),
        (CommandSpec(argv=("true",), working_directory="a\\b"), "relative POSIX path"),
        (CommandSpec(argv=("echo", "x" * MAX_COMMAND_BYTES)), f"at most {MAX_COMMAND_BYTES}"),
    ],
)
def test_what_is_refused_says_why(spec: CommandSpec, words: str) -> None:
    with pytest.raises(SpecError) as err:
        spec.validate()
    assert words in str(err.value)


def test_working_directory_parts_stay_below() -> None:
    assert working_directory_parts("") == ()
    assert working_directory_parts("./a/./b/") == ("a", "b")
