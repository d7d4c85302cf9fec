# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
# `make test-quick` is the developers' subset: lint, types and the tests that need no server.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-quick install test-deps lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

clean:
	rm -rf $(VENV) var build *.egg-info
