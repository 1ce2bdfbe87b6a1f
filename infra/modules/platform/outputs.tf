output "secrets_kms_key_arn" {
  description = "ARN of the key that encrypts the Twilio auth token parameters."
  value       = module.secrets_key.arn
}

output "secrets_kms_alias" {
  description = "Alias to pass as --key-id when writing the auth token parameters."
  value       = module.secrets_key.alias
}

output "tenant_secrets_kms_key_arn" {
  description = "ARN of the key that encrypts the tenants' secrets under /omni-twilio/<stage>/tenants/."
  value       = module.tenant_secrets_key.arn
}

output "tenant_secrets_kms_alias" {
  description = "Alias to pass as --key-id when writing a tenant's secrets; service roots look the key up by it."
  value       = module.tenant_secrets_key.alias
}

output "logs_kms_key_arn" {
  description = "ARN of the key that encrypts the stage's log groups."
  value       = module.logs_key.arn
}

output "logs_kms_alias" {
  description = "Alias of the logs key, which service roots look up by name."
  value       = module.logs_key.alias
}
