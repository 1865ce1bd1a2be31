# Clarion — the two commands in the README are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench screenshots bundle clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Set up (first time) and launch Clarion on the demo database.
run: $(STAMP)
	$(BIN)/clarion demo

## Set up (first time) and run the whole test suite headless.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

## Benchmarks (not part of the test suite): print figures.
bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python tests/benchmarks/bench_startup.py

## Screenshots of each screen under Xvfb into packaging/screenshots/.
screenshots: $(STAMP)
	packaging/screenshot.sh

## A self-contained folder dist/clarion/ with PyInstaller (packaging/clarion.spec).
bundle: $(STAMP)
	$(BIN)/pip install --quiet 'pyinstaller>=6.3'
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build packaging/clarion.spec

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
