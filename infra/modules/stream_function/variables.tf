# ---------------------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------------------

variable "name" {
  description = "The function's name, also its role's and log group's (omni-twilio-<stage>-<service>-<what>)."
  type        = string

  validation {
    condition     = can(regex("^omni-twilio-(dev|prod)-[a-z0-9-]+$", var.name))
    error_message = "name must be omni-twilio-<dev|prod>-<lowercase letters, digits, dashes>."
  }
}

variable "handler" {
  description = "The handler in the zip, <module>.<function> (an @app.on_dynamodb_record function of the service's app.py)."
  type        = string
}

variable "zip_path" {
  description = "The service's zip, built by `make package-<svc>`."
  type        = string
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number
}

variable "timeout" {
  description = "Seconds one batch may take."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900 seconds."
  }
}

variable "environment" {
  description = "The function's environment: the same settings the service's API function reads."
  type        = map(string)
}

variable "log_retention_days" {
  description = "Days the function's log group keeps its logs."
  type        = number
}

variable "logs_kms_key_arn" {
  description = "The stage's logs key, which encrypts the log group."
  type        = string
}

# ---------------------------------------------------------------------------------------
# The streams and their mappings
# ---------------------------------------------------------------------------------------

variable "streams" {
  description = "The streams that feed the function, by table key: the stream's ARN and its table's ARN (the role reads <table_arn>/stream/*)."
  type = map(object({
    stream_arn = string
    table_arn  = string
  }))
}

variable "batch_size" {
  description = "Records per batch."
  type        = number

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "parallelization_factor" {
  description = "Batches of one shard processed at once: 1 keeps each key's records in order; more lets a slow batch hold up only itself."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10
    error_message = "parallelization_factor must be between 1 and 10."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "Seconds a mapping may wait to fill a batch; null: Lambda's default (none)."
  type        = number
  default     = null
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed record before its place goes to the DLQ."
  type        = number

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts must be between 0 and 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Age after which a record is sent to the DLQ unprocessed; null: Lambda's default (the stream's retention)."
  type        = number
  default     = null
}

variable "filter_pattern" {
  description = "An event filter pattern (JSON) that selects the records that wake the function; null: every record."
  type        = string
  default     = null
}

variable "dlq_arn" {
  description = "The SQS queue the mappings send a failed record's place to."
  type        = string
}

variable "dlq_kms_key_arn" {
  description = "The key that encrypts the DLQ."
  type        = string
}

# ---------------------------------------------------------------------------------------
# What the function's code calls
# ---------------------------------------------------------------------------------------

variable "parameters" {
  description = "The SSM SecureString parameters the function reads at cold start (ARNs) and the key that encrypts them."
  type = object({
    arns        = list(string)
    kms_key_arn = string
  })
}

variable "tenant_reads" {
  description = "For a function that acts with a message's tenant's credentials (calls Twilio, fetches its media): the tenants table, the ARN pattern of the tenants' SSM parameters and the key that encrypts them; null: none."
  type = object({
    table_arn       = string
    parameters_arn  = string
    secrets_kms_arn = string
  })
  default = null
}

variable "policy_statements" {
  description = "Statements for the calls the function's own code makes; via_service (dynamodb, s3, ssm, ...) scopes a KMS grant to that service with kms:ViaService."
  type = list(object({
    sid         = string
    actions     = list(string)
    resources   = list(string)
    via_service = optional(string)
  }))
  default = []
}
