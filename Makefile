# Fieldline: `make run` starts the demo stack, `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SIMULATE ?= 5
export SPATIALITE_LIBRARY_PATH ?= mod_spatialite

.PHONY: run test lint bench install system-run system-test services openapi clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

system-run:
	scripts/ensure-system-packages.sh libsqlite3-mod-spatialite

system-test: system-run
	scripts/ensure-system-packages.sh postgresql-15-postgis-3

services:
	scripts/ensure-services.sh

## run: migrate the embedded SQLite/SpatiaLite database, seed demo data, start broker + API + console
run: system-run $(STAMP)
	$(BIN)/fieldline db upgrade
	$(BIN)/fieldline seed-demo
	$(BIN)/fieldline serve --simulate $(SIMULATE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## test: lint, types, then the whole suite on PostGIS and SpatiaLite
test: system-test services lint
	$(BIN)/pytest

## bench: benchmarks printing ratios against in-process baselines
bench: system-test services $(STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

openapi: $(STAMP)
	$(BIN)/fieldline openapi write --format=yaml openapi.yaml

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
