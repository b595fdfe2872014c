# Fieldline: `make run` starts the demo stack, `make test` runs the whole suite.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SIMULATE ?= 5
export SPATIALITE_LIBRARY_PATH ?= mod_spatialite

.PHONY: run test lint bench bench-quick soak install system-run system-test services openapi clean console console-deps

# The console: npm packages from the committed lockfile, bundled by esbuild into
# backend/web/static/dist/ (built, not committed; every entry point below builds it).
NPM_STAMP := node_modules/.installed-$(shell cksum package-lock.json | cut -d' ' -f1)
CONSOLE_SOURCES := $(wildcard backend/web/src/*) backend/web/build.mjs
CONSOLE_BUNDLE := backend/web/static/dist/console.js

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -f node_modules/.installed-*
	touch $(NPM_STAMP)

console-deps:
	command -v npm >/dev/null || scripts/ensure-system-packages.sh nodejs npm

$(CONSOLE_BUNDLE): $(NPM_STAMP) $(CONSOLE_SOURCES)
	node backend/web/build.mjs

## console: build the dispatcher console bundle
console: console-deps $(CONSOLE_BUNDLE)

system-run:
	scripts/ensure-system-packages.sh libsqlite3-mod-spatialite

system-test: system-run
	scripts/ensure-system-packages.sh postgresql-15-postgis-3
	command -v chromium >/dev/null || scripts/ensure-system-packages.sh chromium

services:
	scripts/ensure-services.sh

## run: migrate the embedded SQLite/SpatiaLite database, seed demo data, start broker + API + console
run: system-run console $(STAMP)
	$(BIN)/fieldline db upgrade
	$(BIN)/fieldline seed-demo
	$(BIN)/fieldline serve --simulate $(SIMULATE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## test: lint, types, then the whole suite on PostGIS and SpatiaLite
test: system-test services lint console
	BIN=$(BIN) scripts/test.sh

## bench: every benchmark (ratios against same-run baselines), then var/bench/report.md and each
## bench's wall time; BENCH_SCALE (default 1: the issue's sizes) multiplies every bench's sizes
BENCH_SCALE ?= 1
bench: system-test services $(STAMP)
	FIELDLINE_BENCH_SCALE=$(BENCH_SCALE) $(BIN)/python bench/run_all.py

## bench-quick: the same at 1/100 of the sizes (every code path in a few minutes, figures not quotable)
bench-quick: BENCH_SCALE = 0.01
bench-quick: bench

## soak: the fleet at 1 Hz plus handhelds for MINUTES (default 120); var/bench/soak.csv and .png
MINUTES ?= 120
soak: system-test services $(STAMP)
	$(BIN)/python bench/soak.py --minutes $(MINUTES)

openapi: $(STAMP)
	$(BIN)/fieldline openapi write --format=yaml openapi.yaml

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache backend/web/static/dist
