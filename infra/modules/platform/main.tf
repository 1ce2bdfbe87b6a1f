# What every service of a stage shares besides the tables: the key that encrypts the
# Twilio auth token in SSM, the key that encrypts the tenants' secrets in SSM, the key that
# encrypts the log groups, and API Gateway's account-wide permission to write access logs.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  prefix     = "omni-twilio-${var.stage}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
}

# ---------------------------------------------------------------------------------------
# Secrets: the SSM SecureString parameters holding the Twilio auth tokens use this key.
# Operators write the parameters (README: rotating the auth token); services only decrypt.
# ---------------------------------------------------------------------------------------

module "secrets_key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "secrets"
  description          = "${local.prefix} Twilio auth token in SSM"
  deletion_window_days = var.kms_deletion_window_days
}

# ---------------------------------------------------------------------------------------
# Tenant secrets: each tenant's auth token, secondary auth token and API key secret, SSM
# SecureStrings under /omni-twilio/<stage>/tenants/<tenant>/, use this key. A key of their
# own, apart from the stage's Twilio auth token: its use in CloudTrail is tenants' alone,
# and a role can be given one without the other. The operator's CLI writes the parameters;
# the services' roles (modules/service) may only kms:Decrypt it through SSM, granted by IAM
# through the key policy's account statement, as with every key of the stage.
# ---------------------------------------------------------------------------------------

module "tenant_secrets_key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "tenant-secrets"
  description          = "${local.prefix} tenants' Twilio secrets in SSM"
  deletion_window_days = var.kms_deletion_window_days
}

# ---------------------------------------------------------------------------------------
# Logs: Lambda and API Gateway log groups of the stage are encrypted with this key.
# ---------------------------------------------------------------------------------------

# CloudWatch Logs encrypts with the key on behalf of log groups of this account only.
module "logs_key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "logs"
  description          = "${local.prefix} CloudWatch log groups"
  deletion_window_days = var.kms_deletion_window_days

  service_statements = [{
    sid     = "CloudWatchLogsUsesKey"
    service = "logs.${local.region}.amazonaws.com"
    actions = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    condition = {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }]
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

# Moved into module.secrets_key and module.logs_key (modules/kms_key): these blocks make a
# plan move the existing keys and aliases in state instead of destroying and recreating them.
moved {
  from = aws_kms_key.secrets
  to   = module.secrets_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.secrets
  to   = module.secrets_key.aws_kms_alias.this
}

moved {
  from = aws_kms_key.logs
  to   = module.logs_key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.logs
  to   = module.logs_key.aws_kms_alias.this
}
