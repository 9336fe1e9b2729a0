"""What a command answers (rows for a table, a JSON-able payload, an exit code) and how it is shown.

Exit codes: 0 done, 1 the operation failed (a deployment failed or was rolled back), 2 bad input,
3 not found (unknown target, no known-good release, unknown image), 4 timed out waiting.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from pushdeploy.model.results import Result

OK, FAILED, BAD_INPUT, NOT_FOUND, TIMED_OUT = 0, 1, 2, 3, 4
EXIT_CODES_HELP = "exit codes: 0 done, 1 failed or rolled back, 2 bad input, 3 not found, 4 timed out"


@dataclass
class Answer:
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    payload: Any = None
    code: int = OK


class CommandError(Exception):
    """An expected failure: one line for the operator, and the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def result_answer(title: str, result: Result, code: int) -> Answer:
    """A domain Result (outcome, deployment, reason) as a one-row answer."""
    return Answer(
        title,
        ["outcome", "deployment", "reason"],
        [[result.outcome, result.deployment_id or "-", result.reason]],
        result.as_dict(),
        code,
    )


def render(answer: Answer, output: str) -> None:
    if output == "json":
        print(json.dumps(answer.payload, indent=2, default=str))
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        if not answer.rows:
            Console().print(answer.title)
            return
        table = Table(title=answer.title)
        for column in answer.columns:
            table.add_column(column, overflow="fold")  # a digest wraps onto the next line, never cut
        for row in answer.rows:
            table.add_row(*[str(v) for v in row])
        Console().print(table)
        return
    print(answer.title)
    if not answer.rows:
        return
    widths = [max([len(c)] + [len(str(r[i])) for r in answer.rows]) for i, c in enumerate(answer.columns)]
    print("  ".join(c.ljust(w) for c, w in zip(answer.columns, widths, strict=True)).rstrip())
    for row in answer.rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
