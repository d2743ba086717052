# LeadRelay: `make run` starts everything, `make test` runs lint and the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test test-slow coverage bench lint format system-deps clean

$(VENV)/.runtime: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime
	$(PY) -m core run

system-deps:
	@bash scripts/install-system-deps.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(VENV)/.dev system-deps lint
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(VENV)/.dev system-deps
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# Line and branch coverage of the default and slow suites, worker/webhook/sandbox processes included.
coverage: $(VENV)/.dev system-deps
	rm -rf .coverage-data && mkdir -p .coverage-data
	-$(PY) -m coverage run -m pytest -m "not slow" -p no:cacheprovider $(PYTEST_ARGS)
	-$(PY) -m coverage run -m pytest -m slow -p no:cacheprovider $(PYTEST_ARGS)
	$(PY) -m coverage combine -q
	$(PY) -m coverage report --sort=cover

bench: $(VENV)/.dev
	$(PY) bench/import_bench.py
	$(PY) bench/slot_gap.py
	$(PY) bench/webhook_load.py
	$(PY) bench/ui_refresh.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .coverage-data
