variable "region" {
  description = "AWS region of the stage."
  type        = string
}

variable "aws_account_id" {
  description = "The stage's AWS account; the provider refuses to touch any other."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id must be 12 digits."
  }
}

variable "manage_apigateway_account" {
  description = "Set API Gateway's account-wide logging role from this stage (false when another stage in the same account does)."
  type        = bool
}

variable "alarm_emails" {
  description = "Addresses that receive the stage's alarms."
  type        = list(string)
}
