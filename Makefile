# Two commands a newcomer needs: `make run` and `make test`. Both work on a fresh clone
# with Python 3.11, Redis and PostgreSQL reachable with the defaults (see README).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test lint bench clean

$(BIN)/ai-worker: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/ai-worker ## create .venv with the project and its dev tools

run: install ## migrate the database and start the unified worker
	$(BIN)/ai-worker migrate
	$(BIN)/ai-worker run unified

test: install ## the whole suite in both modes, plus lint (tox)
	$(BIN)/tox

lint: install
	$(BIN)/tox -e lint

bench: install ## benchmarks; figures go to docs/benchmarks.md
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .tox .mypy_cache .ruff_cache .pytest_cache
