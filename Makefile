# clickgate: `make run` sets everything up and starts a demo; `make test` runs the whole suite.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint unit bench bench-redirect proto geoip clean
GEOIP_PACKAGE := @ip-location-db/geo-whois-asn-country-mmdb

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The venv is rebuilt from the lock file whenever the lock or pyproject changes.
# Bytecode is compiled at install time: where PYTHONDONTWRITEBYTECODE is set (as on
# the CI machines) every process would otherwise compile SQLAlchemy, grpc and the rest
# from source at each start, about 3 s per CLI call or server start.
$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	touch $@

run: $(VENV)/.synced
	$(BIN)/clickgate up

lint: $(VENV)/.synced
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy edge control bench tests scripts

# Most tests wait on real processes, so they run three at a time (pytest-xdist); the
# benchmark gate compares throughput and runs alone afterwards, on a machine at rest.
# The project's own bytecode is written first, for the same reason as at install time;
# the slowest tests are listed at the end, where suite time goes.
unit: $(VENV)/.synced
	$(BIN)/python -m compileall -q edge control tests bench scripts >/dev/null
	$(BIN)/pytest -n 3 --dist worksteal -m "not gate" --durations=15
	$(BIN)/pytest -m gate

test: lint unit

proto: $(VENV)/.synced
	$(BIN)/python scripts/gen_proto.py

bench-redirect: $(VENV)/.synced
	$(BIN)/python -m bench.redirect

bench: $(VENV)/.synced
	$(BIN)/python -m bench.all

# A real CC0 country database (ip-location-db, from the npm registry) for CLICKGATE_GEOIP_DB;
# `clickgate up` uses it when it is there.
geoip:
	mkdir -p var/geoip
	cd var/geoip && npm pack --silent $(GEOIP_PACKAGE) >/dev/null && \
		tar -xzf ip-location-db-geo-whois-asn-country-mmdb-*.tgz --strip-components=1 \
			package/geo-whois-asn-country.mmdb package/NRO_LICENSE && \
		rm -f ip-location-db-geo-whois-asn-country-mmdb-*.tgz
	@echo "CLICKGATE_GEOIP_DB=$(CURDIR)/var/geoip/geo-whois-asn-country.mmdb"

clean:
	rm -rf $(VENV) $(TOOLS) var
