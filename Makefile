# Clarion — the two commands in the README are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench mutate screenshots bundle clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Set up (first time) and launch Clarion on the demo database.
run: $(STAMP)
	@$(BIN)/clarion demo || [ $$? -eq 69 ]   # 69: no display, and Clarion has said so

## Set up (first time) and run the whole test suite headless.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

## Benchmarks (not part of the test suite): print figures.
bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python tests/benchmarks/bench_startup.py

## Mutation testing of the critical modules ([tool.mutmut] in pyproject.toml; long, not part of
## the suite): mutates them one change at a time, runs the tests that reach each change, prints the
## score and every surviving mutant not listed in tests/mutation/equivalent.txt.
## `make mutate M=email` does one group (email, sms, outbox, flush, accounts, sandbox,
## regulatory, lifecycle, clients) with only its own tests, in minutes: tests/mutation/run_group.py.
mutate: $(STAMP)
	$(BIN)/pip install --quiet 'mutmut>=3.8'
ifdef M
	$(BIN)/python tests/mutation/run_group.py $(M)
else
	QT_QPA_PLATFORM=offscreen $(BIN)/mutmut run $(MUTANTS) >mutants.log 2>&1 || (tail -40 mutants.log; exit 1)
	$(BIN)/python tests/mutation/score.py
endif

## Screenshots of each screen under Xvfb into packaging/screenshots/.
screenshots: $(STAMP)
	packaging/screenshot.sh

## A self-contained folder dist/clarion/ with PyInstaller (packaging/clarion.spec).
bundle: $(STAMP)
	$(BIN)/pip install --quiet 'pyinstaller>=6.3'
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build packaging/clarion.spec

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache mutants mutants.log
