# iot-gateway: `make run` starts a working gateway on a fresh machine; `make test` runs every check
# against real servers. Nothing else needs installing by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest services-up services-down clean

$(VENV)/.runtime: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.runtime
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# The in-process MQTT broker (port 1883) is on unless GATEWAY_MQTT_EMBEDDED_BROKER says otherwise.
run: $(VENV)/.runtime
	GATEWAY_MQTT_EMBEDDED_BROKER=$${GATEWAY_MQTT_EMBEDDED_BROKER:-true} $(BIN)/iot-gateway serve

# Installs what the tests need (system packages, the InfluxDB build, firmware tools), starts the real
# services, runs ruff, mypy and pytest, and stops the services whatever the outcome.
test: $(VENV)/.dev
	scripts/install-system-packages
	scripts/build-influxdb >/dev/null
	@if [ -x scripts/firmware-tools ]; then scripts/firmware-tools; fi
	$(BIN)/ruff check gateway tests bench
	$(BIN)/mypy
	scripts/test-services down
	eval "$$(scripts/test-services up)" && trap 'scripts/test-services down' EXIT && $(BIN)/pytest $(PYTEST_ARGS)

services-up:
	@scripts/test-services up

services-down:
	@scripts/test-services down

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
