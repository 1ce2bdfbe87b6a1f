# The workflow hand-off (status service only): a function from the same zip that Lambda's
# DynamoDB event source mappings feed with the messages and optouts streams, and a role of
# its own, granting exactly what it and its mappings call.

locals {
  handoff_enabled = var.handoff != null
  handoff_name    = "${local.prefix}-handoff"
  # The consumer imports the service's app.py, whose cold start reads the settings the
  # API function reads: the same environment.
  handoff_environment = local.handoff_enabled ? merge(local.environment, { EVENT_BUS_NAME = var.handoff.event_bus_name }) : {}
}

resource "aws_cloudwatch_log_group" "handoff" {
  #checkov:skip=CKV_AWS_338:Retention is log_retention_days, set per stage: prod keeps 365 days, dev 30 for short-lived test traffic.
  count             = local.handoff_enabled ? 1 : 0
  name              = "/aws/lambda/${local.handoff_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_lambda_function" "handoff" {
  #checkov:skip=CKV_AWS_116:A stream-triggered function's failures go to the event source mapping's on-failure destination (the events DLQ), not a function DLQ.
  #checkov:skip=CKV_AWS_117:Reaches only DynamoDB Streams, EventBridge and SSM; a VPC would add NAT cost and cold-start time for no isolation gain.
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package-<svc>` and deployed by the same pipeline; code signing is not set up.
  #checkov:skip=CKV_AWS_173:The environment holds table, bus and parameter names, no secret (tokens are in SSM); the AWS managed key encrypts it at rest.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the streams' shard count (parallelization_factor 1): one invocation per shard.
  count         = local.handoff_enabled ? 1 : 0
  function_name = local.handoff_name
  role          = aws_iam_role.handoff[0].arn
  handler       = var.handoff.handler
  runtime       = "python3.12"
  architectures = ["arm64"]
  memory_size   = var.memory_size
  timeout       = var.handoff.timeout

  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)

  environment {
    variables = local.handoff_environment
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.handoff, aws_iam_role_policy.handoff]
}

# One mapping per stream. Records of one key stay in one shard, in order; the function
# stops a batch at its first failed record and reports it (ReportBatchItemFailures), so
# Lambda retries from there. Bisecting isolates a record that keeps failing; when its
# retries run out, its place goes to the DLQ and the shard moves on.
resource "aws_lambda_event_source_mapping" "handoff" {
  for_each                           = local.handoff_enabled ? var.handoff.stream_arns : {}
  event_source_arn                   = each.value
  function_name                      = aws_lambda_function.handoff[0].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.handoff.batch_size
  maximum_batching_window_in_seconds = var.handoff.maximum_batching_window_in_seconds
  parallelization_factor             = 1
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.handoff.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.handoff.maximum_record_age_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = var.handoff.dlq_arn
    }
  }
}

resource "aws_iam_role" "handoff" {
  count              = local.handoff_enabled ? 1 : 0
  name               = local.handoff_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "handoff" {
  count  = local.handoff_enabled ? 1 : 0
  name   = local.handoff_name
  role   = aws_iam_role.handoff[0].id
  policy = data.aws_iam_policy_document.handoff[0].json
}

data "aws_iam_policy_document" "handoff" {
  count = local.handoff_enabled ? 1 : 0

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.handoff[0].arn}:*"]
  }

  # X-Ray has no resource-level permissions: AWS requires "*" for these two actions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The event source mapping reads the streams with the function's role.
  statement {
    sid       = "ReadStreams"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [for key in keys(var.handoff.stream_arns) : "${local.table_arns[key]}/stream/*"]
  }

  # Stream records are encrypted with the tables' key.
  statement {
    sid       = "DecryptStreamsThroughDynamoDB"
    actions   = ["kms:Decrypt"]
    resources = [var.tables_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  # carrier_core/handoff/publish.py: PutEvents on the stage's bus.
  statement {
    sid       = "PublishEvents"
    actions   = ["events:PutEvents"]
    resources = [var.handoff.event_bus_arn]
  }

  # The mappings' on-failure destination is sent with the function's role.
  statement {
    sid       = "SendToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [var.handoff.dlq_arn]
  }

  statement {
    sid       = "EncryptDeadLetterQueueThroughSqs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.handoff.dlq_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # app.py's cold start reads the settings, auth token included (carrier_core/runtime.py).
  statement {
    sid       = "ReadAuthToken"
    actions   = ["ssm:GetParameter"]
    resources = [for name in local.token_parameters : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${name}"]
  }

  statement {
    sid       = "DecryptAuthTokenThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }
}
