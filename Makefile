# The two entry points of a fresh machine: `make demo` and `make test`.
# Everything they need (a virtualenv with the package and its dev tools) is made here.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
SOURCES = src tests scripts examples bench

.PHONY: demo test lint typecheck unit install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Run the job end to end on the demo data against the reference server on loopback.
demo: $(BIN)/.installed
	$(BIN)/python scripts/demo.py

## Lint, type-check and run every test (unit and end-to-end).
test: lint typecheck unit

lint: $(BIN)/.installed
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(BIN)/.installed
	$(BIN)/mypy

unit: $(BIN)/.installed
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
