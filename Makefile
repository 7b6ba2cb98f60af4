# The README's two commands: `make run` (app with demo data) and `make test` (whole suite).
# `python3` is pyenv's 3.13 here, selected by .python-version.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Exactly the locked versions, each checked against its hash (requirements/*.txt): pip
# installs the locked uv, uv installs the rest (the same hashes, several times faster).
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes
UV_INSTALL := $(BIN)/uv pip install --quiet --require-hashes --python $(BIN)/python
# Test processes: pytest-xdist's `auto` is one per CPU; TEST_WORKERS=0 runs serially. Work
# stealing: a process that runs out takes tests queued for the other, so a few slow tests at
# the end do not leave a core idle.
TEST_WORKERS ?= auto
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.12 \
	--generate-hashes --quiet
# uv's own pin (what pip installs first), kept to the test lock's version.
LOCK_UV := $(BIN)/uv pip compile requirements/uv.in -c requirements/test.txt --universal \
	--python-version 3.12 --generate-hashes --quiet -o requirements/uv.txt

.PHONY: run test suite install install-test lint browser lock upgrade

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A stamp per lock file: an install runs again only when its lock changed.
$(VENV)/.installed-uv: requirements/uv.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements/uv.txt
	touch $@

$(VENV)/.installed-app: requirements/app.txt $(VENV)/.installed-uv
	$(UV_INSTALL) -r requirements/app.txt
	touch $@

$(VENV)/.installed-test: requirements/test.txt $(VENV)/.installed-uv
	$(UV_INSTALL) -r requirements/test.txt
	touch $@

install: $(VENV)/.installed-app
install-test: $(VENV)/.installed-test

# Embedded SQLite unless DATABASE_URL is set; DEBUG defaults to true for a local demo. The web
# server and a job worker run together (Procfile.dev), stopped together by Ctrl-C.
run: export DEBUG ?= true
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# The browser tests use an installed Chromium (tests/browser/chromium.py says which); with
# none, Playwright's own download is tried where the network allows it, and if that fails
# too the browser tests skip with their reason (REQUIRE_BROWSER=1 makes that a failure).
browser: install-test
	@$(BIN)/python -m tests.browser.chromium || timeout 300 $(BIN)/playwright install chromium \
	  || echo "No Chromium could be found or installed: the browser tests will skip."

# SQLite unless DATABASE_URL is set (.ci/run points it at PostgreSQL, where the
# concurrency tests run instead of skipping). The linters run beside the suite (much of the
# suite waits on processes and sockets); each one's output is shown when it ends.
test: install-test browser
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint suite

suite: install-test
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

# After editing the dependencies in pyproject.toml: re-resolve, keeping every other pin.
lock: install-test
	$(LOCK) -o requirements/app.txt
	$(LOCK) --extra test -c requirements/app.txt -o requirements/test.txt
	$(LOCK_UV)

# Move every dependency to its newest version allowed by pyproject.toml.
upgrade: install-test
	$(LOCK) --upgrade -o requirements/app.txt
	$(LOCK) --upgrade --extra test -c requirements/app.txt -o requirements/test.txt
	$(LOCK_UV)
