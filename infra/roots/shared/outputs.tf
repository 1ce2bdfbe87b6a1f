output "messages_table" {
  description = "Messages table name, ARN and stream ARN (the workflow engine reads the stream)."
  value       = module.tables.messages_table
}

output "tenants_table" {
  description = "Tenants table name and ARN; service roots give its name to the services (TENANTS_TABLE)."
  value       = module.tables.tenants_table
}

output "secrets_kms_alias" {
  description = "Key alias to use when writing the auth token parameters."
  value       = module.platform.secrets_kms_alias
}

output "tenant_secrets_kms_key_arn" {
  description = "ARN of the key of the tenants' SecureStrings; service roots find it by its alias."
  value       = module.platform.tenant_secrets_kms_key_arn
}

output "tenant_secrets_kms_alias" {
  description = "Key alias to use when writing a tenant's parameters under /omni-twilio/<stage>/tenants/<tenant>/."
  value       = module.platform.tenant_secrets_kms_alias
}

output "alarm_topic_arn" {
  description = "SNS topic of the stage's alarms."
  value       = module.alarms.topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the stage."
  value       = module.alarms.dashboard_name
}

output "event_bus" {
  description = "The bus the workflow engine subscribes to (source omni.twilio)."
  value       = module.events.bus
}

output "events_dlq" {
  description = "The hand-off's dead-letter queue; replay with make replay-dlq."
  value       = module.events.dlq
}

output "media_bucket" {
  description = "The media bucket's name and ARN (re-hosted inbound media, converted outbound images)."
  value       = module.media.bucket
}
