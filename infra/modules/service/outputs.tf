output "function_names" {
  description = "Lambda function names by key: api, then one per schedule."
  value       = { for key, fn in aws_lambda_function.this : key => fn.function_name }
}

output "function_arns" {
  description = "Lambda function ARNs by key: api, then one per schedule."
  value       = { for key, fn in aws_lambda_function.this : key => fn.arn }
}

output "role_arn" {
  description = "ARN of the functions' execution role."
  value       = aws_iam_role.this.arn
}

output "rest_api_id" {
  description = "Id of the service's REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "api_name" {
  description = "Name of the REST API (the ApiName dimension of its metrics)."
  value       = aws_api_gateway_rest_api.this.name
}

output "execution_arn" {
  description = "Execution ARN of the API stage; grant execute-api:Invoke on it to callers of an AWS_IAM API."
  value       = "${aws_api_gateway_rest_api.this.execution_arn}/${aws_api_gateway_stage.this.stage_name}"
}

output "base_url" {
  description = "Public base URL of the service (custom domain, or the stage's execute-api URL)."
  value       = local.base_url
}

output "webhook_url" {
  description = "URL to configure in Twilio for the webhook this service serves; null for outbound."
  value       = local.own_webhook == null ? null : "${local.base_url}${local.own_webhook.path}"
}

output "tenant_webhook_url" {
  description = "URL to configure in Twilio for a tenant's webhook, {tenant} standing for the tenant's id; null for outbound."
  value       = local.own_webhook == null ? null : "${local.base_url}${local.own_webhook.tenant_path}"
}

output "handoff_function_name" {
  description = "The hand-off consumer's function name; null when the service has none."
  value       = local.handoff_enabled ? module.handoff[0].function_name : null
}
