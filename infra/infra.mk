# Packaging, deployment and static checks of infra/. Included from the Makefile.
#
#   make package-<svc>                 build build/<svc>.zip and print its size

PACKAGE_TARGETS := $(addprefix package-,$(SERVICES))

.PHONY: $(PACKAGE_TARGETS)

$(PACKAGE_TARGETS): package-%: install
	$(BIN)/python infra/package.py $*
