output "bucket" {
  description = "The media bucket's name and ARN."
  value       = { name = aws_s3_bucket.this.id, arn = aws_s3_bucket.this.arn }
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the media bucket's objects."
  value       = module.key.arn
}

output "kms_alias" {
  description = "Alias of the media key, by which service roots find it."
  value       = module.key.alias
}
