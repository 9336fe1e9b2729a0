"""The import rules of the layout, read from the source (every import, lazy and TYPE_CHECKING ones included).

- imports go one way: model <- aws <- ledger/checks <- services <- runtime <- handlers; the CLI calls services only;
- boto3/botocore only inside the adapters (``pushdeploy.aws``, ``pushdeploy.ledger``, ``pushdeploy.checks``);
- the emulator never imports the domain (it is an independent oracle of AWS's behaviour);
- the rehearsal's rooms go one way: proof -> rehearsal -> world -> emulator;
- no import cycles between modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import ROOT

SOURCES = {
    "pushdeploy": ROOT / "layers" / "pushdeploy" / "pushdeploy",
    "pushdeploy_cli": ROOT / "cli" / "pushdeploy_cli",
    "pushdeploy_local": ROOT / "local" / "pushdeploy_local",
}

# For each part of the domain, the parts it may import (itself always allowed).
DOMAIN_LAYERS: dict[str, set[str]] = {
    "pushdeploy.clock": set(),
    "pushdeploy.errors": set(),
    "pushdeploy.observability": set(),
    "pushdeploy.settings": {"pushdeploy.errors"},
    "pushdeploy.model": {"pushdeploy.clock", "pushdeploy.errors"},
    "pushdeploy.aws": {"pushdeploy.model", "pushdeploy.clock", "pushdeploy.errors", "pushdeploy.observability"},
    "pushdeploy.ledger": {"pushdeploy.model", "pushdeploy.clock", "pushdeploy.errors", "pushdeploy.aws"},
    "pushdeploy.checks": {
        "pushdeploy.model",
        "pushdeploy.clock",
        "pushdeploy.errors",
        "pushdeploy.aws",
        "pushdeploy.observability",
    },
    "pushdeploy.services": {
        "pushdeploy.model",
        "pushdeploy.clock",
        "pushdeploy.errors",
        "pushdeploy.aws",
        "pushdeploy.ledger",
        "pushdeploy.checks",
        "pushdeploy.observability",
        "pushdeploy.settings",
    },
    "pushdeploy.runtime": {"pushdeploy"},
    "pushdeploy": set(),  # the package's own __init__
}
CLI_MAY_IMPORT = {
    "pushdeploy.model",
    "pushdeploy.services",
    "pushdeploy.runtime",
    "pushdeploy.settings",
    "pushdeploy.errors",
    "pushdeploy.observability",
    "pushdeploy.clock",
}
BOTO_ALLOWED = ("pushdeploy.aws", "pushdeploy.ledger", "pushdeploy.checks")
LOCAL_ROOMS = ["emulator", "world", "rehearsal", "proof"]  # each may import only the rooms before it


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or package)
    line: int


def module_name(package: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for alias in node.names:
                yield Import(module, f"{base}.{alias.name}", node.lineno)
                yield Import(module, base, node.lineno)


def all_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, root in SOURCES.items():
        for path in root.rglob("*.py"):
            found[module_name(package, root, path)] = path
    for path in (ROOT / "functions").glob("*/app.py"):
        found[f"functions.{path.parent.name}.app"] = path
    return found


MODULES = all_modules()


def all_imports() -> list[Import]:
    result: list[Import] = []
    for module, path in MODULES.items():
        result += imports_of(path.read_text(), module, is_package=path.name == "__init__.py")
    return result


IMPORTS = all_imports()


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def domain_layer(name: str) -> str | None:
    candidates = [layer for layer in DOMAIN_LAYERS if within(name, layer)]
    return max(candidates, key=len) if candidates else None


# -- the checks (pure functions over a list of imports, so they can be tested on made-up imports) ------------------
def upward_domain_imports(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        source, target = domain_layer(imp.module), domain_layer(imp.target)
        if source is None or target is None or source == target or target == "pushdeploy":
            continue
        allowed = DOMAIN_LAYERS[source]
        if not any(within(target, a) for a in allowed) and "pushdeploy" not in allowed:
            problems.append(f"{imp.module}:{imp.line} imports {imp.target} ({source} may not import {target})")
    return problems


def cli_imports_outside_services(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        if not within(imp.module, "pushdeploy_cli") or not within(imp.target, "pushdeploy"):
            continue
        if imp.target == "pushdeploy" or any(within(imp.target, allowed) for allowed in CLI_MAY_IMPORT):
            continue
        problems.append(f"{imp.module}:{imp.line} imports {imp.target}: the CLI calls services, not adapters")
    return problems


def boto_outside_adapters(imports: list[Import]) -> list[str]:
    return [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in imports
        if (within(imp.target, "boto3") or within(imp.target, "botocore"))
        and (
            within(imp.module, "pushdeploy")
            or within(imp.module, "pushdeploy_cli")
            or imp.module.startswith("functions.")
        )
        and not any(within(imp.module, allowed) for allowed in BOTO_ALLOWED)
    ]


def emulator_imports_domain(imports: list[Import]) -> list[str]:
    return [
        f"{imp.module}:{imp.line} imports {imp.target}"
        for imp in imports
        if within(imp.module, "pushdeploy_local.emulator")
        and (
            within(imp.target, "pushdeploy")
            or within(imp.target, "pushdeploy_cli")
            or any(within(imp.target, f"pushdeploy_local.{room}") for room in LOCAL_ROOMS[1:])
        )
    ]


def upward_room_imports(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        for i, room in enumerate(LOCAL_ROOMS):
            if not within(imp.module, f"pushdeploy_local.{room}"):
                continue
            later = [r for r in LOCAL_ROOMS[i + 1 :] if within(imp.target, f"pushdeploy_local.{r}")]
            if later:
                problems.append(f"{imp.module}:{imp.line} imports {imp.target} ({room} may not import {later[0]})")
    return problems


def cycles(imports: list[Import], modules: set[str]) -> list[list[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def package_parents(imports: list[Import]) -> list[Import]:
    """Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too, but a package's __init__ importing its
    own submodules is not a cycle with them: only real modules count."""
    return [i for i in imports if not (i.target in i.module and MODULES.get(i.target, Path()).name == "__init__.py")]


# -- the rules hold for the project ---------------------------------------------------------------------------------
def test_the_domain_imports_one_way() -> None:
    assert upward_domain_imports(IMPORTS) == []


def test_the_cli_calls_services_never_the_ledger_or_aws_adapters() -> None:
    assert cli_imports_outside_services(IMPORTS) == []


def test_boto3_is_imported_only_by_the_adapters() -> None:
    assert boto_outside_adapters(IMPORTS) == []


def test_the_emulator_never_imports_the_domain() -> None:
    assert emulator_imports_domain(IMPORTS) == []


def test_the_rehearsal_rooms_import_one_way() -> None:
    assert upward_room_imports(IMPORTS) == []


def test_no_module_import_cycles() -> None:
    assert cycles(package_parents(IMPORTS), set(MODULES)) == []


def test_handlers_import_only_the_composition_root_and_observability() -> None:
    handler_imports = {
        i.target for i in IMPORTS if i.module.startswith("functions.") and within(i.target, "pushdeploy")
    }
    assert handler_imports <= {"pushdeploy", "pushdeploy.runtime", "pushdeploy.observability"} | {
        f"pushdeploy.observability.{name}" for name in ("logger", "metrics", "traced_handler")
    }


# -- and the checks bite: each catches a made-up violation ----------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "source", "check"),
    [
        ("pushdeploy.model.targets", "from pushdeploy.ledger import Ledger", upward_domain_imports),
        ("pushdeploy.aws.ecs", "from pushdeploy.services.starter import Starter", upward_domain_imports),
        ("pushdeploy.services.alarms", "from pushdeploy import runtime", upward_domain_imports),
        ("pushdeploy_cli.commands.status", "from pushdeploy.ledger import Ledger", cli_imports_outside_services),
        ("pushdeploy_cli.commands.deploy", "from pushdeploy.aws import codedeploy", cli_imports_outside_services),
        ("pushdeploy.model.events", "def f():\n    import boto3", boto_outside_adapters),
        ("pushdeploy.services.notify", "from botocore.exceptions import ClientError", boto_outside_adapters),
        ("pushdeploy_local.emulator.ecs", "from pushdeploy import aws", emulator_imports_domain),
        ("pushdeploy_local.emulator.ecr", "from pushdeploy_local.world import world", emulator_imports_domain),
        ("pushdeploy_local.world.engine", "from pushdeploy_local.rehearsal import runner", upward_room_imports),
    ],
)
def test_each_rule_catches_a_violation(module: str, source: str, check: object) -> None:
    made_up = list(imports_of(source, module))
    assert callable(check)
    assert check(made_up), f"{check.__name__} missed: {module}: {source}"


def test_the_cycle_check_catches_a_cycle_behind_type_checking() -> None:
    world = "if TYPE_CHECKING:\n    from pushdeploy_local.world.engine import LifecycleEngine"
    engine = "if TYPE_CHECKING:\n    from pushdeploy_local.world.world import World"
    made_up = [
        *imports_of(world, "pushdeploy_local.world.world"),
        *imports_of(engine, "pushdeploy_local.world.engine"),
    ]
    assert cycles(made_up, {"pushdeploy_local.world.world", "pushdeploy_local.world.engine"})
