# ModelRelay - one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
export PATH := $(CURDIR)/$(BIN):$(PATH)
# The product package (src/modelrelay) is installed editable; the emulator is put on the path here.
export PYTHONPATH := $(CURDIR)/sandbox
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/dev.lock | sha1sum | cut -c1-12)
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cat requirements/sam.lock | sha1sum | cut -c1-12)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements/checkov.lock | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.installed
MODELRELAY_SANDBOX_PORT ?= 5055
IAM_USAGE_LOG := $(CURDIR)/.sandbox/iam-usage/make-test.jsonl


.PHONY: help install format lock build sandbox-build routes validate lint typecheck test test-unit test-integration test-e2e demo sandbox sandbox-up sandbox-down bench clean redrive rollback

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

# Every environment installs from a lock file (make lock writes them); the product package is installed
# editable, so its import root is declared once (pyproject.toml).
$(STAMP): pyproject.toml requirements/dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*; touch $@

$(SAM_STAMP): requirements/sam.lock
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	# SAM CLI pins its own pydantic/boto3, so it lives in its own virtualenv.
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/sam.lock
	rm -f $(SAM_VENV)/.installed-*; touch $@

# checkov pins its own boto3/networkx/pydantic ranges: it lives in its own virtualenv, like SAM CLI.
$(CHECKOV_STAMP): requirements/checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.lock
	rm -f $(CHECKOV_VENV)/.installed-*; touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --silent
	touch $@

install: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) ## Create the virtualenvs and install everything (idempotent)

build: $(STAMP) $(SAM_STAMP) ## sam build (no Docker: cross-platform wheels for arm64 / python3.13)
	$(SAM) build

validate: $(STAMP) $(SAM_STAMP) $(NODE_STAMP) $(CHECKOV_STAMP) ## sam validate --lint, cfn-lint + serverless rules, checkov, asl-validator, routes
	$(SAM) validate --lint
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
	# checkov: 0 failed checks; what is deliberately not done carries an inline skip with its reason (template.yaml).
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact 2>/dev/null
	$(BIN)/python statemachines/promotion.py --check
	npx --no-install asl-validator --json-path statemachines/promotion.asl.json
	$(BIN)/python -m modelrelay.check_routes config/routes.json
	$(BIN)/python -m modelrelay.check_routes sandbox/routes.json
	$(BIN)/python -m modelrelay.derive --check
	# The spoke stack (pull mode): the same lint, and its forwarding rule derived from the same routes.
	$(SAM) validate --lint -t spoke/template.yaml
	$(BIN)/cfn-lint --append-rules cfn_lint_serverless.rules -- spoke/template.yaml
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov -f spoke/template.yaml --framework cloudformation --quiet --compact 2>/dev/null
	$(BIN)/python -m modelrelay.derive --check --partial --template spoke/template.yaml

routes: $(STAMP) ## Derive template.yaml's approval rule groups and bucket parameters (and spoke/template.yaml's groups) from config/routes.json
	$(BIN)/python -m modelrelay.derive --write
	$(BIN)/python -m modelrelay.derive --write --partial --template spoke/template.yaml

lint: $(STAMP) ## ruff (lint, and the formatter in check mode)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Format the code (ruff format) and apply ruff's safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: $(STAMP) ## Re-resolve the lock files (dev, SAM CLI, the Lambda layer for python3.13/arm64)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --no-header -q -o requirements/dev.lock
	$(BIN)/uv pip compile requirements/sam.in --python-version 3.11 --no-header -q -o requirements/sam.lock
	$(BIN)/uv pip compile requirements/checkov.in --python-version 3.11 --no-header -q -o requirements/checkov.lock
	$(BIN)/uv pip compile layers/modelrelay/requirements.in -c requirements/dev.lock --python-version 3.13 \
		--python-platform aarch64-manylinux2014 --no-header -q -o layers/modelrelay/requirements.lock

typecheck: $(STAMP) ## mypy
	$(BIN)/mypy src/modelrelay functions sandbox/modelrelay_sandbox statemachines/promotion.py

test-unit: $(STAMP) ## Unit tests (no AWS)
	$(BIN)/pytest -q tests/unit

