variable "stage" {
  description = "Deployed stage; names the bus omni-twilio-<stage>-events and the queue omni-twilio-<stage>-events-dlq."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

variable "kms_deletion_window_days" {
  description = "Days a scheduled deletion of the DLQ's KMS key waits before it is final."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
