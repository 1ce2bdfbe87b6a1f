# What every service of a stage shares besides the tables: the key that encrypts the
# Twilio auth token in SSM, the key that encrypts the log groups, and API Gateway's
# account-wide permission to write access logs.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  prefix     = "omni-twilio-${var.stage}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  root_arn   = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"
}

# ---------------------------------------------------------------------------------------
# Secrets: the SSM SecureString parameters holding the Twilio auth tokens use this key.
# Operators write the parameters (README: rotating the auth token); services only decrypt.
# ---------------------------------------------------------------------------------------

resource "aws_kms_key" "secrets" {
  description             = "${local.prefix} Twilio auth token in SSM"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.secrets_key.json
}

resource "aws_kms_alias" "secrets" {
  name          = "alias/${local.prefix}-secrets"
  target_key_id = aws_kms_key.secrets.key_id
}

data "aws_iam_policy_document" "secrets_key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_111:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_356:A key policy's resource is the key it is attached to; AWS requires "*" here.
  # A key policy's resource is always "*": the key it is attached to.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }
}

# ---------------------------------------------------------------------------------------
# Logs: Lambda and API Gateway log groups of the stage are encrypted with this key.
# ---------------------------------------------------------------------------------------

resource "aws_kms_key" "logs" {
  description             = "${local.prefix} CloudWatch log groups"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.logs_key.json
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${local.prefix}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

data "aws_iam_policy_document" "logs_key" {
  #checkov:skip=CKV_AWS_109:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_111:A key policy's resource is the key it is attached to; AWS requires "*" here.
  #checkov:skip=CKV_AWS_356:A key policy's resource is the key it is attached to; AWS requires "*" here.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }
  }

  # CloudWatch Logs encrypts with the key on behalf of log groups of this account only.
  statement {
    sid       = "CloudWatchLogsUsesKey"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }
}

# ---------------------------------------------------------------------------------------
# API Gateway writes stage access logs through one account-wide role per region.
# ---------------------------------------------------------------------------------------

resource "aws_iam_role" "apigateway_logs" {
  count              = var.manage_apigateway_account ? 1 : 0
  name               = "omni-twilio-apigateway-logs-${local.region}"
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume.json
}

data "aws_iam_policy_document" "apigateway_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy_attachment" "apigateway_logs" {
  count      = var.manage_apigateway_account ? 1 : 0
  role       = aws_iam_role.apigateway_logs[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_apigateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.apigateway_logs[0].arn
}
