# Civic Ledger: `make demo` builds the sample town; `make test` runs lint, types and tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint types pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3"

# Reinstall whenever the pins or the project metadata change.
$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

DEMO_PASSWORD := demo-password-1

# The sample town, matched, synced to the portal, and the portal served (Ctrl+C stops it).
demo: install
	$(BIN)/civic demo --db demo/ledger.db --force
	$(BIN)/civic match run --db demo/ledger.db
	rm -f demo/portal.db demo/portal.db-wal demo/portal.db-shm
	$(BIN)/civic sync run --ledger demo/ledger.db --portal demo/portal.db
	echo "$(DEMO_PASSWORD)" | $(BIN)/civic portal users add clerk --role clerk -c MAPLEFALLS \
	    --portal demo/portal.db --password-stdin
	echo "$(DEMO_PASSWORD)" | $(BIN)/civic staff add supervisor --role supervisor -c MAPLEFALLS \
	    --db demo/ledger.db --password-stdin
	@echo
	@echo "Portal: http://127.0.0.1:8000/  staff login: clerk / $(DEMO_PASSWORD)"
	@echo "A resident can register this account (number, name, last bill):"
	@$(BIN)/civic portal bill --portal demo/portal.db
	@echo "Ledger staff pages (review queue, merges): run"
	@echo "  $(BIN)/civic serve api --db demo/ledger.db   -> http://127.0.0.1:8001/staff/  supervisor / $(DEMO_PASSWORD)"
	@echo
	$(BIN)/civic serve portal --portal demo/portal.db --ledger demo/ledger.db

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint types pytest

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache
