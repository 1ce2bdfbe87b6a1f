# The dev stage's secrets and logs keys, in an account where dev also sets API Gateway's
# logging role.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

module "platform" {
  source                    = "../.."
  stage                     = "dev"
  manage_apigateway_account = true
}

output "secrets_kms_alias" {
  description = "alias/omni-twilio-dev-secrets"
  value       = module.platform.secrets_kms_alias
}
