output "topic_arn" {
  description = "ARN of the SNS topic every alarm notifies."
  value       = aws_sns_topic.this.arn
}

output "dashboard_name" {
  description = "Name of the stage's CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm, for silencing or routing elsewhere."
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.api_5xx_rate : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.api_p99_latency : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_throttles : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.schedule_stopped : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.dynamodb_throttles : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.invalid_signature : a.alarm_name],
    [aws_cloudwatch_metric_alarm.failed_backlog.alarm_name, aws_cloudwatch_metric_alarm.delivery_failure_rate.alarm_name],
    [aws_cloudwatch_metric_alarm.messages_reconciled.alarm_name],
  )
}
