variable "stage" {
  description = "Deployed stage; names the bucket omni-twilio-<stage>-media and its key alias/omni-twilio-<stage>-media."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

variable "expiry_days" {
  description = "Days a media copy (inbound re-hosted, outbound converted) is kept before the lifecycle rule deletes it."
  type        = number
  default     = 400

  validation {
    condition     = var.expiry_days >= 1
    error_message = "expiry_days must be at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Days a scheduled deletion of the media key waits before it is final."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "force_destroy" {
  description = "Whether destroying the stage may delete a bucket that still holds media (dev only)."
  type        = bool
  default     = false
}
