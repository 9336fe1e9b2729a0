"""The ``pushdeploy`` command line: argument parsing, one top-level error mapping, rendering."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from pushdeploy_cli import __version__
from pushdeploy_cli.answers import (
    BAD_INPUT,
    EXIT_CODES_HELP,
    FAILED,
    NOT_FOUND,
    OK,
    Answer,
    CommandError,
    render,
)


def _quiet_domain_logs() -> None:
    """The domain's structured logs go to stderr (stdout is the answer), warnings and worse by default."""
    from pushdeploy.observability import logger
    from pushdeploy.settings import cli_log_level

    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stderr
    logger.setLevel(cli_log_level())


def _operate(args: argparse.Namespace) -> int:
    from pushdeploy.errors import ConfigurationError, PushdeployError, StackNotFound

    from pushdeploy_cli.commands import deploy, history, release, rollback, status, targets, wait
    from pushdeploy_cli.connect import connect

    _quiet_domain_logs()
    try:
        if args.command == "targets" and args.action == "validate":
            return _show(targets.validate(args.file), args)  # local files: no account needed
        services = connect(stack=args.stack, profile=args.profile, region=args.region, config_env=args.config_env)
        commands: dict[str, Callable[[], Answer]] = {
            "targets": lambda: (
                targets.apply(services, args.file, dry_run=args.dry_run)
                if args.action == "apply"
                else targets.list_targets(services)
            ),
            "status": lambda: status.status(services, args.target),
            "history": lambda: history.history(services, args.target, args.limit),
            "deploy": lambda: deploy.deploy(
                services, args.target, tag=args.tag, digest=args.digest, config=args.config, force=args.force
            ),
            "rollback": lambda: rollback.rollback(services, args.target, to=args.to, force=args.force),
            "release": lambda: release.release(services, args.target, args.digest),
        }
        if args.command == "rollback" and not args.yes:
            plan = rollback.plan(services, args.target, to=args.to, force=args.force)
            if not _confirm(f"This will {plan}. Proceed?"):
                raise CommandError(
                    f"not confirmed: nothing changed (would {plan}; --yes to skip the question)", BAD_INPUT
                )
        answer = commands[args.command]()
        deployment_id = answer.payload.get("deployment_id") if isinstance(answer.payload, dict) else None
        if getattr(args, "wait", False) and deployment_id and answer.code == OK:
            if args.output != "json":
                render(answer, args.output)
            final = wait.wait(
                services, deployment_id, timeout=args.timeout, progress=_progress(args.output), poll_seconds=args.poll
            )
            if args.output == "json":
                final.payload = {**answer.payload, "final": final.payload}
            render(final, args.output)
            return final.code
        return _show(answer, args)
    except CommandError as exc:
        return _fail(args, str(exc), exc.code)
    except StackNotFound as exc:
        return _fail(args, f"{exc} (pass --stack or --region)", NOT_FOUND)
    except (ConfigurationError, PushdeployError) as exc:
        return _fail(args, str(exc), BAD_INPUT)
    except Exception as exc:  # noqa: BLE001 - the one mapping: every other failure is one line and an exit code
        return _unexpected(args, exc)


def _unexpected(args: argparse.Namespace, exc: Exception) -> int:
    """Any other failure (AWS's, the SDK's, ours): one line and its exit code; ``--debug`` re-raises it."""
    from pushdeploy.services.connection import explain_failure

    if getattr(args, "debug", False):
        raise exc
    message, kind = explain_failure(exc, profile=getattr(args, "profile", None), region=getattr(args, "region", None))
    return _fail(args, message, {"bad-input": BAD_INPUT, "not-found": NOT_FOUND}.get(kind, FAILED))


def _show(answer: Answer, args: argparse.Namespace) -> int:
    render(answer, args.output)
    return answer.code


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "output", "table") == "json":
        print(json.dumps({"error": message, "code": code}))
    else:
        print(f"pushdeploy {args.command}: {message}", file=sys.stderr)
    return code


