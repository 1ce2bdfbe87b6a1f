# The carrier's five tables. Key schemas, the `due` index and the TTL attribute mirror
# libs/carrier_core/carrier_core/models.py; tests/infra compare the two.

locals {
  prefix = "omni-twilio-${var.stage}"
}

# One customer managed key for the tables, their streams and backups: it lets the key
# policy and CloudTrail say who reads the messages, which the AWS owned key cannot.
module "key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "tables"
  description          = "${local.prefix} DynamoDB tables"
  deletion_window_days = var.kms_deletion_window_days
}

# Messages, inbound and outbound, keyed by Twilio's SID. The stream is the hand-off to
# the workflow engine: the write that stores a message is the event.
# `whatsapp_window` is sparse: only inbound WhatsApp items carry wa_window (tenant, business
# sender, customer), written by the inbound put itself; a free-form WhatsApp send reads the
# newest one's created_at to know whether the 24-hour window is open. `scheduled` is sparse
# too: only a scheduled send carries scheduled_for (tenant, customer); an opt-out reads it to
# cancel that customer's scheduled messages.
resource "aws_dynamodb_table" "messages" {
  name                        = "${local.prefix}-messages"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "sid"
  stream_enabled              = true
  stream_view_type            = "NEW_AND_OLD_IMAGES"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "sid"
    type = "S"
  }

  attribute {
    name = "wa_window"
    type = "S"
  }

  attribute {
    name = "customer"
    type = "S"
  }

  attribute {
    name = "created_at"
    type = "S"
  }

  global_secondary_index {
    name            = "whatsapp_window"
    hash_key        = "wa_window"
    range_key       = "created_at"
    projection_type = "KEYS_ONLY"
  }

  attribute {
    name = "scheduled_for"
    type = "S"
  }

  attribute {
    name = "send_at"
    type = "S"
  }

  global_secondary_index {
    name            = "scheduled"
    hash_key        = "scheduled_for"
    range_key       = "send_at"
    projection_type = "ALL"
  }

  # A customer's messages for erasure (services/outbound chalicelib/erasure.py). `customer`
  # is set by the write that stores a message, so the inbound webhook stays one write.
  global_secondary_index {
    name               = "customer"
    hash_key           = "customer"
    range_key          = "created_at"
    projection_type    = "INCLUDE"
    non_key_attributes = ["tenant", "redaction"]
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }
}

# Outbound sends Twilio refused, with what it takes to retry. `due` is sparse: only
# items waiting for a retry carry retry_state, so the worker's Query reads just those.
resource "aws_dynamodb_table" "failed_messages" {
  name                        = "${local.prefix}-failed-messages"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "id"
    type = "S"
  }

  attribute {
    name = "retry_state"
    type = "S"
  }

  attribute {
    name = "next_attempt_at"
    type = "N"
  }

  global_secondary_index {
    name            = "due"
    hash_key        = "retry_state"
    range_key       = "next_attempt_at"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }
}

# Opt-outs by customer number and business sender. No TTL: a STOP holds until a START.
# The stream tells the workflow engine of each STOP and START (contact.opted_out/in).
resource "aws_dynamodb_table" "optouts" {
  name                        = "${local.prefix}-optouts"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "phone"
  range_key                   = "sender"
  stream_enabled              = true
  stream_view_type            = "NEW_AND_OLD_IMAGES"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "phone"
    type = "S"
  }

  attribute {
    name = "sender"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }
}

# Outbound Idempotency-Keys: one claim per key, kept for a day (TTL) so a retried request
# within that window is answered with the message it already created.
resource "aws_dynamodb_table" "idempotency" {
  name                        = "${local.prefix}-idempotency"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "key"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }
}

# Tenants: one item per business the deployment serves (account SID, API key SID,
# senders, subaccounts), read by the services when a container first meets a tenant. Its
# secrets are not here but in SSM SecureStrings under /omni-twilio/<stage>/tenants/<tenant>/
# (modules/platform's tenant-secrets key). No TTL: a tenant stays until it is removed; no
# stream: nothing downstream follows its changes.
resource "aws_dynamodb_table" "tenants" {
  name                        = "${local.prefix}-tenants"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "tenant"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "tenant"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.key.arn
  }
}

# Moved into module.key (modules/kms_key): these blocks make a plan move the existing key
# and alias in state instead of destroying them and creating new ones.
moved {
  from = aws_kms_key.this
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.key.aws_kms_alias.this
}
