# The README's two commands: `make run` (app with demo data) and `make test` (whole suite).
# `python3` is pyenv's 3.13 here, selected by .python-version.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-test lint chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

# Embedded SQLite unless DATABASE_URL is set; DEBUG defaults to true for a local demo.
run: export DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runserver $${HOST:-127.0.0.1}:$${PORT:-8000}

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Browser tests drive Debian's chromium; install it once if this machine lacks it.
chromium:
	@test -x /usr/bin/chromium || (apt-get install -y -q chromium || \
	  (apt-get update -q && apt-get install -y -q chromium))

# SQLite unless DATABASE_URL is set (.ci/run points it at PostgreSQL, where the
# concurrency tests run instead of skipping).
test: lint chromium
	$(BIN)/pytest
