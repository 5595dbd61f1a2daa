"""A scenario's outcome: its figures and the problems it found (none, when syncs held)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    name: str
    title: str
    size: str
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problems

    def check(self, ok: bool, problem: str) -> bool:
        """Note ``problem`` unless ``ok``; returns ``ok``."""
        if not ok:
            self.problems.append(problem)
        return ok

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


Scenario = Callable[[bool], Result]


def timed(scenario: Callable[[Result, bool], None], name: str, title: str) -> Scenario:
    """The scenario as a function of its size (``small``: the ``make test`` version) that
    always returns its result, an unexpected error in the suite itself included."""

    def run(small: bool = False) -> Result:
        result = Result(name, title, "small" if small else "full")
        clock = time.monotonic()
        try:
            scenario(result, small)
        except Exception as error:  # the suite's own failure is a finding, not a crash
            result.problems.append(f"the scenario stopped: {type(error).__name__}: {error}")
        result.seconds = round(time.monotonic() - clock, 1)
        return result

    run.__name__ = name
    run.__doc__ = scenario.__doc__
    return run


def main_of(run: Scenario) -> None:
    """``python -m reliability.NAME [--small]``: one scenario alone, its result printed."""
    parser = argparse.ArgumentParser(prog=f"python -m reliability.{run.__name__}")
    parser.add_argument("--small", action="store_true", help="the make test version")
    args = parser.parse_args()
    result = run(args.small)
    print(json.dumps(result.as_dict(), indent=2, default=str))
    raise SystemExit(0 if result.passed else 1)
