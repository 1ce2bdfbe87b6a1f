output "function_names" {
  description = "The service's Lambda functions."
  value       = module.service.function_names
}

output "base_url" {
  description = "The service's public base URL."
  value       = module.service.base_url
}

output "webhook_url" {
  description = "The URL to configure in Twilio for this webhook."
  value       = module.service.webhook_url
}

output "tenant_webhook_url" {
  description = "The URL to configure in Twilio for a tenant's webhook: {tenant} replaced by the tenant's id."
  value       = module.service.tenant_webhook_url
}
