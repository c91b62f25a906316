# Goodwill: `make run` starts the server on SQLite; `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint typecheck test-sqlite test-postgres install migration clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/goodwill migrate
	$(BIN)/goodwill demo
	$(BIN)/goodwill serve

lint: $(STAMP)
	$(BIN)/ruff format --check src tests scripts bench
	$(BIN)/ruff check src tests scripts bench

typecheck: $(STAMP)
	$(BIN)/mypy src

test-sqlite: $(STAMP)
	GOODWILL_TEST_DATABASE=sqlite $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	scripts/ensure-postgres
	GOODWILL_TEST_DATABASE=postgresql $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck test-sqlite test-postgres

migration: $(STAMP)
	$(BIN)/python scripts/new_migration.py "$(m)"

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache goodwill.db goodwill.db-wal goodwill.db-shm
