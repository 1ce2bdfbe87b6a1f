# The workflow hand-off's bus and dead-letter queue. The status service's stream consumer
# (modules/service, handoff.tf) publishes to the bus; Lambda's event source mapping sends
# the place of each record that failed every retry to the DLQ.

locals {
  prefix = "omni-twilio-${var.stage}"
}

# The workflow engine's rules and targets attach to this bus (source omni.twilio).
resource "aws_cloudwatch_event_bus" "this" {
  name = "${local.prefix}-events"
}

# The DLQ's key: a customer managed key so that the key policy and CloudTrail say who
# reads what failed (DLQ messages name stream positions, not message contents).
module "key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "events"
  description          = "${local.prefix} hand-off dead-letter queue"
  deletion_window_days = var.kms_deletion_window_days
}

# 14 days, SQS's longest retention. A message points into the table's stream, which keeps
# records for 24 hours: the depth alarm fires on the first message so that an operator
# runs `make replay-dlq` the same day.
resource "aws_sqs_queue" "dlq" {
  name                              = "${local.prefix}-events-dlq"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = module.key.arn
  kms_data_key_reuse_period_seconds = 300
}

# Moved into module.key (modules/kms_key): these blocks make a plan move the existing key
# and alias in state instead of destroying them and creating new ones.
moved {
  from = aws_kms_key.this
  to   = module.key.aws_kms_key.this
}

moved {
  from = aws_kms_alias.this
  to   = module.key.aws_kms_alias.this
}
