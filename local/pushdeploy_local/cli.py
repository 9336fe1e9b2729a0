"""The ``pushdeploy`` command line: the local rehearsal (and the operator commands)."""

from __future__ import annotations

import argparse
import json
import logging
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
            for command in args.then:
                import shlex

                print(f"\n$ pushdeploy {command}")
                main(shlex.split(command))
    finally:
        world.stop()
    passed = sum(r.passed for r in results)
    print(f"\nrehearsal: {passed} passed, {len(results) - passed} failed in {time.perf_counter() - started:.1f} s")
    if args.report:
        Path(args.report).write_text(json.dumps([r.report for r in results], indent=2, default=str))
        print(f"report written to {args.report}")
    return 0 if passed == len(results) else 1


def _render(answer: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(answer.payload, indent=2, default=str))
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=answer.title)
        for column in answer.columns:
            table.add_column(column)
        for row in answer.rows:
            table.add_row(*[str(v) for v in row])
        Console().print(table)
        return
    print(answer.title)
    widths = [max([len(c)] + [len(str(r[i])) for r in answer.rows]) for i, c in enumerate(answer.columns)]
    print("  ".join(c.ljust(w) for c, w in zip(answer.columns, widths, strict=True)).rstrip())
    for row in answer.rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _operate(args: argparse.Namespace) -> int:
    import os

    from pushdeploy.observability import logger

    from pushdeploy_local import operator

    for handler in logger.handlers:  # the domain's structured logs go to stderr: stdout is the answer
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stderr
    logger.setLevel(os.environ.get("PUSHDEPLOY_CLI_LOG_LEVEL", "WARNING"))
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = args.region
    try:
        operator.configure_from_stack(args.stack)
        if args.command == "targets":
            answer = {
                "validate": lambda: operator.targets_validate(args.file),
                "apply": lambda: operator.targets_apply(args.file, dry_run=args.dry_run),
                "list": operator.targets_list,
            }[args.action]()
        elif args.command == "status":
            answer = operator.status(args.target)
        elif args.command == "history":
            answer = operator.history(args.target, args.limit)
        elif args.command == "deploy":
            answer = operator.deploy(
                args.target, tag=args.tag, digest=args.digest, config=args.config, force=args.force
            )
        elif args.command == "rollback":
            if not args.yes and not _confirm(f"Roll back {args.target}" + (f" to {args.to}" if args.to else "") + "?"):
                print("pushdeploy rollback: not confirmed (use --yes)", file=sys.stderr)
                return operator.BAD_INPUT
            answer = operator.rollback(args.target, to=args.to)
        else:
            answer = operator.release(args.target, args.digest)
        deployment_id = (answer.payload or {}).get("deployment_id") if isinstance(answer.payload, dict) else None
        if getattr(args, "wait", False) and deployment_id and answer.code == operator.OK:
            if args.output != "json":
                _render(answer, args.output)
            final = operator.wait(
                deployment_id, timeout=args.timeout, progress=_progress(args.output), poll_seconds=args.poll
            )
            if args.output == "json":
                final.payload = {**answer.payload, "final": final.payload}
            _render(final, args.output)
            return final.code
        _render(answer, args.output)
        return answer.code
    except operator.OperatorError as exc:
        if args.output == "json":
            print(json.dumps({"error": str(exc), "code": exc.code}))
        else:
            print(f"pushdeploy {args.command}: {exc}", file=sys.stderr)
        return exc.code


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _progress(output: str) -> Any:
    seen: list[str] = []

    def show(info: dict[str, Any]) -> None:
        status = str(info.get("status"))
        if output != "json" and (not seen or seen[-1] != status):
            print(f"  ... {info.get('deploymentId')}: {status}", file=sys.stderr)
        seen.append(status)

    return show


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument("--profile", help="AWS profile (default credential chain otherwise)")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument("--stack", default="pushdeploy", help="the pushdeploy stack whose outputs to use")


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
    rehearse.add_argument(
        "--then",
        action="append",
        default=[],
        metavar="COMMAND",
        help="an operator command to run against the environment after each scenario",
    )
    rehearse.set_defaults(func=_rehearse)

    targets = sub.add_parser("targets", help="validate, apply and list deployment targets")
    actions = targets.add_subparsers(dest="action", required=True)
    for action, text in (("validate", "check a YAML file of targets"), ("apply", "write targets to SSM")):
        cmd = actions.add_parser(action, help=text)
        cmd.add_argument("file")
        if action == "apply":
            cmd.add_argument("--dry-run", action="store_true")
        _add_common(cmd)
    _add_common(actions.add_parser("list", help="targets in SSM, with their validity"))
    status = sub.add_parser("status", help="what serves production, what is deploying, what waits")
    status.add_argument("target", nargs="?")
    history = sub.add_parser("history", help="releases of a target, newest first")
    history.add_argument("target")
    history.add_argument("--limit", type=int, default=20)
    deploy = sub.add_parser("deploy", help="deploy an image through the same path as a push")
    deploy.add_argument("target")
    image = deploy.add_mutually_exclusive_group(required=True)
    image.add_argument("--tag")
    image.add_argument("--digest")
    deploy.add_argument("--config", help="deployment config name (overrides the target's)")
    deploy.add_argument("--force", action="store_true", help="deploy even if already deployed or quarantined")
    rollback = sub.add_parser("rollback", help="stop the active deployment, or go back to known-good")
    rollback.add_argument("target")
    rollback.add_argument("--to", metavar="DIGEST|TAG")
    rollback.add_argument("--yes", action="store_true")
    release = sub.add_parser("release", help="lift a digest's quarantine")
    release.add_argument("target")
    release.add_argument("digest")
    for cmd in (status, history, deploy, rollback, release):
        _add_common(cmd)
    for cmd in (deploy, rollback):
        cmd.add_argument("--wait", action="store_true", help="wait for the deployment's final status")
        cmd.add_argument("--timeout", type=float, default=3600)
        cmd.add_argument("--poll", type=float, default=10, help=argparse.SUPPRESS)
    for cmd in (targets, status, history, deploy, rollback, release):
        cmd.set_defaults(func=_operate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: Any = args.func(args)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
