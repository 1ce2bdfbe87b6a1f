output "secrets_kms_key_arn" {
  description = "ARN of the key that encrypts the Twilio auth token parameters."
  value       = aws_kms_key.secrets.arn
}

output "secrets_kms_alias" {
  description = "Alias to pass as --key-id when writing the auth token parameters."
  value       = aws_kms_alias.secrets.name
}

output "logs_kms_key_arn" {
  description = "ARN of the key that encrypts the stage's log groups."
  value       = aws_kms_key.logs.arn
}

output "logs_kms_alias" {
  description = "Alias of the logs key, which service roots look up by name."
  value       = aws_kms_alias.logs.name
}
