"""`pushdeploy targets validate FILE...` works offline and lists every problem of every document: field paths,
"did you mean" for unknown keys, targets that cannot coexist, deployment configs nobody declared."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pushdeploy_cli.main import main

from tests.helpers import ROOT


def validate(capsys, *paths: Path) -> tuple[int, dict]:
    code = main(["targets", "validate", *map(str, paths), "--output", "json"])
    return code, json.loads(capsys.readouterr().out)


def readme_target() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```json\n(\{\n  \"name\": \"sample-app-prod\".*?)\n```", readme, re.S)
    assert block, "the README's target document"
    return block.group(1)


def test_the_readmes_own_target_document_is_valid(tmp_path, capsys):
    (tmp_path / "sample-app-prod.json").write_text(readme_target())

    code, answer = validate(capsys, tmp_path / "sample-app-prod.json")

    assert code == 0 and answer == {"valid": True, "targets": ["sample-app-prod"], "problems": []}


def test_five_different_errors_are_all_listed(tmp_path, capsys):
    document = json.loads(readme_target())
    document |= {"tag_pattern": "", "container_port": 99999, "on_bussy": "reject"}
    document["deployment_config"] = "CodeDeployDefault.ECSCanary10Percent5Minute"
    document["checks"]["after_allow_test_traffic"]["requests"][0]["pathh"] = "/x"
    (tmp_path / "broken.json").write_text(json.dumps(document))

    code, answer = validate(capsys, tmp_path / "broken.json")

    assert code == 2 and answer["valid"] is False
    found = {(p["field"], p["problem"].split(" (")[0].split(":")[0]) for p in answer["problems"]}
    assert found == {
        ("tag_pattern", "empty"),
        ("container_port", "Input should be less than or equal to 65535"),
        ("on_bussy", "unknown key"),
        ("checks.after_allow_test_traffic.requests.0.pathh", "unknown key"),
        ("deployment_config", "'CodeDeployDefault.ECSCanary10Percent5Minute' is neither a CodeDeploy default for ECS"),
    }
    hints = " ".join(p["problem"] for p in answer["problems"])
    assert "did you mean 'on_busy'?" in hints and "did you mean 'path'?" in hints
    assert "did you mean 'CodeDeployDefault.ECSCanary10Percent5Minutes'?" in hints


def test_two_targets_on_one_deployment_group_across_two_files(tmp_path, capsys):
    one = json.loads(readme_target())
    (tmp_path / "a.json").write_text(json.dumps(one))
    one = dict(one)
    del one["name"]
    (tmp_path / "b.yaml").write_text(f"staging: {json.dumps(one)}\n")  # the name -> target form

    code, answer = validate(capsys, tmp_path / "a.json", tmp_path / "b.yaml")

    assert code == 2
    assert [(p["target"], p["field"]) for p in answer["problems"]] == [
        ("sample-app-prod", "deployment_group"),
        ("staging", "deployment_group"),
    ]
    assert "shared with 'staging'" in answer["problems"][0]["problem"]


def test_custom_configs_declared_in_the_file_are_known(tmp_path, capsys):
    (tmp_path / "t.yaml").write_text(
        "deployment_configs: [shop.Linear25]\ntargets:\n"
        "  - {name: a, repository: shop, tag_pattern: ^main$, application: x, deployment_group: a, "
        "container_name: web, "
        "container_port: 80, deployment_config: shop.Linear25}\n"
    )

    code, answer = validate(capsys, tmp_path / "t.yaml")

    assert code == 0 and answer["targets"] == ["a"]


def test_a_file_that_is_not_targets_or_not_yaml(tmp_path, capsys):
    (tmp_path / "x.yaml").write_text("just a string\n")
    (tmp_path / "y.yaml").write_text("targets: [\n")

    code, answer = validate(capsys, tmp_path / "x.yaml")
    assert code == 2 and answer["problems"][0]["field"] == "(file)"
    code = main(["targets", "validate", str(tmp_path / "y.yaml")])
    assert code == 2 and "y.yaml:2: neither JSON nor YAML" in capsys.readouterr().out


def test_a_typo_in_a_single_document_is_named_not_taken_for_a_mapping(tmp_path, capsys):
    document = json.loads(readme_target())
    document["repositry"] = document.pop("repository")
    (tmp_path / "one.json").write_text(json.dumps(document))

    code, answer = validate(capsys, tmp_path / "one.json")

    assert code == 2 and answer["targets"] == ["sample-app-prod"]
    assert [(p["field"], p["problem"]) for p in answer["problems"]] == [
        ("repository", "Field required"),
        ("repositry", "unknown key (did you mean 'repository'?)"),
    ]


def test_the_same_file_twice_names_both_places_and_yaml_documents_are_read(tmp_path, capsys):
    one = json.loads(readme_target())
    (tmp_path / "t.yaml").write_text(json.dumps(one) + "\n---\n" + json.dumps(one | {"name": "b", "on_busy": "rejct"}))

    code, answer = validate(capsys, tmp_path / "t.yaml", tmp_path / "t.yaml")

    assert code == 2
    names = [p for p in answer["problems"] if p["field"] == "name"]
    assert len(names) == 4 and all(
        f"also in {p['target']!r} ({tmp_path / 't.yaml'} entry" in p["problem"] for p in names
    )
    assert any("did you mean 'reject'?" in p["problem"] for p in answer["problems"])
