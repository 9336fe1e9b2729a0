"""The CLI's commands that need no account: validating a targets file, --version, help, bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pushdeploy_cli.main import main

TARGET = {
    "name": "checkout-prod",
    "repository": "checkout",
    "tag_pattern": r"^v\d+\.\d+\.\d+$",
    "application": "checkout",
    "deployment_group": "checkout-prod",
    "container_name": "web",
    "container_port": 8080,
}


def write(tmp_path: Path, document: object, name: str = "targets.yaml") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_valid_file_validates_with_no_account_configured(capsys, tmp_path, monkeypatch):
    for variable in ("PUSHDEPLOY_TABLE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(variable, raising=False)
    code, out, err = run(capsys, "targets", "validate", write(tmp_path, {"targets": [TARGET]}))
    assert code == 0, err
    assert "checkout-prod" in out and "valid" in out


def test_an_invalid_target_names_target_field_and_reason_in_both_modes(capsys, tmp_path):
    bad = write(tmp_path, {"targets": [{**TARGET, "container_port": 70000}]})
    code, out, _ = run(capsys, "targets", "validate", bad)
    assert code == 2
    assert "checkout-prod" in out and "container_port" in out and "less than or equal to 65535" in out
    code, out, _ = run(capsys, "targets", "validate", bad, "--output", "json")
    assert code == 2 and json.loads(out) == {
        "valid": False,
        "targets": ["checkout-prod"],
        "problems": [
            {
                "where": f"{bad} entry 1",
                "target": "checkout-prod",
                "field": "container_port",
                "problem": "Input should be less than or equal to 65535",
            }
        ],
    }


@pytest.mark.parametrize(
    "document",
    [
        [TARGET],  # a plain list
        {"targets": [TARGET]},  # under targets:
        {"checkout-prod": {k: v for k, v in TARGET.items() if k != "name"}},  # name -> document
    ],
)
def test_the_three_file_shapes_are_accepted(capsys, tmp_path, document):
    code, out, _ = run(capsys, "targets", "validate", write(tmp_path, document), "--output", "json")
    assert code == 0 and json.loads(out) == {"valid": True, "targets": ["checkout-prod"], "problems": []}


@pytest.mark.parametrize(
    ("content", "expected"),
    [("42", "expected a target, a list of targets"), ("{unclosed: [", "targets.yaml:1: neither JSON nor YAML")],
)
def test_a_file_that_is_not_a_list_of_targets_is_bad_input_without_a_traceback(capsys, tmp_path, content, expected):
    path = tmp_path / "targets.yaml"
    path.write_text(content)
    code, out, err = run(capsys, "targets", "validate", str(path))
    assert code == 2 and expected in out + err and "Traceback" not in out + err


def test_a_missing_file_is_bad_input(capsys, tmp_path):
    code, out, _ = run(capsys, "targets", "validate", str(tmp_path / "nope.yaml"), str(tmp_path))
    assert code == 2 and "nope.yaml" in out and "cannot be read: No such file or directory" in out
    assert "Is a directory" in out  # every file is checked: one unreadable file does not stop the others


def test_version_and_exit_codes_in_help(capsys):
    with pytest.raises(SystemExit) as version:
        main(["--version"])
    assert version.value.code == 0 and capsys.readouterr().out.startswith("pushdeploy ")
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 done, 1 failed or rolled back, 2 bad input, 3 not found, 4 timed out" in help_text


def test_every_command_has_help_for_every_option_an_example_and_the_exit_codes():
    from pushdeploy_cli.main import build_parser

    def commands(parser, path=()):
        for action in parser._actions:
            if isinstance(action, __import__("argparse")._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from commands(sub, (*path, name))
        yield path, parser

    for path, parser in commands(build_parser()):
        if not path or path == ("targets",):
            continue
        undocumented = [a.dest for a in parser._actions if not a.help and a.dest != "help"]
        assert undocumented == [], f"pushdeploy {' '.join(path)}: options without help: {undocumented}"
        assert "examples:\n  pushdeploy " in parser.epilog and "exit codes: 0 done" in parser.epilog, path


def test_a_history_limit_under_one_is_bad_input(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["history", "shop-prod", "--limit", "0"])
    assert raised.value.code == 2 and "must be at least 1, not 0" in capsys.readouterr().err


def test_usage_errors_are_json_when_json_was_asked_for(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["deploy", "shop-prod", "--output", "json"])

    assert raised.value.code == 2
    assert json.loads(capsys.readouterr().out) == {
        "error": "pushdeploy deploy: one of the arguments --tag --digest is required",
        "code": 2,
    }
