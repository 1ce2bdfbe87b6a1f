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

variable "twilio_api_key_sid" {
  description = "Twilio API key SID (SK...) for REST calls, its secret in SSM at /omni-twilio/<stage>/twilio-api-key-secret; empty uses the auth token."
  type        = string
  default     = ""

  validation {
    condition     = var.twilio_api_key_sid == "" || can(regex("^SK[0-9a-fA-F]{32}$", var.twilio_api_key_sid))
    error_message = "twilio_api_key_sid must be empty or SK followed by 32 hex digits."
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

variable "twilio_default_from_number" {
  description = "Sender used when a send request names none (E.164)."
  type        = string

  validation {
    condition     = can(regex("^\\+[1-9][0-9]{6,14}$", var.twilio_default_from_number))
    error_message = "twilio_default_from_number must be an E.164 number."
  }
}

variable "status_public_base_url" {
  description = "Custom domain base URL of the status service, or null to use its execute-api URL."
  type        = string
  default     = null
}
