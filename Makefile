# make demo   set up .venv (if missing) and run the embedded end-to-end demo
# make test   set up .venv (if missing) and run the whole test suite
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# base vs PRISM (Gini) vs Random on the embedded WebShop with a tiny model trained from scratch:
# held-out table with 95% intervals and PRISM's analyses (~15 min on 2 CPU cores; see README)
demo: $(STAMP)
	$(VENV)/bin/prism pipeline --config demo --run-dir runs/demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# everything but the slow end-to-end tests
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) bench/forward.py
	$(PY) bench/probe.py

clean:
	rm -rf $(VENV) .pytest_cache runs
