# The workflow hand-off's bus and dead-letter queue. The status service's stream consumer
# (modules/service, handoff.tf) publishes to the bus; Lambda's event source mapping sends
# the place of each record that failed every retry to the DLQ.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  prefix = "omni-twilio-${var.stage}"
}

# The workflow engine's rules and targets attach to this bus (source omni.twilio).
resource "aws_cloudwatch_event_bus" "this" {
  name = "${local.prefix}-events"
}

# The DLQ's key: a customer managed key so that the key policy and CloudTrail say who
# reads what failed (DLQ messages name stream positions, not message contents).
resource "aws_kms_key" "this" {
  description             = "${local.prefix} hand-off dead-letter queue"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.prefix}-events"
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_111:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_356:A key policy's resource is the key it is attached to; AWS requires "*" here.
  # Use is granted through IAM: the consumer's role (send) and operators (replay).
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

# 14 days, SQS's longest retention. A message points into the table's stream, which keeps
# records for 24 hours: the depth alarm fires on the first message so that an operator
# runs `make replay-dlq` the same day.
resource "aws_sqs_queue" "dlq" {
  name                              = "${local.prefix}-events-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = aws_kms_key.this.arn
  kms_data_key_reuse_period_seconds = 300
}
