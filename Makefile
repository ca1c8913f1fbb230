# The two commands: `make demo` and `make test`. Both create .venv when missing and
# install what they need; a second run skips what is done (stamp files in .venv).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# the suite runs on two pytest-xdist workers (2 cores: ~16 min instead of ~26); PYTEST_WORKERS=0 runs it in one process
PYTEST_WORKERS ?= 2
# tests marked xdist_group share one worker (the demo's module fixture runs once); none with PYTEST_WORKERS=0
XDIST_DIST = $(if $(filter 0,$(PYTEST_WORKERS)),,--dist loadgroup)

.PHONY: demo test test-fast bench lint clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# editable install; re-run when pyproject.toml changes
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/harness demo

# .ci/services starts PostgreSQL (and installs Chromium) when it can; tests whose service is
# missing skip and say why (under CI=true they fail instead)
test: $(VENV)/.installed-dev
	@bash .ci/services || true
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(XDIST_DIST) $(PYTEST_ARGS)

# the quick loop while working: everything not marked slow
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(XDIST_DIST) -m 'not slow' $(PYTEST_ARGS)

bench: $(VENV)/.installed-dev
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .harness .pytest_cache
