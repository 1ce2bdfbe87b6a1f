variable "stage" {
  description = "Stage the key belongs to: dev or prod."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

variable "name" {
  description = "What the key encrypts, the end of its alias: alias/omni-twilio-<stage>-<name>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.name))
    error_message = "name must be lowercase letters, digits and dashes."
  }
}

variable "description" {
  description = "The key's description, shown in the KMS console."
  type        = string
}

variable "deletion_window_days" {
  description = "Days a scheduled deletion of the key waits before it is final."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_days >= 7 && var.deletion_window_days <= 30
    error_message = "deletion_window_days must be between 7 and 30."
  }
}

variable "service_statements" {
  description = "Key policy statements for AWS services that use the key themselves: each names the service principal, the actions and the condition that scopes them."
  type = list(object({
    sid     = string
    service = string
    actions = list(string)
    condition = object({
      test     = string
      variable = string
      values   = list(string)
    })
  }))
  default = []
}
