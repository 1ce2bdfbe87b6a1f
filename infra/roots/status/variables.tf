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

variable "twilio_account_sid" {
  description = "Twilio account SID (AC...); not a secret, the auth token is in SSM."
  type        = string

  validation {
    condition     = can(regex("^AC[0-9a-f]{32}$", var.twilio_account_sid))
    error_message = "twilio_account_sid must be AC followed by 32 hex digits."
  }
}

variable "zip_path" {
  description = "The zip `make package-SERVICE` built; `make deploy-SERVICE` passes it."
  type        = string
}

variable "code_version" {
  description = "`git describe --always --dirty` of the deployed checkout; `make deploy-SERVICE` passes it."
  type        = string
}

variable "public_base_url" {
  description = "Custom domain base URL mapped to this service's API, or null for the execute-api URL."
  type        = string
  default     = null
}

variable "rotating_auth_token" {
  description = "True while a new Twilio auth token is rotated in: the service also accepts the secondary token parameter."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------
# What differs between stages (stages/<stage>.tfvars)
# ---------------------------------------------------------------------------------------

variable "reserved_concurrency" {
  description = "Concurrency reserved for the API function; null reserves none (dev accounts often cannot)."
  type        = number

  validation {
    condition     = var.reserved_concurrency == null ? true : var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be null or at least 1."
  }
}

variable "log_retention_days" {
  description = "Days the service's log groups keep their logs (dev 30, prod 365)."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "throttle_rate_limit" {
  description = "Steady requests per second the API stage accepts."
  type        = number

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Burst of requests the API stage accepts above the rate."
  type        = number

  validation {
    condition     = var.throttle_burst_limit >= var.throttle_rate_limit
    error_message = "throttle_burst_limit must be at least throttle_rate_limit."
  }
}
