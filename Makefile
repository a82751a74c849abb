# minespace: two commands do all the setup on a fresh machine.
#   make demo   create .venv, install minespace, process the bundled Kuzbass sample
#   make test   install the test and dask extras (and headless Chromium), run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test venv browser lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev,dask]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/minespace demo

# headless Chromium for the browser tests (Debian package; needs root or sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

test: venv browser
	$(BIN)/python -m pytest -n 2 -q

lint: venv
	$(BIN)/ruff check src tests

bench: venv
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build dist .pytest_cache data/processed/*.parquet data/processed/*.gpkg data/processed/maps
