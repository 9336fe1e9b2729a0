"""The ``pushdeploy`` command line: the local rehearsal (and the operator commands)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _rehearse(args: argparse.Namespace) -> int:
    from pushdeploy_local import scenarios
    from pushdeploy_local.world import World

    try:
        chosen = (
            [scenarios.load(s) for s in args.scenario]
            if args.scenario
            else [scenarios.load(str(p)) for p in scenarios.built_in()]
        )
    except scenarios.ScenarioError as exc:
        print(f"pushdeploy rehearse: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    world = World().start()
    results = []
    try:
        for scenario in chosen:
            begun = time.perf_counter()
            result = scenarios.run(world, scenario)
            results.append(result)
            mark = "PASS" if result.passed else "FAIL"
            print(
                f"\n=== {mark} {scenario.name} ({time.perf_counter() - begun:.1f} s)"
                + (f" - {scenario.description}" if scenario.description else "")
            )
            if not args.quiet or not result.passed:
                for line in result.timeline:
                    print(f"  {line}")
            production = result.report["production"]
            print(f"  production: {production['tag']} {production['image'][:19]}")
            for failure in result.failures:
                print(f"  expected: {failure}")
    finally:
        world.stop()
    passed = sum(r.passed for r in results)
    print(f"\nrehearsal: {passed} passed, {len(results) - passed} failed in {time.perf_counter() - started:.1f} s")
    if args.report:
        Path(args.report).write_text(json.dumps([r.report for r in results], indent=2, default=str))
        print(f"report written to {args.report}")
    return 0 if passed == len(results) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pushdeploy", description="ECR push -> verified ECS blue/green deployments")
    sub = parser.add_subparsers(dest="command", required=True)
    rehearse = sub.add_parser("rehearse", help="run pushdeploy end to end on this machine (no AWS account)")
    rehearse.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="FILE_OR_NAME",
        help="a scenario file or built-in name (repeatable; default: every built-in)",
    )
    rehearse.add_argument("--report", metavar="FILE", help="write the JSON report here")
    rehearse.add_argument("--quiet", action="store_true", help="print timelines only for failed scenarios")
    rehearse.set_defaults(func=_rehearse)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: Any = args.func(args)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
