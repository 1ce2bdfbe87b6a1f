# Media: the service role's access to the media bucket (var.media), and the inbound
# service's re-host worker (var.media_worker): a function on the messages stream with a
# role of its own (modules/stream_function), granting exactly what
# carrier_core/media/rehost.py and its mapping call.

locals {
  media_enabled        = var.media != null
  media_worker_enabled = var.media_worker != null
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

  # services/outbound chalicelib/redaction.py: a redacted message's copies, inbound's or outbound's.
  dynamic "statement" {
    for_each = var.media.delete ? [1] : []
    content {
      sid       = "DeleteRedactedMedia"
      actions   = ["s3:DeleteObject"]
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

module "media_worker" {
  source = "../stream_function"
  count  = local.media_worker_enabled ? 1 : 0

  # carrier_core.handoff.replay routes a DLQ message by the end of this name: keep it.
  name               = "${local.prefix}-rehost-media"
  handler            = var.media_worker.handler
  zip_path           = var.zip_path
  memory_size        = var.memory_size
  timeout            = var.media_worker.timeout
  environment        = local.environment
  log_retention_days = var.log_retention_days
  logs_kms_key_arn   = var.logs_kms_key_arn

  # Order per message does not matter here (each message's items finish in one conditional
  # update; the filter passes only INSERTs), so up to 10 batches of a shard run at once: a
  # message whose media server is slow holds up its own batch until the item's deadline
  # (MEDIA_ITEM_SECONDS), never the messages inserted after it. The rest mirrors the
  # hand-off: report the failed record, bisect, DLQ.
  streams                = { messages = { stream_arn = var.media_worker.messages_stream_arn, table_arn = local.table_arns["messages"] } }
  batch_size             = var.media_worker.batch_size
  parallelization_factor = 10
  maximum_retry_attempts = var.media_worker.maximum_retry_attempts
  # Only new inbound messages wake the function (one without media is a quick no-op).
  filter_pattern  = jsonencode({ eventName = ["INSERT"], dynamodb = { NewImage = { direction = { S = ["inbound"] } } } })
  dlq_arn         = var.media_worker.dlq_arn
  dlq_kms_key_arn = var.media_worker.dlq_kms_key_arn

  parameters = local.stream_function_parameters
  policy_statements = [
    # rehost.py: one conditional UpdateItem per message.
    { sid = "FinishMedia", actions = ["dynamodb:UpdateItem"], resources = [local.table_arns["messages"]], via_service = null },
    { sid = "UseTablesKeyThroughDynamoDB", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.tables_kms_key_arn], via_service = "dynamodb" },
    { sid = "WriteInboundMedia", actions = ["s3:PutObject"], resources = ["${local.media_bucket_arn}/inbound/*"], via_service = null },
    { sid = "UseMediaKeyThroughS3", actions = ["kms:GenerateDataKey"], resources = [var.media.kms_key_arn], via_service = "s3" },
  ]
  # Twilio's media URLs are fetched with the message's tenant's credentials.
  tenant_reads = local.stream_function_tenant_reads
}

# The re-host's resources were this module's own until modules/stream_function: these
# blocks make a plan move them in state instead of destroying and recreating them.
moved {
  from = aws_cloudwatch_log_group.media_worker[0]
  to   = module.media_worker[0].aws_cloudwatch_log_group.this
}

moved {
  from = aws_lambda_function.media_worker[0]
  to   = module.media_worker[0].aws_lambda_function.this
}

moved {
  from = aws_lambda_event_source_mapping.media_worker[0]
  to   = module.media_worker[0].aws_lambda_event_source_mapping.this["messages"]
}

moved {
  from = aws_iam_role.media_worker[0]
  to   = module.media_worker[0].aws_iam_role.this
}

moved {
  from = aws_iam_role_policy.media_worker[0]
  to   = module.media_worker[0].aws_iam_role_policy.this
}
