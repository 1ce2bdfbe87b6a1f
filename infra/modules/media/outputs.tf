output "bucket" {
  description = "The media bucket's name and ARN."
  value       = { name = aws_s3_bucket.this.id, arn = aws_s3_bucket.this.arn }
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the media bucket's objects."
  value       = aws_kms_key.this.arn
}

output "kms_alias" {
  description = "Alias of the media key, by which service roots find it."
  value       = aws_kms_alias.this.name
}
