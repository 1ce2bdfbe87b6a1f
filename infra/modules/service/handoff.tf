# The workflow hand-off (status service only): a function from the same zip that Lambda's
# DynamoDB event source mappings feed with the messages and optouts streams, with a role of
# its own (modules/stream_function), granting exactly what it and its mappings call.

locals {
  handoff_enabled = var.handoff != null
}

module "handoff" {
  source = "../stream_function"
  count  = local.handoff_enabled ? 1 : 0

  # carrier_core.handoff.replay routes a DLQ message by the end of this name: keep it.
  name        = "${local.prefix}-handoff"
  handler     = var.handoff.handler
  zip_path    = var.zip_path
  memory_size = var.memory_size
  timeout     = var.handoff.timeout
  # The consumer imports the service's app.py, whose cold start reads the settings the
  # API function reads: the same environment.
  environment        = merge(local.environment, { EVENT_BUS_NAME = var.handoff.event_bus_name })
  log_retention_days = var.log_retention_days
  logs_kms_key_arn   = var.logs_kms_key_arn

  streams                            = { for key, arn in var.handoff.stream_arns : key => { stream_arn = arn, table_arn = local.table_arns[key] } }
  batch_size                         = var.handoff.batch_size
  maximum_batching_window_in_seconds = var.handoff.maximum_batching_window_in_seconds
  maximum_retry_attempts             = var.handoff.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.handoff.maximum_record_age_in_seconds
  dlq_arn                            = var.handoff.dlq_arn
  dlq_kms_key_arn                    = var.handoff.dlq_kms_key_arn

  parameters = local.stream_function_parameters
  policy_statements = [
    # Stream records are encrypted with the tables' key.
    { sid = "DecryptStreamsThroughDynamoDB", actions = ["kms:Decrypt"], resources = [var.tables_kms_key_arn], via_service = "dynamodb" },
    # carrier_core/handoff/publish.py: PutEvents on the stage's bus.
    { sid = "PublishEvents", actions = ["events:PutEvents"], resources = [var.handoff.event_bus_arn], via_service = null },
  ]
}

# The hand-off's resources were this module's own until modules/stream_function: these
# blocks make a plan move them in state instead of destroying and recreating them.
moved {
  from = aws_cloudwatch_log_group.handoff[0]
  to   = module.handoff[0].aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.handoff[0]
  to   = module.handoff[0].aws_lambda_function.this
}

moved {
  from = aws_lambda_event_source_mapping.handoff
  to   = module.handoff[0].aws_lambda_event_source_mapping.this
}

moved {
  from = aws_iam_role.handoff[0]
  to   = module.handoff[0].aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.handoff[0]
  to   = module.handoff[0].aws_iam_role_policy.this
}
