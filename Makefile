# The commands people type. `make` creates the virtual environment at .venv/ itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The embedded PostgreSQL keeps its lock file here rather than in /tmp/runtime-0.
export XDG_RUNTIME_DIR ?= $(CURDIR)/.local/runtime

PORT ?= 3000

.PHONY: help install run test test-unit test-integration test-e2e lint format validate migrate bench bench-learning build clean

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

test: install  ## unit, integration (real PostgreSQL) and end-to-end tests
	$(PY) -m pytest

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

clean:  ## remove build and tool caches
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
