# A function fed by DynamoDB streams through Lambda's event source mappings: its log group,
# the function (from the service's zip), one mapping per stream, and a role of its own
# that grants what every stream consumer needs plus what the caller adds.

data "aws_region" "current" {}

locals {
  region = data.aws_region.current.region
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is log_retention_days, set per stage: prod keeps 365 days, dev 30 for short-lived test traffic.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:A stream-triggered function's failures go to the event source mapping's on-failure destination (the DLQ), not a function DLQ.
  #checkov:skip=CKV_AWS_117:Reaches only AWS APIs (and public URLs it downloads); a VPC would add NAT cost and cold-start time for no isolation gain.
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package-<svc>` and deployed by the same pipeline; code signing is not set up.
  #checkov:skip=CKV_AWS_173:The environment holds table, bus, bucket and parameter names, no secret (tokens are in SSM); the AWS managed key encrypts it at rest.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the streams' shard count times parallelization_factor (1 to 10).
  function_name = var.name
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = "python3.12"
  architectures = ["arm64"]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# One mapping per stream. Records of one key stay in one shard, in order (with
# parallelization_factor 1, one batch of a shard at a time keeps that order); the function
# stops a batch at its first failed record and reports it (ReportBatchItemFailures), so
# Lambda retries from there. Bisecting isolates a record that keeps failing; when its
# retries run out, its place goes to the DLQ and the shard moves on.
resource "aws_lambda_event_source_mapping" "this" {
  for_each                           = var.streams
  event_source_arn                   = each.value.stream_arn
  function_name                      = aws_lambda_function.this.arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  parallelization_factor             = var.parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  dynamic "filter_criteria" {
    for_each = var.filter_pattern == null ? [] : [var.filter_pattern]
    content {
      filter {
        pattern = filter_criteria.value
      }
    }
  }

  destination_config {
    on_failure {
      destination_arn = var.dlq_arn
    }
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "this" {
  name   = var.name
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  # X-Ray has no resource-level permissions: AWS requires "*" for these two actions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # The event source mappings read the streams with the function's role.
  statement {
    sid       = "ReadStreams"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = [for stream in values(var.streams) : "${stream.table_arn}/stream/*"]
  }

  # The mappings' on-failure destination is sent with the function's role.
  statement {
    sid       = "SendToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [var.dlq_arn]
  }

  statement {
    sid       = "EncryptDeadLetterQueueThroughSqs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.dlq_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # app.py's cold start reads the settings, the auth token among them (carrier_core/runtime.py).
  statement {
    sid       = "ReadParameters"
    actions   = ["ssm:GetParameter"]
    resources = var.parameters.arns
  }

  statement {
    sid       = "DecryptParametersThroughSsm"
    actions   = ["kms:Decrypt"]
    resources = [var.parameters.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
  }

  # What the function's own code calls; a KMS key used only through one service says so.
  dynamic "statement" {
    for_each = var.policy_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.via_service == null ? [] : [statement.value.via_service]
        content {
          test     = "StringEquals"
          variable = "kms:ViaService"
          values   = ["${condition.value}.${local.region}.amazonaws.com"]
        }
      }
    }
  }

  # A tenant's configuration (the tables' key, granted in policy_statements, decrypts it)
  # and its secrets, read as the API role reads them.
  dynamic "statement" {
    for_each = var.tenant_reads == null ? [] : [var.tenant_reads]
    content {
      sid       = "ReadTenants"
      actions   = ["dynamodb:GetItem"]
      resources = [statement.value.table_arn]
    }
  }

  dynamic "statement" {
    for_each = var.tenant_reads == null ? [] : [var.tenant_reads]
    content {
      sid       = "ReadTenantSecrets"
      actions   = ["ssm:GetParameter", "ssm:GetParameters"]
      resources = [statement.value.parameters_arn]
    }
  }

  dynamic "statement" {
    for_each = var.tenant_reads == null ? [] : [var.tenant_reads]
    content {
      sid       = "DecryptTenantSecretsThroughSsm"
      actions   = ["kms:Decrypt"]
      resources = [statement.value.secrets_kms_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
}
