# Packaging, deployment and static checks of infra/. Included from the Makefile.
#
#   make package-<svc>                 build build/<svc>.zip and print its size
#   make deploy-<svc>  STAGE=dev|prod  package, then terraform init/plan/apply infra/roots/<svc> for STAGE
#                                      (refused on a dirty tree unless ALLOW_DIRTY=1)
#   make deploy-shared STAGE=dev|prod  keys, tables, alarms and dashboard of the stage (apply first)
#   make checkov                       checkov over infra/ (part of `make test`)
#   make terraform-schema              extract the AWS provider's schema for tests/infra/tfcheck.py
#   make iam-lint                      parliament over infra/'s IAM policies, advisories included

CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
PACKAGE_TARGETS := $(addprefix package-,$(SERVICES))
DEPLOY_TARGETS  := $(addprefix deploy-,$(SERVICES))
# One root per deployable; a stage is a values file and a backend file in each root.
TF_ROOTS := infra/roots

.PHONY: checkov terraform-schema iam-lint deploy-preflight deploy-clean deploy-shared $(PACKAGE_TARGETS) $(DEPLOY_TARGETS)

# `make test` runs checkov too (a prerequisite added here keeps the Makefile's rule intact).
test: checkov

# From the hash lock (`make lock`), like .venv: every package pinned, each file's hash checked.
$(CHECKOV_STAMP): infra/requirements-checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --require-hashes -r infra/requirements-checkov.lock
	touch $@

# --skip-download: no call to the vendor's API, only the checks shipped with the pinned version.
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --directory infra --framework terraform --quiet --compact --skip-download

# The provider schema the Terraform check reads (tests/infra/aws_provider_schema.json), from
# the CDK for Terraform package generated from the pinned provider major (6.66.0; the
# package's cdktf.provider.version). Not part of `make test`: the package is about 46 MB, so
# its extract is committed; run this after pinning another provider or using a new type.
PROVIDER_SCHEMA_PACKAGE := @cdktn/provider-aws@25.7.0

terraform-schema: install
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd "$$tmp" && npm pack --silent $(PROVIDER_SCHEMA_PACKAGE) >/dev/null) && \
	$(BIN)/python infra/provider_schema.py "$$tmp"/*.tgz tests/infra/aws_provider_schema.json infra

iam-lint: install
	$(BIN)/python -m tests.infra.iam_lint

$(PACKAGE_TARGETS): package-%: install
	$(BIN)/python infra/package.py $*

# Stops before building or touching anything when terraform, the stage or AWS credentials
# are missing, with a message that says which.
deploy-preflight:
	@test -f "$(TF_ROOTS)/shared/stages/$(STAGE).tfvars" || { echo "deploy: no stage '$(STAGE)': use STAGE=$$(ls $(TF_ROOTS)/shared/stages | sed 's/\.tfvars$$//' | paste -sd '|' -)" >&2; exit 2; }
	@command -v terraform >/dev/null 2>&1 || { echo "deploy: terraform is not on PATH: install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)" >&2; exit 2; }
	@$(MAKE) --no-print-directory install >/dev/null
	@$(BIN)/python infra/check_aws.py

# init with the stage's backend file, plan with its values to a file, apply exactly that
# plan. Both stages share the root's directory: each keeps its own Terraform data directory
# (.terraform-<stage>: backend settings, providers), so one stage's init never points the
# other's at a different state, and -reconfigure takes the backend file as it is now
# (never offering to migrate state from one stage's bucket to the other's).
define terraform_apply
	TF_DATA_DIR=.terraform-$(STAGE) terraform -chdir=$(TF_ROOTS)/$(1) init -input=false -reconfigure -backend-config=backend/$(STAGE).hcl
	TF_DATA_DIR=.terraform-$(STAGE) terraform -chdir=$(TF_ROOTS)/$(1) plan -input=false -var-file=stages/$(STAGE).tfvars $(2) -out=$(CURDIR)/build/$(STAGE)-$(1).tfplan
	TF_DATA_DIR=.terraform-$(STAGE) terraform -chdir=$(TF_ROOTS)/$(1) apply -input=false $(CURDIR)/build/$(STAGE)-$(1).tfplan
endef

deploy-shared: deploy-preflight
	@mkdir -p build
	$(call terraform_apply,shared,)

# A service's deploy records what it ships: the zip's chalicelib/VERSION and code_version are
# `git describe --always --dirty`, which with the zip's SHA-256 Terraform puts in the functions'
# SERVICE_VERSION (GET /health), description and tags. Changes in no commit cannot be told
# apart by that name, so a tree with any (untracked files too) is refused unless ALLOW_DIRTY=1.
deploy-clean:
	@if [ "$(ALLOW_DIRTY)" != 1 ] && [ -n "$$(git status --porcelain)" ]; then \
		echo "deploy: the working tree has changes in no commit (git status): commit or stash them, or deploy a -dirty version with ALLOW_DIRTY=1" >&2; exit 2; fi

$(DEPLOY_TARGETS): deploy-%: deploy-preflight deploy-clean
	$(MAKE) --no-print-directory package-$*
	$(call terraform_apply,$*,-var zip_path=$(CURDIR)/build/$*.zip -var code_version=$$(git describe --always --dirty))
