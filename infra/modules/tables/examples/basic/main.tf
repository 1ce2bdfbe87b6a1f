# The prod stage's tables, deletion-protected.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

module "tables" {
  source              = "../.."
  stage               = "prod"
  deletion_protection = true
}

output "messages_stream_arn" {
  description = "The stream the workflow hand-off reads."
  value       = module.tables.messages_table.stream_arn
}
