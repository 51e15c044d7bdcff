# The commands people type. `make` creates the virtual environment at .venv/ itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The embedded PostgreSQL keeps its lock file here rather than in /tmp/runtime-0.
export XDG_RUNTIME_DIR ?= $(CURDIR)/.local/runtime

.PHONY: install run test test-unit test-integration test-e2e lint format validate migrate bench bench-learning build clean

$(STAMP): requirements-dev.txt layers/shared/requirements.txt functions/db_migrate/requirements.txt shared/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e shared
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	touch $@

install: $(STAMP)

run: install  ## the whole system on http://127.0.0.1:3000 (embedded PostgreSQL unless DATABASE_URL)
	$(PY) -m local.run

.PHONY: fire
fire: install  ## fire a schedule of the running `make run` now: make fire NAME=DailyGenerateFunction (no NAME: list)
	$(PY) -m local.fire $(NAME)

test: install  ## unit, integration (real PostgreSQL) and end-to-end tests
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .

validate: install  ## cfn-lint on the SAM template
	$(VENV)/bin/cfn-lint template.yaml

migrate: install  ## Alembic upgrade on DATABASE_URL, or on the embedded default
	$(VENV)/bin/viral migrate

bench: install  ## speed and memory targets; results in bench/results/
	$(PY) -m bench

bench-learning: install  ## the reflexion learning proof alone (bench/results/learning.json and learning.png)
	$(PY) -m bench learning

build: install  ## layers and functions for python3.13/arm64 without Docker, with the 150 MB check
	$(PY) scripts/build.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
