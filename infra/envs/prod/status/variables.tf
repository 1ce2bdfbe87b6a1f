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
