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
      root    = "status"
    }
  }
}

# The status service: `make deploy-status STAGE=<stage>` plans and applies this root only,
# with stages/<stage>.tfvars. The shared root of the stage must be applied first.

locals {
  prefix = "omni-twilio-${var.stage}"
}

data "aws_kms_alias" "tables" {
  name = "alias/${local.prefix}-tables"
}

data "aws_kms_alias" "secrets" {
  name = "alias/${local.prefix}-secrets"
}

data "aws_kms_alias" "logs" {
  name = "alias/${local.prefix}-logs"
}

data "aws_kms_alias" "tenant_secrets" {
  name = "alias/${local.prefix}-tenant-secrets"
}

# The hand-off's inputs and outputs, created by the shared root (modules/tables, modules/events).
data "aws_dynamodb_table" "messages" {
  name = "${local.prefix}-messages"
}

data "aws_dynamodb_table" "optouts" {
  name = "${local.prefix}-optouts"
}

data "aws_cloudwatch_event_bus" "events" {
  name = "${local.prefix}-events"
}

data "aws_sqs_queue" "events_dlq" {
  name = "${local.prefix}-events-dlq"
}

data "aws_kms_alias" "events" {
  name = "alias/${local.prefix}-events"
}

module "service" {
  source = "../../modules/service"
  name   = "status"
  stage  = var.stage

  zip_path = var.zip_path

  code_version         = var.code_version
  memory_size          = 512
  timeout              = 10
  reserved_concurrency = var.reserved_concurrency
  log_retention_days   = var.log_retention_days
  logs_kms_key_arn     = data.aws_kms_alias.logs.target_key_arn

  tables = {
    messages        = "${local.prefix}-messages"
    failed_messages = "${local.prefix}-failed-messages"
    optouts         = "${local.prefix}-optouts"
    idempotency     = "${local.prefix}-idempotency"
    tenants         = "${local.prefix}-tenants"
  }
  tables_kms_key_arn = data.aws_kms_alias.tables.target_key_arn

  # Each tenant's secrets, written by the operator's CLI (omni-twilio tenants add).
  tenant_parameter_prefix    = "/omni-twilio/${var.stage}/tenants/"
  tenant_secrets_kms_key_arn = data.aws_kms_alias.tenant_secrets.target_key_arn

  auth_token_parameter           = "/omni-twilio/${var.stage}/twilio-auth-token"
  secondary_auth_token_parameter = var.rotating_auth_token ? "/omni-twilio/${var.stage}/twilio-auth-token-secondary" : null
  secrets_kms_key_arn            = data.aws_kms_alias.secrets.target_key_arn

  environment = {
    TWILIO_ACCOUNT_SID     = var.twilio_account_sid
    MESSAGE_RETENTION_DAYS = "400"
  }

  handoff = {
    handler = "app.handoff"
    timeout = 60
    stream_arns = {
      messages = data.aws_dynamodb_table.messages.stream_arn
      optouts  = data.aws_dynamodb_table.optouts.stream_arn
    }
    event_bus_name                     = data.aws_cloudwatch_event_bus.events.name
    event_bus_arn                      = data.aws_cloudwatch_event_bus.events.arn
    dlq_arn                            = data.aws_sqs_queue.events_dlq.arn
    dlq_kms_key_arn                    = data.aws_kms_alias.events.target_key_arn
    batch_size                         = 100
    maximum_batching_window_in_seconds = 1
    maximum_retry_attempts             = 10
    maximum_record_age_in_seconds      = 21600
  }

  authorization        = "NONE"
  public_base_url      = var.public_base_url
  throttle_rate_limit  = var.throttle_rate_limit
  throttle_burst_limit = var.throttle_burst_limit
}
