"""``python -m reliability [NAME ...] [--small]``: the scenarios, their results written to
``reliability/results.json`` and ``reliability/results.md``."""

from __future__ import annotations

import argparse
import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from reliability import (
    exhaustion,
    faulted_sync,
    fuzz,
    kills,
    malformed,
    parallel,
    secrets_scan,
    webhooks,
)
from reliability.result import Result

SCENARIOS = {
    m.run.__name__: m.run
    for m in (faulted_sync, kills, parallel, malformed, webhooks, fuzz, exhaustion, secrets_scan)
}
HERE = Path(__file__).resolve().parent


def markdown(results: list[Result], when: str) -> str:
    lines = [
        f"# Reliability results ({when})",
        "",
        "| scenario | size | passed | seconds | figures |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for r in results:
        shown = {
            k: v
            for k, v in r.figures.items()
            if not isinstance(v, list | dict)
            or k.endswith(("phase", "mode", "statuses", "kills", "home"))
        }
        lines.append(
            f"| {r.title} | {r.size} | {'yes' if r.passed else 'NO'} | {r.seconds} | {json.dumps(shown, default=str)} |"
        )
    for r in results:
        if r.problems:
            lines += ["", f"## Problems: {r.title}", ""] + [f"- {p}" for p in r.problems]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability")
    parser.add_argument(
        "names", nargs="*", choices=[[], *SCENARIOS], help="scenarios (all by default)"
    )
    parser.add_argument("--small", action="store_true", help="the make test sizes")
    args = parser.parse_args()
    names = args.names or list(SCENARIOS)
    results = []
    for name in names:
        print(f"{name} ...", flush=True)
        result = SCENARIOS[name](args.small)
        print(
            f"{name}: {'passed' if result.passed else 'FAILED'} in {result.seconds} s", flush=True
        )
        for problem in result.problems:
            print(f"  {problem[:500]}", flush=True)
        results.append(result)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    document = {
        "when": when,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
        "python": sys.version.split()[0],
        "scenarios": [r.as_dict() for r in results],
    }
    (HERE / "results.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    (HERE / "results.md").write_text(markdown(results, when))
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
