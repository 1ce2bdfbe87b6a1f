output "messages_table" {
  description = "Messages table: name, ARN and stream ARN (the workflow hand-off)."
  value = {
    name       = aws_dynamodb_table.messages.name
    arn        = aws_dynamodb_table.messages.arn
    stream_arn = aws_dynamodb_table.messages.stream_arn
  }
}

output "failed_messages_table" {
  description = "Failed-messages table: name and ARN."
  value = {
    name = aws_dynamodb_table.failed_messages.name
    arn  = aws_dynamodb_table.failed_messages.arn
  }
}

output "optouts_table" {
  description = "Opt-outs table: name, ARN and stream ARN (contact.opted_out/in)."
  value = {
    name       = aws_dynamodb_table.optouts.name
    arn        = aws_dynamodb_table.optouts.arn
    stream_arn = aws_dynamodb_table.optouts.stream_arn
  }
}

output "idempotency_table" {
  description = "Idempotency-Key table: name and ARN."
  value = {
    name = aws_dynamodb_table.idempotency.name
    arn  = aws_dynamodb_table.idempotency.arn
  }
}

output "tenants_table" {
  description = "Tenants table: name and ARN (services read it with GetItem only)."
  value = {
    name = aws_dynamodb_table.tenants.name
    arn  = aws_dynamodb_table.tenants.arn
  }
}

output "kms_key_arn" {
  description = "ARN of the key that encrypts the tables; service roles need it to read and write."
  value       = module.key.arn
}

output "kms_alias" {
  description = "Alias of the tables' key, which service roots look up by name."
  value       = module.key.alias
}
