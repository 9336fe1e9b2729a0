"""The ``pushdeploy`` command line: argument parsing, one top-level error mapping, rendering."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import sys
from collections.abc import Callable, Iterator
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
        if args.command == "targets" and args.action == "validate":  # local files: no account needed
            online = None
            if args.online:

                def online() -> Any:
                    return connect(
                        stack=args.stack, profile=args.profile, region=args.region, config_env=args.config_env
                    )

            return _show(targets.validate(args.file, online), args)
        services = connect(stack=args.stack, profile=args.profile, region=args.region, config_env=args.config_env)
        commands: dict[str, Callable[[], Answer]] = {
            "targets": lambda: (
                targets.apply(services, args.file, dry_run=args.dry_run)
                if args.action == "apply"
                else targets.diff(services, args.file)
                if args.action == "diff"
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
            with _progress(args.output, services) as progress:
                final = wait.wait(
                    services,
                    deployment_id,
                    timeout=args.timeout,
                    progress=progress,
                    poll_seconds=args.poll,
                    follow_rollback=args.command == "rollback",
                )
            if args.output == "json":
                final.payload = {**answer.payload, "final": final.payload}
            render(final, args.output)
            return final.code
        return _show(answer, args)
    except CommandError as exc:
        return _fail(args, str(exc), exc.code)
    except StackNotFound as exc:
        from pushdeploy.services.connection import region_in_use

        region = region_in_use()
        where = f" in {region}" if region else ""
        return _fail(args, f"{exc}{where}: pass --stack (or --config-env) or --region", NOT_FOUND)
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
            parse_command=lambda argv: build_parser().parse_args(argv),
            seed=args.seed,
            targets=args.targets,
            world_file=args.world,
            from_stack=args.from_stack,
            profile=args.profile,
            region=args.region,
            shell=args.shell,
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


@contextlib.contextmanager
def _progress(output: str, services: Any) -> Iterator[Any]:
    """What ``--wait`` shows while it waits: on a terminal, a live line (rich) with the deployment's status, the
    hooks that reported and the production traffic; otherwise one line per status change on stderr."""
    if output == "json":
        yield None
        return
    if not sys.stderr.isatty():
        seen: list[str] = []

        def line(deployment: Any) -> None:
            if not seen or seen[-1] != deployment.status:
                print(f"  ... {deployment.deployment_id}: {deployment.status}", file=sys.stderr)
            seen.append(deployment.status)

        yield line
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status("waiting for CodeDeploy ...") as shown:

        def live(deployment: Any) -> None:
            try:
                active = services.inspection.progress(deployment)
                hooks = ", ".join(f"{k} {v}" for k, v in active.hooks.items()) or "no hook has reported yet"
                traffic = f"; production {active.traffic}" if active.traffic else ""
                step = f" at {active.step}" if active.step else ""
            except Exception:  # noqa: BLE001 - the progress line is a courtesy: the wait goes on without it
                hooks, traffic, step = "", "", ""
            shown.update(f"{deployment.deployment_id} {deployment.status}{step}: {hooks}{traffic}")

        yield live


EXAMPLES = {
    "rehearse": [
        "pushdeploy rehearse --list",
        "pushdeploy rehearse --scenario alarm-during-canary --seed 7",
        "pushdeploy rehearse --targets targets.yaml --world world.yaml --scenario my-incident.yaml",
        "pushdeploy rehearse --scenario busy-queue-latest --shell   # then type commands into the world",
    ],
    "targets": ["pushdeploy targets validate targets.yaml", "pushdeploy targets apply targets.yaml --dry-run"],
    "validate": [
        "pushdeploy targets validate targets.yaml staging.json --output json",
        "pushdeploy targets validate targets.yaml --online --config-env prod",
    ],
    "apply": ["pushdeploy targets apply targets.yaml --dry-run --config-env dev"],
    "diff": ["pushdeploy targets diff targets.yaml --config-env dev"],
    "list": ["pushdeploy targets list --config-env dev"],
    "status": ["pushdeploy status", "pushdeploy status shop-prod --output json"],
    "history": ["pushdeploy history shop-prod --limit 5"],
    "deploy": [
        "pushdeploy deploy shop-prod --tag v2.4.1 --wait",
        "pushdeploy deploy shop-prod --digest sha256:... --config CodeDeployDefault.ECSAllAtOnce",
    ],
    "rollback": [
        "pushdeploy rollback shop-prod            # asks first, saying what will happen",
        "pushdeploy rollback shop-prod --to v2.3.0 --yes --wait",
    ],
    "release": ["pushdeploy release shop-prod v2.4.1", "pushdeploy release shop-prod 3f9a1c"],
}


def _usage_errors_as_json(parser: argparse.ArgumentParser) -> None:
    """With ``--output json`` a usage error is a JSON object too (exit 2), for the scripts that asked for JSON."""

    def error(message: str, _parser: argparse.ArgumentParser = parser) -> Any:
        print(json.dumps({"error": f"{_parser.prog}: {message}", "code": BAD_INPUT}))
        sys.exit(BAD_INPUT)

    parser.error = error  # type: ignore[method-assign]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _usage_errors_as_json(sub)


def count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _epilog(command: str) -> str:
    examples = "\n  ".join(EXAMPLES[command])
    return f"examples:\n  {examples}\n\n{EXIT_CODES_HELP}"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", choices=("table", "json"), default="table", help="a table, or JSON for scripts")
    parser.add_argument("--profile", help="AWS profile (default credential chain otherwise)")
    parser.add_argument("--region", help="AWS region (default: the profile's, or samconfig.toml's for --config-env)")
    parser.add_argument(
        "--stack",
        help="the pushdeploy stack whose outputs to use (default: $PUSHDEPLOY_STACK, else samconfig.toml's stack_name "
        "for --config-env, else pushdeploy)",
    )
    parser.add_argument(
        "--config-env", default="default", help="the samconfig.toml environment to take the stack name from"
    )
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of a failure"
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
    rehearse = sub.add_parser(
        "rehearse",
        help="run pushdeploy end to end on this machine (no AWS account)",
        epilog=_epilog("rehearse"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    rehearse.add_argument(
        "--shell",
        action="store_true",
        help="after the scenarios, keep the world up and take operator commands from the terminal (virtual time)",
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

    targets = sub.add_parser(
        "targets",
        help="validate, apply and list deployment targets",
        epilog=_epilog("targets"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = targets.add_subparsers(dest="action", required=True)
    for action, text in (
        ("validate", "check target files offline: every problem of every document"),
        ("apply", "write targets to SSM"),
        ("diff", "what apply would change, field by field (read-only)"),
    ):
        cmd = actions.add_parser(
            action, help=text, epilog=_epilog(action), formatter_class=argparse.RawDescriptionHelpFormatter
        )
        if action == "validate":
            cmd.add_argument("file", nargs="+", help="YAML or JSON: a target, a list, 'targets:', or name -> target")
            cmd.add_argument(
                "--online",
                action="store_true",
                help="also check the account: deployment groups, deployment configs, repositories and alarms exist",
            )
        else:
            cmd.add_argument("file", help="YAML or JSON: a target, a list, 'targets:', or name -> target")
        if action == "apply":
            cmd.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
        _add_common(cmd)
    _add_common(
        actions.add_parser(
            "list",
            help="targets in SSM, with their validity",
            epilog=_epilog("list"),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    status = sub.add_parser(
        "status",
        help="what serves production, what is deploying, what waits",
        epilog=_epilog("status"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("target", nargs="?", help="one target (default: every target)")
    history = sub.add_parser(
        "history",
        help="releases of a target, newest first",
        epilog=_epilog("history"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    history.add_argument("target", help="the target's name (pushdeploy targets list)")
    history.add_argument("--limit", type=count, default=20, help="how many releases (default 20)")
    deploy = sub.add_parser(
        "deploy",
        help="deploy an image through the same path as a push",
        epilog=_epilog("deploy"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    deploy.add_argument("target", help="the target's name (pushdeploy targets list)")
    image = deploy.add_mutually_exclusive_group(required=True)
    image.add_argument("--tag", help="an image tag in the target's repository")
    image.add_argument("--digest", help="an image digest (sha256:...) in the target's repository")
    deploy.add_argument("--config", help="deployment config name (overrides the target's)")
    deploy.add_argument("--force", action="store_true", help="deploy even if already deployed or quarantined")
    rollback = sub.add_parser(
        "rollback",
        help="stop the active deployment, or go back to known-good",
        epilog=_epilog("rollback"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rollback.add_argument("target", help="the target's name (pushdeploy targets list)")
    rollback.add_argument(
        "--to", metavar="DIGEST|PREFIX|TAG", help="a succeeded release to go back to (default: KNOWN_GOOD)"
    )
    rollback.add_argument("--yes", action="store_true", help="do not ask (the question says what will happen)")
    rollback.add_argument(
        "--force", action="store_true", help="stop even a remedy in flight (a revert or a rollback already under way)"
    )
    release = sub.add_parser(
        "release",
        help="lift a digest's quarantine",
        epilog=_epilog("release"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    release.add_argument("target", help="the target's name (pushdeploy targets list)")
    release.add_argument("digest", metavar="DIGEST|PREFIX|TAG", help="a full digest, a unique prefix, or its tag")
    for cmd in (status, history, deploy, rollback, release):
        _add_common(cmd)
    for cmd in (deploy, rollback):
        cmd.add_argument("--wait", action="store_true", help="wait for the deployment's final status")
        cmd.add_argument("--timeout", type=seconds, default=3600, help="seconds to wait (default 3600), then exit 4")
        cmd.add_argument("--poll", type=float, default=10, help=argparse.SUPPRESS)
    for cmd in (targets, status, history, deploy, rollback, release):
        cmd.set_defaults(func=_operate)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if "json" in {value for flag, value in itertools.pairwise(words) if flag == "--output"} or (
        "--output=json" in words
    ):
        _usage_errors_as_json(parser)
    args = parser.parse_args(words)
    result: Any = args.func(args)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
