output "function_names" {
  description = "The service's Lambda functions."
  value       = module.service.function_names
}

output "base_url" {
  description = "The service's public base URL."
  value       = module.service.base_url
}

output "execution_arn" {
  description = "Grant callers execute-api:Invoke on this ARN (the API is IAM-authorised)."
  value       = module.service.execution_arn
}
