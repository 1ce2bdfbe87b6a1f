output "function_name" {
  description = "The function's name."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "The function's ARN."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "The function's own role."
  value       = aws_iam_role.this.arn
}
