# One customer managed key of the stage, its alias and its key policy. A customer managed
# key (not the AWS owned one) lets the key policy and CloudTrail say who used it.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  alias = "alias/omni-twilio-${var.stage}-${var.name}"
}

resource "aws_kms_key" "this" {
  description             = var.description
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "this" {
  name          = local.alias
  target_key_id = aws_kms_key.this.key_id
}

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_111:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_356:A key policy's resource is the key it is attached to; AWS requires "*" here.
  # A key policy's resource is always "*": the key it is attached to. The account root
  # statement delegates use to IAM, where each role names this key's ARN.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # An AWS service that encrypts with the key itself (CloudWatch Logs, CloudWatch alarms
  # publishing to an encrypted topic), scoped by a condition.
  dynamic "statement" {
    for_each = var.service_statements
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = [statement.value.service]
      }

      condition {
        test     = statement.value.condition.test
        variable = statement.value.condition.variable
        values   = statement.value.condition.values
      }
    }
  }
}
