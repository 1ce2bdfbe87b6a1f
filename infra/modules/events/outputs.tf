output "bus" {
  description = "The event bus the carrier publishes to: name and ARN."
  value = {
    name = aws_cloudwatch_event_bus.this.name
    arn  = aws_cloudwatch_event_bus.this.arn
  }
}

output "dlq" {
  description = "The hand-off's dead-letter queue: name, ARN and URL."
  value = {
    name = aws_sqs_queue.dlq.name
    arn  = aws_sqs_queue.dlq.arn
    url  = aws_sqs_queue.dlq.url
  }
}

output "kms_alias" {
  description = "Alias of the DLQ's key, which the status root looks up by name."
  value       = module.key.alias
}
