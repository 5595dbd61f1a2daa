"""Argument types for the ``syncs`` command: numbers refused with one line when out of range."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``; argparse names the option in its error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"takes a whole number from {low:,} to {high:,}, got {text!r}"
            )
        return value

    return parse


def seconds(low: float, high: float) -> Callable[[str], float]:
    """A number of seconds above ``low`` and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not low < value <= high:
            raise argparse.ArgumentTypeError(
                f"takes a number of seconds above {low:g} and at most {high:g}, got {text!r}"
            )
        return value

    return parse


PORT = whole_number(0, 65_535)
RECORDS = whole_number(0, 10_000_000)
