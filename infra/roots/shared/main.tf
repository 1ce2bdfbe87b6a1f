terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Bucket, key, region and lock table come from backend/<stage>.hcl
  # (`terraform init -reconfigure -backend-config=backend/<stage>.hcl`): each stage keeps its
  # state in its own account, and each root its own key, so each root plans and locks alone.
  backend "s3" {
    encrypt = true
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      project = "omni-twilio"
      stage   = var.stage
      root    = "shared"
    }
  }
}

# The stage's shared pieces, applied before any service: keys, tables, media, the hand-off's
# bus and DLQ, alarms, dashboard. `make deploy-shared STAGE=<stage>` applies this root with
# stages/<stage>.tfvars, its state in backend/<stage>.hcl. Service roots find these by name
# (alias/omni-twilio-<stage>-*, omni-twilio-<stage>-*), so no root reads another's state.

locals {
  prefix   = "omni-twilio-${var.stage}"
  services = ["inbound", "status", "outbound"]
}

module "platform" {
  source                    = "../../modules/platform"
  stage                     = var.stage
  manage_apigateway_account = var.manage_apigateway_account
}

module "tables" {
  source              = "../../modules/tables"
  stage               = var.stage
  deletion_protection = var.deletion_protection
}

# Inbound media re-hosted from Twilio and outbound images converted to JPEG.
module "media" {
  source        = "../../modules/media"
  stage         = var.stage
  expiry_days   = var.media_expiry_days
  force_destroy = var.media_force_destroy
}

module "events" {
  source = "../../modules/events"
  stage  = var.stage
}

module "alarms" {
  source = "../../modules/alarms"
  stage  = var.stage

  # Names the service module gives (modules/service: omni-twilio-<stage>-<service>, and
  # -<schedule key> for scheduled functions); tests/infra check they agree.
  api_names                = [for s in local.services : "${local.prefix}-${s}"]
  function_names           = concat([for s in local.services : "${local.prefix}-${s}"], ["${local.prefix}-outbound-retry-failed", "${local.prefix}-outbound-reconcile", "${local.prefix}-status-handoff", "${local.prefix}-inbound-rehost-media", "${local.prefix}-outbound-optout-cancels"])
  scheduled_function_names = ["${local.prefix}-outbound-retry-failed", "${local.prefix}-outbound-reconcile"]
  table_names = [
    module.tables.messages_table.name,
    module.tables.failed_messages_table.name,
    module.tables.optouts_table.name,
    module.tables.idempotency_table.name,
    module.tables.tenants_table.name,
  ]
  stream_consumer_names = ["${local.prefix}-status-handoff", "${local.prefix}-inbound-rehost-media", "${local.prefix}-outbound-optout-cancels"]
  events_dlq_name       = module.events.dlq.name
  alarm_emails          = var.alarm_emails
}
