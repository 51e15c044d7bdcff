# The commands people type. `make` creates the virtual environment at .venv/ itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The SAM CLI pins older boto3/pydantic/click than the project: it lives in a venv of its own.
VENV_SAM := .venv-sam
SAM_STAMP := $(VENV_SAM)/.installed-stamp
RDS_CA_URL := https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
# The embedded PostgreSQL keeps its lock file here rather than in /tmp/runtime-0.
export XDG_RUNTIME_DIR ?= $(CURDIR)/.local/runtime

PORT ?= 3000

.PHONY: help install run test test-unit test-integration test-e2e lint format validate migrate bench bench-learning bench-loop simulate build clean rds-ca python3.13

help:  ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## /\1\t/' | awk -F '\t' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.txt layers/shared/requirements.txt functions/db_migrate/requirements.txt shared/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e shared
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	touch $@

install: $(STAMP)  ## the virtual environment in .venv (the other commands do it themselves)

run: install  ## the whole system on http://127.0.0.1:3000 (PORT=3100 for another port; embedded PostgreSQL)
	$(PY) -m local.run --port $(PORT)

.PHONY: fire
fire: install  ## fire a schedule of the running `make run` now: make fire NAME=DailyGenerateFunction (no NAME: list)
	$(PY) -m local.fire $(NAME)

# Two workers (one per core here); a test file stays on one worker, so the end-to-end files each keep their runtime.
TEST_WORKERS ?= 2

test: install  ## unit, integration (real PostgreSQL) and end-to-end tests
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-unit: install  ## unit tests only (no database)
	$(PY) -m pytest tests/unit

test-integration: install  ## integration tests (real PostgreSQL, moto, fake vendors)
	$(PY) -m pytest tests/integration

test-e2e: install  ## end-to-end tests against `python -m local.run` (incl. the contract fuzz run)
	$(PY) -m pytest tests/e2e

lint: install  ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install  ## ruff's automatic fixes
	$(VENV)/bin/ruff check --fix .

$(SAM_STAMP): requirements-sam.txt
	test -x $(VENV_SAM)/bin/python || $(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

# cfn-lint with the informational checks on the template as CloudFormation receives it (the SAM CLI's cfn-lint
# carries the SAM translator), then `sam validate --lint`; both offline. Findings we accept are waived in the
# template (Metadata cfn-lint ignore_checks) with the reason beside them.
validate: install  ## cfn-lint (informational checks included) and sam validate --lint on template.yaml
	@if $(MAKE) --no-print-directory $(SAM_STAMP); then \
		$(VENV_SAM)/bin/cfn-lint template.yaml --include-checks I && \
		SAM_CLI_TELEMETRY=0 $(VENV_SAM)/bin/sam validate --lint --template template.yaml --region us-east-1; \
	else \
		echo "validate: the SAM CLI could not be installed; sam validate is skipped and cfn-lint runs without the SAM transform" >&2; \
		$(VENV)/bin/cfn-lint template.yaml --include-checks I; \
	fi

rds-ca:  ## AWS's RDS CA bundle into the shared layer (layers/shared/certs/), for DatabaseCaBundle / verify-full
	curl -fsSL --retry 2 -o layers/shared/certs/rds-global-bundle.pem $(RDS_CA_URL)

python3.13:  ## a python3.13 for `make build`'s bytecode, from the distribution's packages when it has one
	@if python3.13 -V >/dev/null 2>&1; then echo "python3.13: $$(command -v python3.13)"; \
	elif apt-cache policy python3.13 2>/dev/null | grep -q 'Candidate: [0-9]'; then apt-get install -y python3.13; \
	else echo "no python3.13 package here (Debian 12 has none): install one and set PYTHON313=/path/to/python3.13;" \
		"make build finds pyenv's by itself" >&2; fi

migrate: install  ## Alembic upgrade on DATABASE_URL, or on the embedded default
	$(VENV)/bin/viral migrate

bench: install  ## speed and memory targets; results in bench/results/
	$(PY) -m bench

bench-learning: install  ## the reflexion learning proof alone (bench/results/learning.json and learning.png)
	$(PY) -m bench learning

bench-loop: install  ## the closed loop: 30 simulated days, 3 accounts, 3 posts a day, faults (bench/results/loop.json)
	$(PY) -m bench loop

DAYS ?= 7
simulate: install  ## a simulated run of the autonomous business: make simulate DAYS=30 (report in .local/simulations/)
	$(PY) -m local.simulation --days $(DAYS)

build: install  ## layers and functions for python3.13/arm64 (with its bytecode) without Docker, with the 150 MB check
	$(PY) scripts/build.py

clean:  ## remove build and tool caches
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
