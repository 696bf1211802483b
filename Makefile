PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SRC := bot handlers storage prompts tests $(wildcard bench)

.PHONY: run test lint format audit bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run AS=alex`: open the console as alex (default: the organisation's first admin).
run: $(STAMP)
	$(BIN)/ownit run $(if $(AS),--as $(AS))

# The suite runs on 4 xdist workers: most tests wait on databases and processes, not on a CPU.
# The tests marked `timing` hold a bound on how long something takes: they run afterwards, alone.
test: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/ruff format --check $(SRC)
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q -n 4 --dist loadgroup -m "not timing"
	$(BIN)/pytest -q -m timing

lint: $(STAMP)
	$(BIN)/ruff check $(SRC)
	$(BIN)/mypy
	$(BIN)/lint-imports

# Known vulnerabilities in the installed packages (PyPI's advisory service: needs the network).
# --strict: a package that could not be looked up fails the audit rather than passing unseen.
audit: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,audit]'
	$(BIN)/pip-audit --local --skip-editable --strict --progress-spinner off

format: $(STAMP)
	$(BIN)/ruff format $(SRC)
	$(BIN)/ruff check --fix $(SRC)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info ownit.db
