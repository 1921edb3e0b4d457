# The README's commands. `make demo` and `make test` each set up what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup system-deps demo test lint bench scrapyd deploy scheduler

setup: system-deps $(VENV)/.installed

system-deps:
	@bash scripts/install-system-deps.sh

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@

demo: setup
	$(PY) -m tests.sites.demo

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
	$(PY) -m christmas_spiders.scheduler
