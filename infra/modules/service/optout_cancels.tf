# An opt-out cancels the customer's scheduled messages (outbound only): a function from the
# same zip (services/outbound/app.py: cancel_on_opt_out) that the optouts stream feeds, off
# the webhooks' path, with a role of its own (modules/stream_function). Twilio does not
# cancel a scheduled message on a STOP: without this, an opted-out customer is texted at the
# scheduled time.

locals {
  optout_cancels_enabled = var.optout_cancels != null
}

module "optout_cancels" {
  source = "../stream_function"
  count  = local.optout_cancels_enabled ? 1 : 0

  # carrier_core.handoff.replay routes a DLQ message by the end of this name: keep it.
  name               = "${local.prefix}-optout-cancels"
  handler            = var.optout_cancels.handler
  zip_path           = var.zip_path
  memory_size        = var.memory_size
  timeout            = var.optout_cancels.timeout
  environment        = local.environment
  log_retention_days = var.log_retention_days
  logs_kms_key_arn   = var.logs_kms_key_arn

  # In order per customer (one shard's batches one at a time): a START after a STOP is read
  # after it. A record that fails every retry goes to the hand-off's DLQ, which
  # `make replay-dlq` replays into this function.
  streams                = { optouts = { stream_arn = var.optout_cancels.optouts_stream_arn, table_arn = local.table_arns["optouts"] } }
  batch_size             = var.optout_cancels.batch_size
  maximum_retry_attempts = var.optout_cancels.maximum_retry_attempts
  # Only an opt-out wakes the function (a START or a removal is none).
  filter_pattern  = jsonencode({ eventName = ["INSERT", "MODIFY"], dynamodb = { NewImage = { opted_out = { BOOL = [true] } } } })
  dlq_arn         = var.optout_cancels.dlq_arn
  dlq_kms_key_arn = var.optout_cancels.dlq_kms_key_arn

  parameters = local.stream_function_parameters
  policy_statements = [
    # chalicelib/optout_cancels.py: the customer's scheduled messages, one Query of the
    # sparse `scheduled` index; chalicelib/cancel.py: each message read by key, its
    # `canceled` recorded with one conditional UpdateItem.
    { sid = "FindScheduled", actions = ["dynamodb:Query"], resources = ["${local.table_arns["messages"]}/index/scheduled"], via_service = null },
    { sid = "CancelScheduled", actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], resources = [local.table_arns["messages"]], via_service = null },
    { sid = "UseTablesKeyThroughDynamoDB", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.tables_kms_key_arn], via_service = "dynamodb" },
  ]
  # The cancel at Twilio uses the message's tenant's credentials.
  tenant_reads = local.stream_function_tenant_reads
}
