# Alarms on the stage's APIs, functions, tables and the carrier's own EMF metrics, sent
# to one encrypted SNS topic. The dashboard is in dashboard.tf.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  prefix    = "omni-twilio-${var.stage}"
  namespace = "OmniTwilioCarrier" # carrier_core.metrics.NAMESPACE
  actions   = [aws_sns_topic.this.arn]
}

# ---------------------------------------------------------------------------------------
# Topic
# ---------------------------------------------------------------------------------------

# CloudWatch publishes alarms to an encrypted topic only if it may use the key.
module "key" {
  source               = "../kms_key"
  stage                = var.stage
  name                 = "alarms"
  description          = "${local.prefix} alarm topic"
  deletion_window_days = var.kms_deletion_window_days

  service_statements = [{
    sid       = "CloudWatchPublishesToTopic"
    service   = "cloudwatch.amazonaws.com"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    condition = { test = "StringEquals", variable = "aws:SourceAccount", values = [data.aws_caller_identity.current.account_id] }
  }]
}

resource "aws_sns_topic" "this" {
  name              = "${local.prefix}-alarms"
  kms_master_key_id = module.key.arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

# ---------------------------------------------------------------------------------------
# APIs: 5xx rate and p99 latency
# ---------------------------------------------------------------------------------------

# 5XXError's average over a period is the fraction of requests answered 5xx.
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  for_each            = toset(var.api_names)
  alarm_name          = "${each.value}-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_threshold * 100} % of ${each.value} requests answered 5xx for 10 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "5XXError"
  dimensions          = { ApiName = each.value, Stage = var.stage }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.api_5xx_rate_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "api_p99_latency" {
  for_each            = toset(var.api_names)
  alarm_name          = "${each.value}-p99-latency"
  alarm_description   = "p99 latency of ${each.value} above ${var.p99_latency_threshold_ms} ms for 15 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = { ApiName = each.value, Stage = var.stage }
  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.p99_latency_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# ---------------------------------------------------------------------------------------
# Functions: errors, throttles, and scheduled functions that stopped running
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each            = toset(var.function_names)
  alarm_name          = "${each.value}-errors"
  alarm_description   = "${each.value} raised more than ${var.lambda_errors_threshold} errors in 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.lambda_errors_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each            = toset(var.function_names)
  alarm_name          = "${each.value}-throttles"
  alarm_description   = "${each.value} was throttled: Twilio retries or the caller sees 429/5xx."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "schedule_stopped" {
  for_each            = toset(var.scheduled_function_names)
  alarm_name          = "${each.value}-not-running"
  alarm_description   = "${each.value} has not run for 10 minutes: failed sends are not being retried, or lost webhooks not reconciled."
  namespace           = "AWS/Lambda"
  metric_name         = "Invocations"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# ---------------------------------------------------------------------------------------
# The workflow hand-off: the stream consumer falling behind, and records it gave up on
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  for_each            = toset(var.stream_consumer_names)
  alarm_name          = "${each.value}-iterator-age"
  alarm_description   = "${each.value} is more than ${var.iterator_age_threshold_ms / 1000} s behind its stream for 10 minutes: the workflow engine hears of messages late, and records older than 24 hours are lost."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.iterator_age_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "events_dlq_depth" {
  count               = var.events_dlq_name == null ? 0 : 1
  alarm_name          = "${var.events_dlq_name}-depth"
  alarm_description   = "Stream records failed every retry and wait in ${var.events_dlq_name}: fix the cause, then make replay-dlq STAGE=${var.stage} within 24 hours."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.events_dlq_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# ---------------------------------------------------------------------------------------
# Tables: any throttled read or write
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each            = toset(var.table_names)
  alarm_name          = "${each.value}-throttles"
  alarm_description   = "Reads or writes on ${each.value} were throttled."
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "throttles"
    expression  = "reads + writes"
    label       = "Throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = each.value }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "writes"
    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = each.value }
      stat        = "Sum"
      period      = 300
    }
  }
}

# ---------------------------------------------------------------------------------------
# The carrier's own metrics (carrier_core.metrics, EMF). Dimensions as emitted:
# service and stage, plus error_code on WebhookRejected.
# ---------------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "invalid_signature" {
  for_each            = toset(var.webhook_services)
  alarm_name          = "${local.prefix}-${each.value}-invalid-signatures"
  alarm_description   = "${each.value} refused more than ${var.invalid_signature_threshold} webhooks for a bad signature in 5 minutes: check the auth token parameters and the configured URL."
  namespace           = local.namespace
  metric_name         = "WebhookRejected"
  dimensions          = { service = each.value, stage = var.stage, error_code = "invalid_signature" }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.invalid_signature_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "failed_backlog" {
  alarm_name          = "${local.prefix}-failed-messages-backlog"
  alarm_description   = "More than ${var.failed_backlog_threshold} failed sends wait for a retry for 15 minutes."
  namespace           = local.namespace
  metric_name         = "FailedMessagesBacklog"
  dimensions          = { service = "outbound", stage = var.stage }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  threshold           = var.failed_backlog_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Twilio refuses to schedule more than 500,000 messages per account; the reconciler's full
# run counts what each account holds scheduled (services/outbound chalicelib/scheduled_count.py)
# and emits the largest count.
resource "aws_cloudwatch_metric_alarm" "scheduled_messages" {
  alarm_name          = "${local.prefix}-scheduled-messages"
  alarm_description   = "A Twilio account holds more than ${var.scheduled_messages_threshold} scheduled messages; Twilio refuses to schedule past 500,000. The outbound service's log line 'scheduled messages counted' names the account."
  namespace           = local.namespace
  metric_name         = "ScheduledMessagesMax"
  dimensions          = { service = "outbound", stage = var.stage }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.scheduled_messages_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The reconciler (services/outbound chalicelib/reconcile.py) found a message Twilio has and
# we lacked, or a status we never heard: webhooks are being lost, someone should look.
resource "aws_cloudwatch_metric_alarm" "messages_reconciled" {
  alarm_name          = "${local.prefix}-messages-reconciled"
  alarm_description   = "The reconciler stored a message or a status whose webhook never reached us: webhooks are being lost (our 5xx, or a URL Twilio cannot reach). See the README's Reconciler section."
  namespace           = local.namespace
  metric_name         = "MessagesReconciled"
  dimensions          = { service = "outbound", stage = var.stage }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "delivery_failure_rate" {
  alarm_name          = "${local.prefix}-delivery-failure-rate"
  alarm_description   = "More than ${var.delivery_failure_rate_threshold} % of status callbacks report a failed or undelivered message for 15 minutes."
  evaluation_periods  = 3
  threshold           = var.delivery_failure_rate_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    expression  = "IF(recorded >= ${var.delivery_failure_min_volume}, 100 * failed / recorded, 0)"
    label       = "Delivery failure rate (%)"
    return_data = true
  }

  metric_query {
    id = "failed"
    metric {
      namespace   = local.namespace
      metric_name = "DeliveryFailed"
      dimensions  = { service = "status", stage = var.stage }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "recorded"
    metric {
      namespace   = local.namespace
      metric_name = "StatusRecorded"
      dimensions  = { service = "status", stage = var.stage }
      stat        = "Sum"
      period      = 300
    }
  }
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
