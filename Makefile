# okr-ledger — `make help` lists the targets.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SCALE   ?= small
TEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help install demo test test-unit test-dates lint format bench soak docs clean mutate

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or make PY=python3)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install okr-ledger with its dev tools

demo: $(STAMP)  ## run the demo scenario end to end on the embedded defaults
	$(BIN)/python -P scripts/demo.py

test: $(STAMP)  ## run the whole test suite (starts its own broker); closing lines list the skips
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=25 tests

test-unit: $(STAMP)  ## unit tests only (no broker, no PostgreSQL)
	$(BIN)/pytest -q tests/unit

test-dates: $(STAMP)  ## the unit tests under faketime at hard instants (quarter end, new year, 29 Feb, DST), then the integration tests naming a fixed quarter (and README's) a year ahead
	PYTEST=$(BIN)/pytest TEST_WORKERS=$(TEST_WORKERS) scripts/test_dates.sh

bench: $(STAMP)  ## benchmarks against raw baselines (SCALE=small|full|0.3); results in bench/results/
	$(BIN)/python bench/run.py --scale $(SCALE)

soak: $(STAMP)  ## the fault and fuzz tests at full length (OKR_SOAK=1; tens of minutes)
	OKR_SOAK=1 $(BIN)/pytest -q -s tests

mutate: $(STAMP)  ## mutation testing of the scoring rules, Python and SQL (slow; not in make test)
	$(BIN)/python -P scripts/mutate.py

docs: $(STAMP)  ## regenerate docs/cli.md from the command's own help, docs/settings.md from the settings model
	$(BIN)/python -P -m typer okr.cli.main utils docs --name okr --output docs/cli.md
	$(BIN)/python -P scripts/settings_doc.py

lint: $(STAMP)  ## ruff, mypy and the import-linter walls (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/mypy -p okr.domain -p okr.ledger -p okr.record -p okr.adapters -p okr.projections -p okr.consumers -p okr.web -m okr.settings
	$(BIN)/python -P scripts/lint_imports.py

format: $(STAMP)  ## ruff format
	$(BIN)/ruff format .

clean:  ## remove the venv and caches (keeps .okr data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
