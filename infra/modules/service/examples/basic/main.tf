# A webhook service of the dev stage (the inbound service's shape, without media). The
# ARNs stand for what the shared root creates; a real root looks them up by name.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

variable "zip_path" {
  description = "The zip make package-inbound builds."
  type        = string
}

module "service" {
  source = "../.."
  name   = "inbound"
  stage  = "dev"

  zip_path           = var.zip_path
  code_version       = "v1.4.0-3-g1a2b3c4"
  memory_size        = 512
  timeout            = 10
  log_retention_days = 30
  logs_kms_key_arn   = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000001"

  tables = {
    messages        = "omni-twilio-dev-messages"
    failed_messages = "omni-twilio-dev-failed-messages"
    optouts         = "omni-twilio-dev-optouts"
    idempotency     = "omni-twilio-dev-idempotency"
    tenants         = "omni-twilio-dev-tenants"
  }
  tables_kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000002"

  tenant_parameter_prefix    = "/omni-twilio/dev/tenants/"
  tenant_secrets_kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000004"

  auth_token_parameter = "/omni-twilio/dev/twilio-auth-token"
  secrets_kms_key_arn  = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000003"

  environment = {
    TWILIO_ACCOUNT_SID     = "AC00000000000000000000000000000000"
    MESSAGE_RETENTION_DAYS = "400"
  }

  authorization        = "NONE"
  throttle_rate_limit  = 20
  throttle_burst_limit = 40
}

output "webhook_url" {
  description = "The URL to configure in Twilio."
  value       = module.service.webhook_url
}
