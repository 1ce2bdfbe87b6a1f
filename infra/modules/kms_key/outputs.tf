output "arn" {
  description = "The key's ARN, for encryption settings and IAM policies."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "The key's id."
  value       = aws_kms_key.this.key_id
}

output "alias" {
  description = "The key's alias (alias/omni-twilio-<stage>-<name>), by which service roots find it."
  value       = aws_kms_alias.this.name
}
