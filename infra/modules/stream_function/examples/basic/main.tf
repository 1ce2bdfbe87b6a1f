# A consumer of one table's stream that publishes to a bus.
# Parsed and schema-checked by tests/infra (tfcheck.py); run `terraform init && terraform
# validate` here where the AWS provider can be downloaded.

variable "zip_path" {
  description = "A zip with app.py (make package-status)."
  type        = string
}

module "consumer" {
  source             = "../.."
  name               = "omni-twilio-dev-status-handoff"
  handler            = "app.handoff"
  zip_path           = var.zip_path
  memory_size        = 512
  timeout            = 60
  environment        = { STAGE = "dev" }
  log_retention_days = 30
  logs_kms_key_arn   = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000001"

  streams = {
    messages = {
      stream_arn = "arn:aws:dynamodb:us-east-1:111111111111:table/omni-twilio-dev-messages/stream/2026-01-01T00:00:00.000"
      table_arn  = "arn:aws:dynamodb:us-east-1:111111111111:table/omni-twilio-dev-messages"
    }
  }
  batch_size             = 100
  maximum_retry_attempts = 10
  filter_pattern         = jsonencode({ eventName = ["INSERT"] })
  dlq_arn                = "arn:aws:sqs:us-east-1:111111111111:omni-twilio-dev-events-dlq"
  dlq_kms_key_arn        = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000002"

  parameters = {
    arns        = ["arn:aws:ssm:us-east-1:111111111111:parameter/omni-twilio/dev/twilio-auth-token"]
    kms_key_arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000004"
  }

  policy_statements = [
    { sid = "PublishEvents", actions = ["events:PutEvents"], resources = ["arn:aws:events:us-east-1:111111111111:event-bus/omni-twilio-dev-events"] },
    { sid = "DecryptStreams", actions = ["kms:Decrypt"], resources = ["arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000003"], via_service = "dynamodb" },
  ]
}

output "function_name" {
  description = "omni-twilio-dev-status-handoff"
  value       = module.consumer.function_name
}
