# The README's commands. `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup system-deps demo test lint bench scrapyd deploy scheduler

setup: system-deps $(VENV)/.installed

system-deps:
	@bash scripts/install-system-deps.sh

# One pinned install: the runtime and test pins, and the project itself, editable (so
# `christmas_spiders`, `replicas` and the `christmas` command work from any folder).
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt -e '.[dev]'
	@touch $@

demo: setup
	$(VENV)/bin/christmas demo

# Lint first (ruff is part of the standard), then the suite; a skipped test fails it.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) -m bench

# --- scrapyd and cron schedules (README "Distributed crawling and schedules") ---
scrapyd: setup
	deploy/run-scrapyd.sh

deploy: setup
	$(VENV)/bin/scrapyd-deploy local -p christmas_spiders

scheduler: setup
	$(VENV)/bin/christmas scheduler
