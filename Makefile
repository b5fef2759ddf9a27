# Two commands on a fresh machine: `make run` serves the sample account, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1

.PHONY: run test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/wxbot db upgrade
	$(BIN)/wxbot serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check app handlers knowledge flows tests bench

typecheck: $(STAMP)
	$(BIN)/mypy app handlers knowledge flows

bench: $(STAMP)
	$(BIN)/python bench/callback.py
	$(BIN)/python bench/faq_accuracy.py
	$(BIN)/python bench/faq_speed.py
	$(BIN)/python bench/journeys.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
