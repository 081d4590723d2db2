# The commands a user needs: `make run`, `make test` (everything, as CI runs it) and
# `make check` (lint, types and unit tests, under a minute: the inner loop). Each sets up
# what it uses (venv, pinned pip and npm deps, Debian's chromium).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := frontend/node_modules/.package-lock.json
ARGS ?=
# Test processes (pytest-xdist); tests/conftest.py keeps each module on one worker
# and the browser modules one after another.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder
# The fast tests: no server process, no browser, no Terraform.
UNIT_TESTS := tests/chalicelib tests/chatapp/test_events.py tests/chatapp/test_management.py \
	tests/chatapp/test_motointernals.py tests/chatapp/test_streams.py

.PHONY: run test check venv site chromium lint typecheck pytest frontend-test clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

# The React site, served by `chatapp serve` from frontend/dist.
site: $(NODE_STAMP)
	cd frontend && npm run build

# Debian's chromium for the browser tests; installed only when missing and root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (install Debian's chromium)"; fi; }

run: venv site
	$(BIN)/chatapp serve $(ARGS)

lint: venv
	$(BIN)/ruff check .

# mypy: every --strict flag on chalicelib/ (what ships to Lambda), the defaults on chatapp/
# (pyproject.toml); the site is checked by tsc --noEmit in its build.
typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_PARALLEL)

frontend-test: $(NODE_STAMP)
	cd frontend && npm test

test: venv chromium site lint typecheck frontend-test pytest

check: lint typecheck
	$(BIN)/pytest -q $(PYTEST_PARALLEL) $(UNIT_TESTS)

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist .pytest_cache .ruff_cache
