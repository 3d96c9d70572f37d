"""The command line's flag helpers: numbers checked as they are parsed, flags refused with the
reason, and usage errors in one line.

Every refusal here is one line on stderr and exit status 2, like the library's TinyMTPError that
main.py prints: `number_parser` checks a number's range where argparse reads it; `retired_heads_flag`
and `no_curriculum` turn a flag a command does not take into a sentence saying what to do instead
(argparse alone would say only "unrecognized arguments"). Plain argparse, no torch: `--help` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def number_parser(convert, is_ok, requirement: str):
    """An argparse `type=` that converts a flag's text and checks its range, with a one-line message."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if convert is int else ''}number, got '{text}'") from None
        if not is_ok(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {text}")
        return value

    return parse


positive_int = number_parser(int, lambda v: v > 0, "must be a positive number")
positive_float = number_parser(float, lambda v: v > 0, "must be a positive number")
non_negative_float = number_parser(float, lambda v: v >= 0, "must not be negative")


def retired_heads_flag(text: str):
    """generate's old --heads K (heads 2..K draft) said draft size in heads; --draft-len says it in tokens."""
    raise argparse.ArgumentTypeError(f"--heads is now --draft-len (tokens drafted per round): --heads {text} is "
                                     f"--draft-len {int(text) - 1 if text.isdigit() else 'N'}")


def no_curriculum(text: str):
    """distill has no --curriculum: a curriculum schedules which heads learn from a training run's first step."""
    raise argparse.ArgumentTypeError(f"distill takes no curriculum ({text}): a curriculum schedules the heads of a "
                                     "training run from its first step, so it belongs to `train --curriculum`")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (not the usage block) and exits with 2."""

    def error(self, message):
        print(f"error: {message} (see: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)
