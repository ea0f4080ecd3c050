"""What the project's command lines share: a command line argparse refuses (an unknown flag, command or choice, a
value that is not a number, a missing value) is one line on stderr, `error: ...` naming the value and what is
allowed, and exit code 2, not argparse's usage block (`--help` still prints the usage)."""
from __future__ import annotations

import argparse
import sys
from typing import NoReturn


def refuse(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


class OneLineParser(argparse.ArgumentParser):
    """argparse's parser with one-line errors; its subcommands' parsers are of the same kind."""

    def error(self, message: str) -> NoReturn:
        refuse(with_choices(self, message))


def with_choices(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's "the following arguments are required: command", with the commands allowed."""
    missing = message.partition("the following arguments are required: ")[2].split(", ")
    for action in parser._actions:
        if action.choices and action.dest in missing:
            message += f" (allowed are {', '.join(action.choices)})"
    return message
