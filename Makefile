PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ownit run

test: $(STAMP)
	$(BIN)/ruff check ownit tests bench
	$(BIN)/ruff format --check ownit tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check ownit tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format ownit tests bench
	$(BIN)/ruff check --fix ownit tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info ownit.db
