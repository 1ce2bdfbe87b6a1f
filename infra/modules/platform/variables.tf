variable "stage" {
  description = "Deployed stage; names the keys alias/omni-twilio-<stage>-secrets and -logs."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

variable "manage_apigateway_account" {
  description = "Set API Gateway's account-wide CloudWatch Logs role (one per account and region: let only one stage manage it when stages share an account)."
  type        = bool
}

variable "kms_deletion_window_days" {
  description = "Days a scheduled deletion of these KMS keys waits before it is final."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
