# The two commands a user needs: `make run` and `make test`. Both set up
# everything they use (venv, pinned pip and npm deps, Debian's chromium).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=

.PHONY: run test venv site chromium lint pytest frontend-test clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

# Builds the React site when the frontend exists (served by `chatapp serve`).
site:
	@if [ -f frontend/package.json ]; then \
	  (cd frontend && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build); \
	else echo "frontend/ not present yet: serving without the site"; fi

# Debian's chromium for the browser tests; installed only when missing and root.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: browser tests will be skipped (install Debian's chromium)"; fi; }

run: venv site
	@if [ -f chatapp/cli.py ]; then $(BIN)/chatapp serve $(ARGS); \
	else echo "The local runtime (chatapp) is not there yet."; fi

lint: venv
	$(BIN)/ruff check .

pytest: venv
	$(BIN)/pytest

frontend-test:
	@if [ -f frontend/package.json ]; then cd frontend && npm test; fi

test: venv chromium site lint frontend-test pytest

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist .pytest_cache .ruff_cache
