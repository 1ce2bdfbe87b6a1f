# Media: the service role's access to the media bucket (var.media), and the inbound
# service's re-host worker (var.media_worker): a function on the messages stream with a
# role of its own, granting exactly what carrier_core/media/rehost.py and its mapping call.

locals {
  media_enabled        = var.media != null
  media_worker_enabled = var.media_worker != null
  media_worker_name    = "${local.prefix}-rehost-media"
  media_bucket_arn     = local.media_enabled ? "arn:${local.partition}:s3:::${var.media.bucket_name}" : ""
  media_environment    = local.media_enabled ? { MEDIA_BUCKET = var.media.bucket_name } : {}
}

resource "aws_iam_role_policy" "media" {
  count  = local.media_enabled ? 1 : 0
  name   = "${local.prefix}-media"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.media[0].json
}

data "aws_iam_policy_document" "media" {
  count = local.media_enabled ? 1 : 0

  # carrier_core/media/storage.py upload(); outbound's converted JPEGs.
  statement {
    sid       = "WriteMedia"
    actions   = ["s3:PutObject"]
    resources = ["${local.media_bucket_arn}/${var.media.put_prefix}*"]
  }

  # A presigned link is signed with this role: it may read only what the role may.
  dynamic "statement" {
    for_each = var.media.read ? [1] : []
    content {
      sid       = "ReadMedia"
      actions   = ["s3:GetObject"]
      resources = ["${local.media_bucket_arn}/*"]
    }
  }

  # SSE-KMS: a put needs a data key; a read (through a presigned link) decrypts.
  statement {
    sid       = "UseMediaKeyThroughS3"
    actions   = var.media.read ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:GenerateDataKey"]
    resources = [var.media.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

resource "aws_cloudwatch_log_group" "media_worker" {
  #checkov:skip=CKV_AWS_338:Retention is log_retention_days, set per stage: prod keeps 365 days, dev 30 for short-lived test traffic.
  count             = local.media_worker_enabled ? 1 : 0
  name              = "/aws/lambda/${local.media_worker_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_lambda_function" "media_worker" {
  #checkov:skip=CKV_AWS_116:A stream-triggered function's failures go to the event source mapping's on-failure destination (the events DLQ), not a function DLQ.
  #checkov:skip=CKV_AWS_117:Reaches DynamoDB, S3, SSM and Twilio's public media URLs; a VPC would add NAT cost and cold-start time for no isolation gain.
  #checkov:skip=CKV_AWS_272:Zips are built reproducibly by `make package-<svc>` and deployed by the same pipeline; code signing is not set up.
  #checkov:skip=CKV_AWS_173:The environment holds table, bucket and parameter names, no secret (tokens are in SSM); the AWS managed key encrypts it at rest.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the stream's shard count times the mapping's parallelization_factor (10).
  count         = local.media_worker_enabled ? 1 : 0
  function_name = local.media_worker_name
  role          = aws_iam_role.media_worker[0].arn
  handler       = var.media_worker.handler
  runtime       = "python3.12"
  architectures = ["arm64"]
  memory_size   = var.memory_size
  timeout       = var.media_worker.timeout

  filename         = var.zip_path
  source_code_hash = filebase64sha256(var.zip_path)

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.media_worker, aws_iam_role_policy.media_worker]
}

# Order per message does not matter here (each message's items finish in one conditional
# update; the filter passes only INSERTs), so up to 10 batches of a shard run at once: a
# message whose media server is slow holds up its own batch until the item's deadline
# (MEDIA_ITEM_SECONDS), never the messages inserted after it. The rest mirrors the
# hand-off: report the failed record, bisect, DLQ.
resource "aws_lambda_event_source_mapping" "media_worker" {
  count                          = local.media_worker_enabled ? 1 : 0
  event_source_arn               = var.media_worker.messages_stream_arn
  function_name                  = aws_lambda_function.media_worker[0].arn
  starting_position              = "TRIM_HORIZON"
  batch_size                     = var.media_worker.batch_size
  parallelization_factor         = 10
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.media_worker.maximum_retry_attempts
  function_response_types        = ["ReportBatchItemFailures"]

  # Only new inbound messages wake the function (one without media is a quick no-op).
  filter_criteria {
    filter {
      pattern = jsonencode({ eventName = ["INSERT"], dynamodb = { NewImage = { direction = { S = ["inbound"] } } } })
    }
  }

  destination_config {
    on_failure {
      destination_arn = var.media_worker.dlq_arn
    }
  }
}

resource "aws_iam_role" "media_worker" {
  count              = local.media_worker_enabled ? 1 : 0
  name               = local.media_worker_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "media_worker" {
  count  = local.media_worker_enabled ? 1 : 0
  name   = local.media_worker_name
  role   = aws_iam_role.media_worker[0].id
  policy = data.aws_iam_policy_document.media_worker[0].json
}

data "aws_iam_policy_document" "media_worker" {
  count = local.media_worker_enabled ? 1 : 0

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.media_worker[0].arn}:*"]
  }

  # X-Ray has no resource-level permissions: AWS requires "*" for these two actions.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadMessagesStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    resources = ["${local.table_arns["messages"]}/stream/*"]
  }

  # rehost.py: one conditional UpdateItem per message.
  statement {
    sid       = "FinishMedia"
    actions   = ["dynamodb:UpdateItem"]
    resources = [local.table_arns["messages"]]
  }

  statement {
    sid       = "UseTablesKeyThroughDynamoDB"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.tables_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteInboundMedia"
    actions   = ["s3:PutObject"]
    resources = ["${local.media_bucket_arn}/inbound/*"]
  }

  statement {
    sid       = "UseMediaKeyThroughS3"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.media.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "SendToDeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [var.media_worker.dlq_arn]
  }

  statement {
    sid       = "EncryptDeadLetterQueueThroughSqs"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.media_worker.dlq_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sqs.${local.region}.amazonaws.com"]
    }
  }

  # Downloads use the account's credentials: the settings read the auth token at cold start.
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