test-integration: $(STAMP) ## Integration tests: real template, ASL and handlers on the moto sandbox
	$(BIN)/pytest -q tests/integration

test-e2e: $(STAMP) ## End-to-end: the sandbox over HTTP, like a user
	$(BIN)/pytest -q tests/e2e

test: install lint typecheck validate build sandbox-build ## Everything CI runs: lint, types, template/ASL checks, sam build, all tests
	# moto's state and the emulator's settings are per process: the product's sandbox (unit, integration, e2e),
	# the emulator's own tests (each module its own server) and the operator command's sandbox run apart.
	# IAM is enforced in every sandbox; the decisions of this run are logged, then checked for grants no run used.
	rm -f $(IAM_USAGE_LOG)
	MODELRELAY_SANDBOX_IAM_LOG=$(IAM_USAGE_LOG) $(BIN)/pytest -q -n 2 --dist loadfile tests \
		--ignore=tests/ops --ignore=tests/sandbox --ignore=tests/iam_usage
	$(BIN)/pytest -q -n 2 --dist loadfile tests/sandbox
	MODELRELAY_SANDBOX_IAM_LOG=$(IAM_USAGE_LOG) $(BIN)/pytest -q tests/ops
	MODELRELAY_SANDBOX_IAM_LOG=$(IAM_USAGE_LOG) $(BIN)/pytest -q tests/iam_usage

sandbox-build: $(STAMP) $(SAM_STAMP) ## sam build with the sandbox's routes, into .sandbox/build
	@echo "sam build (sandbox routes) -> .sandbox/build"
	@MODELRELAY_ROUTES_FILE=$(CURDIR)/sandbox/routes.json $(SAM) build --build-dir .sandbox/build > .sandbox-build.log 2>&1 \
		|| { cat .sandbox-build.log; exit 1; }

demo: install sandbox-build ## The main job, locally: sandbox up, scenario with a timeline, sandbox down
	$(BIN)/python -m modelrelay_sandbox.demo

sandbox: install sandbox-build ## Start the sandbox in the foreground (Ctrl-C stops it)
	$(BIN)/python -m modelrelay_sandbox.cli run --port $(MODELRELAY_SANDBOX_PORT)

sandbox-up: install sandbox-build ## Start the sandbox detached; returns when ready (.sandbox/outputs.json)
	$(BIN)/python -m modelrelay_sandbox.cli up --port $(MODELRELAY_SANDBOX_PORT)

sandbox-down: ## Stop the detached sandbox and its child processes (found by its port if its files are gone)
	$(BIN)/python -m modelrelay_sandbox.cli down --port $(MODELRELAY_SANDBOX_PORT)

bench: install ## Benchmarks (1 GiB validation memory, API calls/transitions of a promotion, API calls vs registry size, imports, load, a 1,000-approval burst)
	$(BIN)/python bench/bench_artifact_memory.py --size-mib 1024
	$(BIN)/python bench/bench_promotion.py --route mme
	$(BIN)/python bench/bench_promotion.py --route endpoint
	$(BIN)/python bench/bench_registry_scale.py
	$(BIN)/python bench/bench_imports.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_burst.py --packages 1000 --groups 500

# Operator actions are the `modelrelay` command (`modelrelay --help`); these two targets call it.
# TARGET: STACK=<stack name> (AWS, usual region/profile) or SANDBOX=1 (.sandbox/outputs.json).
MODELRELAY_TARGET = $(if $(SANDBOX),--sandbox,--stack-name "$(or $(STACK),modelrelay)")

redrive: $(STAMP) ## Re-drive a DLQ: make redrive QUEUE=approval|ingest [STACK=name | SANDBOX=1]
	$(BIN)/modelrelay $(MODELRELAY_TARGET) redrive "$(QUEUE)"

rollback: $(STAMP) ## Roll a group back to its previous approved version: make rollback GROUP=... [STACK=name | SANDBOX=1]
	$(BIN)/modelrelay $(MODELRELAY_TARGET) rollback "$(GROUP)"

clean: ## Remove build output and sandbox state
	rm -rf .aws-sam .sandbox .pytest_cache .mypy_cache .ruff_cache
