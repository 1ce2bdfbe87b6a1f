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
      root    = "outbound"
    }
  }
}

# The outbound service: `make deploy-outbound STAGE=<stage>` plans and applies this root only,
# with stages/<stage>.tfvars. The shared root of the stage must be applied first.

locals {
  prefix             = "omni-twilio-${var.stage}"
  status_base_url    = var.status_public_base_url != null ? var.status_public_base_url : "https://${data.aws_api_gateway_rest_api.status[0].id}.execute-api.${var.region}.amazonaws.com/${var.stage}"
  status_webhook_url = "${local.status_base_url}/twilio/status"
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

data "aws_kms_alias" "media" {
  name = "alias/${local.prefix}-media"
}

data "aws_dynamodb_table" "optouts" {
  name = "${local.prefix}-optouts"
}

data "aws_sqs_queue" "events_dlq" {
  name = "${local.prefix}-events-dlq"
}

data "aws_kms_alias" "events" {
  name = "alias/${local.prefix}-events"
}

# Outbound hands Twilio the status service's URL as StatusCallback: deploy status first.
data "aws_api_gateway_rest_api" "status" {
  count = var.status_public_base_url == null ? 1 : 0
  name  = "${local.prefix}-status"
}

module "service" {
  source = "../../modules/service"
  name   = "outbound"
  stage  = var.stage

  zip_path = var.zip_path

  code_version         = var.code_version
  memory_size          = 1024
  timeout              = 20
  reserved_concurrency = var.reserved_concurrency
  log_retention_days   = var.log_retention_days
  logs_kms_key_arn     = data.aws_kms_alias.logs.target_key_arn

  # The retry worker and the reconciler: `@app.schedule` functions retry_failed and
  # reconcile in services/outbound/app.py.
  schedules = {
    retry_failed = { handler = "app.retry_failed", schedule_expression = "rate(1 minute)" }
    reconcile    = { handler = "app.reconcile", schedule_expression = "rate(5 minutes)" }
  }

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
  # REST calls authenticate with this key's secret once twilio_api_key_sid is set.
  api_key_secret_parameter = "/omni-twilio/${var.stage}/twilio-api-key-secret"
  secrets_kms_key_arn      = data.aws_kms_alias.secrets.target_key_arn

  environment = {
    TWILIO_ACCOUNT_SID         = var.twilio_account_sid
    TWILIO_API_KEY_SID         = var.twilio_api_key_sid
    TWILIO_DEFAULT_FROM_NUMBER = var.twilio_default_from_number
    STATUS_WEBHOOK_URL         = local.status_webhook_url
    MESSAGE_RETENTION_DAYS     = "400"
  }

  # chalicelib/media.py stores converted images under outbound/; GET /messages/{sid}/media/{n}
  # and the links given to Twilio are presigned with this role, so it reads every object.
  media = {
    bucket_name = "${local.prefix}-media"
    kms_key_arn = data.aws_kms_alias.media.target_key_arn
    put_prefix  = "outbound/"
    read        = true
    delete      = true
  }

  # An opt-out cancels the customer's scheduled messages: `@app.on_dynamodb_record`
  # cancel_on_opt_out in services/outbound/app.py.
  optout_cancels = {
    handler                = "app.cancel_on_opt_out"
    optouts_stream_arn     = data.aws_dynamodb_table.optouts.stream_arn
    dlq_arn                = data.aws_sqs_queue.events_dlq.arn
    dlq_kms_key_arn        = data.aws_kms_alias.events.target_key_arn
    timeout                = 60
    batch_size             = 10
    maximum_retry_attempts = 10
  }

  authorization        = "AWS_IAM"
  public_base_url      = var.public_base_url
  throttle_rate_limit  = var.throttle_rate_limit
  throttle_burst_limit = var.throttle_burst_limit
}
