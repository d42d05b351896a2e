# The two entry points of a fresh machine: `make demo` and `make test`.
# Everything they need (a virtualenv with the package and its dev tools) is made here.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SOURCES = src tests scripts examples bench
# What the job runs with, hashed (the Jenkinsfile installs exactly this); `make lock` refreshes it.
RUNTIME = requirements/runtime.txt
# Exact versions of every tool and library the tests use; `make lock` refreshes them.
LOCK    = requirements/dev.txt
PIN     = --quiet --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: demo test lint typecheck unit install lock mutation readme clean

# The job's own dependencies only, checked against their hashes, then the package itself built with
# the pinned setuptools (no build isolation): nothing unpinned enters the venv.
$(BIN)/.runtime: pyproject.toml $(RUNTIME)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(RUNTIME)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The test tools on top.
$(BIN)/.installed: $(BIN)/.runtime $(LOCK)
	$(BIN)/pip install --quiet -r $(LOCK)
	touch $@

install: $(BIN)/.installed

## Run the job end to end on the demo data against the reference server on loopback.
demo: $(BIN)/.runtime
	$(BIN)/python scripts/demo.py

## Lint, type-check and run every test (unit and end-to-end) under branch coverage.
test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(BIN)/.installed
	$(BIN)/mypy

# The tests run on every core (pytest-xdist; `make unit JOBS=1` runs them one at a time).
# Coverage counts the xdist workers and the CLI and server subprocesses too
# ([tool.coverage.run] patch); the report fails under the floor in [tool.coverage.report].
JOBS ?= auto
unit: $(BIN)/.installed
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -q -n $(JOBS)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

## Re-resolve the pinned versions from pyproject.toml (commit the changed requirements/*.txt).
lock: $(BIN)/.installed
	$(BIN)/pip-compile $(PIN) --upgrade --extra dev -o $(LOCK) pyproject.toml
	$(BIN)/pip-compile $(PIN) --generate-hashes --constraint $(LOCK) -o $(RUNTIME) \
		pyproject.toml requirements/build.in
	$(BIN)/pip-compile $(PIN) --upgrade --extra dev --extra mutation --constraint $(LOCK) \
		-o requirements/mutation.txt pyproject.toml

## Regenerate the README's console sessions from real runs (a test checks they are current).
readme: $(BIN)/.runtime
	$(BIN)/python scripts/readme_sessions.py --write

## Mutation testing of the core (slow; not part of `make test`): see docs/testing.md.
mutation: $(BIN)/.installed
	$(BIN)/pip install --quiet -r requirements/mutation.txt
	$(BIN)/python scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* build/mutation
