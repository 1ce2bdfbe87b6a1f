# One dashboard per stage: the carrier's own metrics first, then APIs, functions, tables.

locals {
  # Every metric the services emit (carrier_core.metrics.METRICS) must be listed here:
  # tests/infra check it. Names the status and outbound services add are listed ahead.
  carrier_metrics = [
    "InboundStored",
    "InboundDuplicate",
    "StatusRecorded",
    "StatusOutOfOrder",
    "StatusDuplicate",
    "StatusUnknownSid",
    "StatusUnrecognized",
    "DeliveryFailed",
    "WebhookRejected",
    "OutboundAccepted",
    "OutboundRejected",
    "OutboundRetrying",
    "OutboundReplayed",
    "TwilioRetried",
    "RetrySent",
    "RetryRescheduled",
    "RetryDead",
    "RedactionDone",
    "RedactionRescheduled",
    "RedactionFailed",
    "FailedMessagesBacklog",
    "HandoffPublished",
    "HandoffFailed",
    "OutboundReconciled",
    "OutboundUnknown",
    "OutboundUnstored",
    "OptOutLearned",
    "MessagesReconciled",
    "ScheduledMessagesMax",
    "ReconcileFailed",
  ]

  # Levels, not counts: drawn as their maximum.
  gauges = ["FailedMessagesBacklog", "ScheduledMessagesMax"]

  region = data.aws_region.current.region

  # A SEARCH finds the metric under every dimension set it is emitted with (channel,
  # error_code, ...), so a widget needs no change when a service adds a dimension.
  carrier_widgets = [
    for i, name in local.carrier_metrics : {
      type   = "metric"
      x      = (i % 3) * 8
      y      = floor(i / 3) * 6
      width  = 8
      height = 6
      properties = {
        title  = name
        region = local.region
        period = 300
        stat   = contains(local.gauges, name) ? "Maximum" : "Sum"
        metrics = [[{
          expression = "SEARCH('Namespace=\"${local.namespace}\" MetricName=\"${name}\" stage=\"${var.stage}\"', '${contains(local.gauges, name) ? "Maximum" : "Sum"}', 300)"
          id         = "m${i}"
        }]]
      }
    }
  ]

  carrier_rows = ceil(length(local.carrier_metrics) / 3) * 6

  aws_widget_specs = [
    {
      title = "API requests and errors"
      stat  = "Sum"
      metrics = flatten([for api in var.api_names : [
        ["AWS/ApiGateway", "Count", "ApiName", api, "Stage", var.stage],
        ["AWS/ApiGateway", "4XXError", "ApiName", api, "Stage", var.stage],
        ["AWS/ApiGateway", "5XXError", "ApiName", api, "Stage", var.stage],
      ]])
    },
    {
      title   = "API latency p99 (ms)"
      stat    = "p99"
      metrics = [for api in var.api_names : ["AWS/ApiGateway", "Latency", "ApiName", api, "Stage", var.stage]]
    },
    {
      title = "Lambda errors and throttles"
      stat  = "Sum"
      metrics = flatten([for fn in var.function_names : [
        ["AWS/Lambda", "Errors", "FunctionName", fn],
        ["AWS/Lambda", "Throttles", "FunctionName", fn],
      ]])
    },
    {
      title   = "Lambda duration p99 (ms)"
      stat    = "p99"
      metrics = [for fn in var.function_names : ["AWS/Lambda", "Duration", "FunctionName", fn]]
    },
    {
      title = "DynamoDB throttle events"
      stat  = "Sum"
      metrics = flatten([for table in var.table_names : [
        ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", table],
        ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", table],
      ]])
    },
    {
      title   = "Stream hand-off iterator age (ms)"
      stat    = "Maximum"
      metrics = [for fn in var.stream_consumer_names : ["AWS/Lambda", "IteratorAge", "FunctionName", fn]]
    },
    {
      title   = "Hand-off dead-letter queue depth"
      stat    = "Maximum"
      metrics = var.events_dlq_name == null ? [] : [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.events_dlq_name]]
    },
    {
      title = "DynamoDB consumed capacity"
      stat  = "Sum"
      metrics = flatten([for table in var.table_names : [
        ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", table],
        ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", table],
      ]])
    },
  ]

  aws_widgets = [
    for i, w in local.aws_widget_specs : {
      type       = "metric"
      x          = (i % 3) * 8
      y          = local.carrier_rows + floor(i / 3) * 6
      width      = 8
      height     = 6
      properties = { title = w.title, region = local.region, period = 300, stat = w.stat, metrics = w.metrics }
    }
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.prefix
  dashboard_body = jsonencode({ widgets = concat(local.carrier_widgets, local.aws_widgets) })
}
