# The dev stage's event bus and the hand-off's dead-letter queue.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

module "events" {
  source                   = "../.."
  stage                    = "dev"
  kms_deletion_window_days = 7
}

output "bus" {
  description = "The bus the workflow engine subscribes to."
  value       = module.events.bus
}
