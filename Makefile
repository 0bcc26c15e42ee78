# clickgate: `make run` sets everything up and starts a demo; `make test` runs the whole suite.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint unit bench bench-redirect proto geoip clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The venv is rebuilt from the lock file whenever the lock or pyproject changes.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

run: $(VENV)/.synced
	$(BIN)/clickgate up

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy edge control bench tests scripts

unit: $(VENV)/.synced
	$(BIN)/pytest

test: lint unit

proto: $(VENV)/.synced
	$(BIN)/python scripts/gen_proto.py

bench-redirect: $(VENV)/.synced
	$(BIN)/python -m bench.redirect

bench: $(VENV)/.synced
	$(BIN)/python -m bench.all

clean:
	rm -rf $(VENV) $(TOOLS) var
