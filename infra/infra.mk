# Packaging, deployment and static checks of infra/. Included from the Makefile.
#
#   make package-<svc>                 build build/<svc>.zip and print its size
#   make checkov                       checkov over infra/ (part of `make test`)

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
PACKAGE_TARGETS := $(addprefix package-,$(SERVICES))

.PHONY: checkov $(PACKAGE_TARGETS)

# `make test` runs checkov too (a prerequisite added here keeps the Makefile's rule intact).
test: checkov

$(CHECKOV_STAMP): infra/requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r infra/requirements-checkov.txt
	touch $@

# --skip-download: no call to the vendor's API, only the checks shipped with the pinned version.
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --directory infra --framework terraform --quiet --compact --skip-download

$(PACKAGE_TARGETS): package-%: install
	$(BIN)/python infra/package.py $*
