# Alarms of a dev stage with one webhook service and its stream consumer.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

module "alarms" {
  source                = "../.."
  stage                 = "dev"
  api_names             = ["omni-twilio-dev-status"]
  function_names        = ["omni-twilio-dev-status", "omni-twilio-dev-status-handoff"]
  table_names           = ["omni-twilio-dev-messages"]
  stream_consumer_names = ["omni-twilio-dev-status-handoff"]
  events_dlq_name       = "omni-twilio-dev-events-dlq"
  alarm_emails          = ["oncall@example.com"]
}

output "dashboard_name" {
  description = "The stage's dashboard."
  value       = module.alarms.dashboard_name
}
