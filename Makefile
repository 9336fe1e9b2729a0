# pushdeploy - the two commands a newcomer needs are `make rehearse` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.13: use a 3.13 interpreter when the machine has one (pyenv included).
PY313 := $(shell for p in $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3 2>/dev/null) $$(command -v python3.13); do "$$p" -c '' 2>/dev/null && echo "$$p" && break; done)
PYTHON ?= $(if $(PY313),$(PY313),python3)
VENV := .venv
SAM_VENV := .venv-sam
BIN := $(VENV)/bin
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

$(BIN)/.installed: requirements-dev.txt layers/pushdeploy/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	set -o pipefail; $(BIN)/pip install --quiet -r requirements-dev.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	set -o pipefail; $(BIN)/pip install --quiet --no-deps -e . 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

# SAM CLI pins older boto3/pydantic: it gets its own environment so it never downgrades ours.
$(SAM_VENV)/bin/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	set -o pipefail; $(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

.PHONY: help install rehearse test lint typecheck template build unit integration e2e bench chaos clean
help:
	@echo "make rehearse   run pushdeploy end to end on this machine (no AWS account)"
	@echo "make test       install everything, lint, type-check, check the template, run the tests"

install: $(BIN)/.installed

rehearse: $(BIN)/.installed
	$(BIN)/pushdeploy rehearse

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

template: $(BIN)/.installed $(SAM_VENV)/bin/.installed
	$(BIN)/cfn-lint template.yaml examples/sample-service/template.yaml examples/native-service/template.yaml
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml

# sam build needs the python3.13 interpreter on PATH (the venv's own is one).
build: $(BIN)/.installed $(SAM_VENV)/bin/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(SAM_VENV)/bin/sam build --template template.yaml --parallel

test: lint typecheck template build
	$(BIN)/pytest -q

unit integration e2e: $(BIN)/.installed
	$(BIN)/pytest -q tests/$@

# checkov pins an old boto3: its own environment, like SAM CLI.
.venv-checkov/bin/.installed: requirements-checkov.txt
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	set -o pipefail; .venv-checkov/bin/pip install --quiet -r requirements-checkov.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $@

bench: $(BIN)/.installed
	$(BIN)/python -m pushdeploy_local.proof.bench

chaos: $(BIN)/.installed .venv-checkov/bin/.installed
	$(BIN)/python -m pushdeploy_local.proof.chaos

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