def _rehearse(args: argparse.Namespace) -> int:
    from pushdeploy_cli.commands.rehearse import list_built_in, rehearse

    try:
        if args.list:
            return list_built_in()
        return rehearse(
            scenarios=args.scenario,
            report=args.report,
            quiet=args.quiet,
            then=args.then,
            run_command=main,
            seed=args.seed,
            targets=args.targets,
            world_file=args.world,
            from_stack=args.from_stack,
            profile=args.profile,
            region=args.region,
        )
    except CommandError as exc:
        print(f"pushdeploy rehearse: {exc}", file=sys.stderr)
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the one mapping: every other failure is one line and an exit code
        return _unexpected(args, exc)


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _progress(output: str) -> Any:
    seen: list[str] = []

    def show(deployment: Any) -> None:
        if output != "json" and (not seen or seen[-1] != deployment.status):
            print(f"  ... {deployment.deployment_id}: {deployment.status}", file=sys.stderr)
        seen.append(deployment.status)

    return show


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument("--profile", help="AWS profile (default credential chain otherwise)")
    parser.add_argument("--region", help="AWS region")
    parser.add_argument(
        "--stack",
        help="the pushdeploy stack whose outputs to use (default: $PUSHDEPLOY_STACK, else samconfig.toml's stack_name "
        "for --config-env, else pushdeploy)",
    )
    parser.add_argument(
        "--config-env", default="default", help="the samconfig.toml environment to take the stack name from"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pushdeploy", description="ECR push -> verified ECS blue/green deployments", epilog=EXIT_CODES_HELP
    )
    parser.add_argument("--version", action="version", version=f"pushdeploy {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an unexpected error instead of one line"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rehearse = sub.add_parser("rehearse", help="run pushdeploy end to end on this machine (no AWS account)")
    rehearse.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="FILE_OR_NAME",
        help="a scenario file or built-in name (repeatable; default: every built-in)",
    )
    rehearse.add_argument("--list", action="store_true", help="list the built-in scenarios, one line each")
    rehearse.add_argument(
        "--targets",
        action="append",
        default=[],
        metavar="FILE",
        help="rehearse your own targets (the file `targets validate|apply` takes; repeatable) instead of the sample",
    )
    rehearse.add_argument(
        "--world",
        metavar="FILE",
        help="what targets cannot say: desired count, termination wait, group alarms and their rules, the release "
        "live at the start, custom deployment configs (docs/scenarios.md)",
    )
    rehearse.add_argument(
        "--from-stack",
        metavar="STACK",
        help="rehearse production's configuration: read (read-only) the deployed stack's targets, deployment groups, "
        "configs and alarms, and build the local world from them",
    )
    rehearse.add_argument("--profile", help="AWS profile for --from-stack")
    rehearse.add_argument("--region", help="AWS region for --from-stack")
    rehearse.add_argument("--report", metavar="FILE", help="write the JSON report here")
    rehearse.add_argument(
        "--seed", type=int, metavar="N", help="repeat a run exactly (every choice the world makes follows from it)"
    )
    rehearse.add_argument("--quiet", action="store_true", help="print timelines only for failed scenarios")
    rehearse.add_argument(
        "--then",
        action="append",
        default=[],
        metavar="COMMAND",
        help="an operator command (e.g. 'status', 'rollback sample-app-prod --yes') to run after each scenario, in "
        "its virtual time; its exit code is reported and never stops the run (repeatable)",
    )
    rehearse.set_defaults(func=_rehearse)

    targets = sub.add_parser("targets", help="validate, apply and list deployment targets")
    actions = targets.add_subparsers(dest="action", required=True)
    for action, text in (
        ("validate", "check target files offline: every problem of every document"),
        ("apply", "write targets to SSM"),
    ):
        cmd = actions.add_parser(action, help=text)
        if action == "validate":
            cmd.add_argument("file", nargs="+", help="YAML or JSON: a target, a list, 'targets:', or name -> target")
        else:
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
    rollback.add_argument(
        "--force", action="store_true", help="stop even a remedy in flight (a revert or a rollback already under way)"
    )
    release = sub.add_parser("release", help="lift a digest's quarantine")
    release.add_argument("target")
    release.add_argument("digest", metavar="DIGEST|PREFIX|TAG", help="a full digest, a unique prefix, or its tag")
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
