# LeadHub. `make run` serves the demo, `make test` runs the suite; both need only Python 3.11+ and make.
# Everything goes through .venv, created on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.11+ on PATH; override with `make run PYTHON=/path/to/python3.12`.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done)
endif
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
ADDRPORT ?= 127.0.0.1:8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

# The quick start: SQLite and in-process background work unless DATABASE_URL / REDIS_URL say otherwise.
# DEBUG serves the un-hashed static files straight from static/, so no collectstatic step is needed.
run migrate seed: export LEADHUB_DEMO ?= 1
run migrate seed: export DEBUG ?= 1
# mypy's Django plugin imports the settings, which refuse to load without a SECRET_KEY outside tests.
lint: export LEADHUB_TESTING := 1

.PHONY: help install install-runtime migrate seed run test lint bench worker beat clean

help:
	@echo "make run      install, migrate, seed the demo organization and serve http://$(ADDRPORT)"
	@echo "make test     the whole test suite (SQLite, or the database DATABASE_URL names)"
	@echo "make lint     ruff, mypy (django-stubs) and import-linter"
	@echo "make bench    the benchmarks (one JSON object per line)"
	@echo "make install  create .venv and install LeadHub with its development tools"
	@echo "make migrate / seed / worker / beat / clean"

$(PY):
	@test -n "$(PYTHON)" || { echo "No Python 3.11 or newer found on PATH; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"LeadHub needs Python 3.11 or newer; run make with PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when pyproject.toml changes.
$(VENV)/.installed-runtime: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-runtime

install-runtime: $(VENV)/.installed-runtime
install: $(VENV)/.installed-dev

migrate: $(VENV)/.installed-runtime
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: migrate
	@mkdir -p var
	@set -o pipefail; $(PY) manage.py seed_demo | tee var/seed_demo.log
	@echo
	@echo "  LeadHub is serving http://$(ADDRPORT)/ (stop with Ctrl-C)"
	@grep -E '^(Demo login|Same password)' var/seed_demo.log | sed 's/^/  /' || true
	@echo
	$(PY) manage.py serve $(ADDRPORT)

test: $(VENV)/.installed-dev
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.installed-runtime
	$(PY) -m bench $(BENCH_ARGS)

# With REDIS_URL set, background work needs these two next to `make run` (or use docker-compose.yml).
worker: $(VENV)/.installed-runtime
	$(BIN)/celery -A leadhub worker --loglevel=INFO

beat: $(VENV)/.installed-runtime
	$(BIN)/celery -A leadhub beat --loglevel=INFO --schedule=var/celerybeat-schedule

clean:
	rm -rf var/ staticfiles/ .mypy_cache/ .ruff_cache/ *.egg-info/
