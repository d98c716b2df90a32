# Two commands matter (see README.md): `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint types imports unit bench image install clean chart-sync docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The product: kubesim, our CRDs, a demo plugin and the operator on rules/ with hot reload.
run: $(STAMP)
	$(BIN)/arcane sandbox $(ARGS)

# Lint, types, import layers, then every test (unit, rule fixtures, end to end, reliability, bench quick mode).
test: check
	$(BIN)/python -m pytest

check: lint types imports

lint: $(STAMP)
	$(BIN)/ruff check engine kubesim arcane tests bench
	$(BIN)/ruff format --check engine kubesim arcane tests bench

types: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/python -m pytest -m 'not e2e and not slow'

bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

# Regenerates docs derived from the rules (docs/state-machines.md); a test fails when they drift.
docs: $(STAMP)
	$(BIN)/python -m arcane.docs

# Copies rules/ into the chart (the chart ships them in its ConfigMap); a test fails when they drift.
chart-sync:
	rm -rf charts/arcane-operator/files/rules && mkdir -p charts/arcane-operator/files/rules
	cp rules/*.yaml charts/arcane-operator/files/rules/

image:
	@command -v docker >/dev/null || { echo "make image needs a container engine (docker)"; exit 2; }
	DOCKER_BUILDKIT=1 docker build -t arcane-operator:$$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])') .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist *.egg-info
