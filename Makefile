# Two commands a new user needs: `make run` (service with Baogai demo data) and `make test`.
# Everything else they need is installed from here: system packages, a virtualenv, the package.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TEST_DB ?= sqlite
# Test processes: one per core (pytest-xdist); a test module stays in one process, so its
# module-scoped fixtures (a live server, a browser) start once. TEST_JOBS=0 runs in this process.
TEST_JOBS ?= auto
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run run-lan test install sysdeps rundeps bench fuzz clean audit screenshots

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# System libraries the tests use: zbar (a real QR decoder). Installed when missing, as root.
sysdeps:
	@bash scripts/sysdeps.sh

# What the service itself needs from the system (the CJK font its PDFs embed).
rundeps:
	@bash scripts/sysdeps.sh run

run: install rundeps
	$(VENV)/bin/jifen serve --demo --host $(HOST) --port $(PORT)

# The same, for phones on this network: binds this machine's LAN address, which every QR code carries.
run-lan: install rundeps
	$(VENV)/bin/jifen serve --demo --lan --port $(PORT)

test: install sysdeps
	JIFEN_TEST_DB=$(TEST_DB) $(PY) -m pytest -q -n $(TEST_JOBS) --dist loadfile $(PYTEST_ARGS)

# Browser tests keep their screenshots in artifacts/screenshots (git-ignored); this runs them and
# refreshes in docs/screenshots the ones docs/pages.md shows.
screenshots: install sysdeps
	JIFEN_DOCS_SCREENSHOTS=1 JIFEN_TEST_DB=$(TEST_DB) $(PY) -m pytest -q tests/e2e

audit: install
	$(VENV)/bin/jifen audit

# What users get, against TPC-B on the same server, in one run: awards through the rule engine
# (bench/posting.py), then check-ins and check-outs through the HTTP API in production mode
# (bench/checkin_load.py: uvicorn, Redis, a Celery worker and beat). Non-zero if either fails.
bench: install
	$(PY) -m bench.posting; awards=$$?; \
	$(PY) -m bench.checkin_load --tasks celery; checkouts=$$?; \
	exit $$(( awards || checkouts ))

# Schemathesis against the app's own schema, every operation as every role, until the time is up.
# Prints requests tried and 5xx seen per round; exits non-zero on any failure.
FUZZ_SECONDS ?= 600
FUZZ_EXAMPLES ?= 25
fuzz: install
	$(PY) -m bench.fuzz --seconds $(FUZZ_SECONDS) --examples $(FUZZ_EXAMPLES)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
