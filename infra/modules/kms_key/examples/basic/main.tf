# A key for a stage's tables, and one CloudWatch Logs may use for this account's log groups.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

module "tables_key" {
  source      = "../.."
  stage       = "dev"
  name        = "tables"
  description = "omni-twilio-dev DynamoDB tables"
}

module "logs_key" {
  source               = "../.."
  stage                = "dev"
  name                 = "logs"
  description          = "omni-twilio-dev CloudWatch log groups"
  deletion_window_days = 7

  service_statements = [{
    sid     = "CloudWatchLogsUsesKey"
    service = "logs.us-east-1.amazonaws.com"
    actions = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    condition = {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:aws:logs:us-east-1:111111111111:log-group:*"]
    }
  }]
}

output "tables_key_alias" {
  description = "alias/omni-twilio-dev-tables"
  value       = module.tables_key.alias
}

output "logs_key_arn" {
  description = "The logs key's ARN."
  value       = module.logs_key.arn
}
