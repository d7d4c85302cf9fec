# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
# `make test-quick` is the developers' subset: lint, types and the tests that need no server.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-quick install test-deps lint bench lock clean

# Installs the versions of constraints.txt (`make lock` writes it), the same on every machine.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/derogation-intake demo

test-deps: $(STAMP)
	@bash scripts/install-test-deps.sh

test: test-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

# No Dovecot, no SMTP server, no PostgreSQL (SQLite only), nothing marked slow; CI runs `test`.
QUICK := not dovecot and not smtp and not postgres and not slow

test-quick: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -m "$(QUICK)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: test-deps
	$(BIN)/python -m tests.bench.run

# After a change of dependencies in pyproject.toml: resolve them afresh in a throwaway
# environment, pin what was installed in constraints.txt and list the licences in NOTICE.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet '.[test]'
	$(LOCK_VENV)/bin/pip freeze --exclude-editable | grep -iv '^derogation-intake' > constraints.txt
	$(LOCK_VENV)/bin/python scripts/notice.py NOTICE
	rm -rf $(LOCK_VENV) build

clean:
	rm -rf $(VENV) var build *.egg-info
