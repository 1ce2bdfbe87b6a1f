terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }

  # Bucket, region and lock table come from backend.hcl (`terraform init -backend-config=backend.hcl`);
  # the key is this root's own, so each root plans and locks alone.
  backend "s3" {
    key     = "omni-twilio/prod/shared.tfstate"
    encrypt = true
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.aws_account_id]

  default_tags {
    tags = {
      project = "omni-twilio"
      stage   = "prod"
      root    = "shared"
    }
  }
}

# The stage's shared pieces, applied before any service: keys, tables, alarms, dashboard.
# Service roots find these by name (alias/omni-twilio-prod-*, omni-twilio-prod-*),
# so no root reads another's state.

locals {
  stage    = "prod"
  prefix   = "omni-twilio-${local.stage}"
  services = ["inbound", "status", "outbound"]
}

module "platform" {
  source                    = "../../../modules/platform"
  stage                     = local.stage
  manage_apigateway_account = var.manage_apigateway_account
}

module "tables" {
  source              = "../../../modules/tables"
  stage               = local.stage
  deletion_protection = true
}

# Inbound media re-hosted from Twilio and outbound images converted to JPEG.
module "media" {
  source        = "../../../modules/media"
  stage         = local.stage
  expiry_days   = 400
  force_destroy = false
}

module "events" {
  source = "../../../modules/events"
  stage  = local.stage
}

module "alarms" {
  source = "../../../modules/alarms"
  stage  = local.stage

  # Names the service module gives (modules/service: omni-twilio-<stage>-<service>, and
  # -<schedule key> for scheduled functions); tests/infra check they agree.
  api_names                = [for s in local.services : "${local.prefix}-${s}"]
  function_names           = concat([for s in local.services : "${local.prefix}-${s}"], ["${local.prefix}-outbound-retry-failed", "${local.prefix}-status-handoff", "${local.prefix}-inbound-rehost-media"])
  scheduled_function_names = ["${local.prefix}-outbound-retry-failed"]
  table_names = [
    module.tables.messages_table.name,
    module.tables.failed_messages_table.name,
    module.tables.optouts_table.name,
    module.tables.idempotency_table.name,
  ]
  stream_consumer_names = ["${local.prefix}-status-handoff", "${local.prefix}-inbound-rehost-media"]
  events_dlq_name       = module.events.dlq.name
  alarm_emails          = var.alarm_emails
}
