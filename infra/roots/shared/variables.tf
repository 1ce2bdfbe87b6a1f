variable "stage" {
  description = "The stage this apply is for: its values come from stages/<stage>.tfvars and its state from backend/<stage>.hcl."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

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

# ---------------------------------------------------------------------------------------
# What differs between stages (stages/<stage>.tfvars)
# ---------------------------------------------------------------------------------------

variable "deletion_protection" {
  description = "Deletion protection of the tables (on in prod)."
  type        = bool
}

variable "media_expiry_days" {
  description = "Days a media copy is kept before the bucket's lifecycle rule deletes it."
  type        = number
}

variable "media_force_destroy" {
  description = "Let a destroy delete the media bucket with its objects (dev only)."
  type        = bool
}
