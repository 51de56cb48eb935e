# Two commands that work on a fresh machine with Python 3.11+:
#   make run    the webmail on http://127.0.0.1:8000 with the built-in development mail server
#   make test   the whole test suite (needs the test mail stack: `sudo make services` once)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test test-fast lint typecheck services bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	DEBUG=1 $(PY) manage.py rundemo

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not browser and not worker" -x

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy webmail accounts

services:
	bash tests/infra/mailstack.sh install
	bash tests/infra/mailstack.sh start

bench: $(STAMP)
	$(PY) bench/run.py

screenshots: $(STAMP)
	$(PY) -m tests.ux.screenshots

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .mypy_cache .ruff_cache
