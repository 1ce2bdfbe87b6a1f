# The Twilio carrier: three Chalice services, one shared library, Terraform.
# `make dev` and `make test` install what they need on first run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SERVICES := inbound status outbound
STAGE ?= dev
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install dev test test-unit test-e2e typecheck bench clean

help:
	@echo "make dev      run the whole stack locally (ports 8000-8004) until Ctrl-C"
	@echo "make test     install what is needed, then run every test suite"
	@echo "make bench    measure the speed and size targets"

$(STAMP): requirements-dev.txt libs/carrier_core/pyproject.toml $(wildcard services/*/requirements.txt)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e libs/carrier_core
	touch $@

install: $(STAMP)

dev: install
	$(BIN)/python -m devstack

typecheck: install
	$(BIN)/mypy

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-e2e: install
	$(BIN)/python -m pytest tests/e2e

test: install
	$(BIN)/mypy
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache

include infra/infra.mk
