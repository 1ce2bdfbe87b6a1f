# ---------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------

variable "name" {
  description = "Service: which app, routes and table actions (see access.tf)."
  type        = string

  validation {
    condition     = contains(["inbound", "status", "outbound"], var.name)
    error_message = "name must be one of: inbound, status, outbound."
  }
}

variable "stage" {
  description = "Deployed stage; names everything omni-twilio-<stage>-<name> and becomes the API stage."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

# ---------------------------------------------------------------------------------------
# Function
# ---------------------------------------------------------------------------------------

variable "zip_path" {
  description = "Path of the zip built by `make package-<name>`."
  type        = string
}

variable "code_version" {
  description = "`git describe --always --dirty` of the checkout the zip was built from (`make deploy-<name>` passes it); with the zip's SHA-256 it is the functions' SERVICE_VERSION, description and tags."
  type        = string
}

variable "memory_size" {
  description = "Lambda memory in MB (CPU scales with it)."
  type        = number

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240."
  }
}

variable "timeout" {
  description = "Lambda timeout in seconds; API Gateway gives up after 29 s, Twilio after 15 s."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 29
    error_message = "timeout must be between 1 and 29 seconds."
  }
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the API function; null leaves it unreserved."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrency == null ? true : var.reserved_concurrency >= 0
    error_message = "reserved_concurrency must be null or at least 0."
  }
}

variable "schedules" {
  description = "Scheduled functions from the same zip: key => handler (e.g. app.retry_failed: app.py, function retry_failed) and EventBridge schedule expression."
  type = map(object({
    handler             = string
    schedule_expression = string
  }))
  default = {}

  validation {
    condition     = alltrue([for s in values(var.schedules) : can(regex("^(rate|cron)\\(.+\\)$", s.schedule_expression))])
    error_message = "schedule_expression must be rate(...) or cron(...)."
  }
}

variable "log_retention_days" {
  description = "Days the function and access logs are kept."
  type        = number

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the log groups (platform module)."
  type        = string
}

variable "handoff" {
  description = "The workflow hand-off consumer (status service): its handler, the streams that feed it (key: a table of var.tables), the bus it publishes to, the DLQ of its event source mappings and their settings. Null: none."
  type = object({
    handler                            = string
    timeout                            = number
    stream_arns                        = map(string)
    event_bus_name                     = string
    event_bus_arn                      = string
    dlq_arn                            = string
    dlq_kms_key_arn                    = string
    batch_size                         = number
    maximum_batching_window_in_seconds = number
    maximum_retry_attempts             = number
    maximum_record_age_in_seconds      = number
  })
  default = null

  validation {
    condition     = var.handoff == null ? true : alltrue([for key in keys(var.handoff.stream_arns) : contains(["messages", "optouts"], key)])
    error_message = "handoff.stream_arns keys must be among: messages, optouts."
  }

  validation {
    condition     = var.handoff == null ? true : var.handoff.maximum_retry_attempts >= 0 && var.handoff.maximum_retry_attempts <= 10000
    error_message = "handoff.maximum_retry_attempts must be between 0 and 10000."
  }

  validation {
    condition     = var.handoff == null ? true : var.handoff.batch_size >= 1 && var.handoff.batch_size <= 10000
    error_message = "handoff.batch_size must be between 1 and 10000."
  }

  validation {
    condition     = var.handoff == null ? true : var.handoff.timeout >= 1 && var.handoff.timeout <= 900
    error_message = "handoff.timeout must be between 1 and 900 seconds."
  }
}

# ---------------------------------------------------------------------------------------
# Settings (carrier_core/settings.py)
# ---------------------------------------------------------------------------------------

variable "tables" {
  description = "Table names of the stage; the role may only touch the ones access.tf lists for this service."
  type = object({
    messages        = string
    failed_messages = string
    optouts         = string
    idempotency     = string
    tenants         = string
  })
}

variable "tables_kms_key_arn" {
  description = "KMS key that encrypts the tables (tables module); DynamoDB uses it on the caller's behalf."
  type        = string
}

variable "auth_token_parameter" {
  description = "Name of the SSM SecureString parameter holding the Twilio auth token, read once per cold start."
  type        = string

  validation {
    condition     = startswith(var.auth_token_parameter, "/")
    error_message = "auth_token_parameter must be a full parameter name starting with /."
  }
}

variable "secondary_auth_token_parameter" {
  description = "Name of the SSM SecureString parameter holding the next auth token while it is rotated in; null outside a rotation."
  type        = string
  default     = null
}

variable "webhook_shared_key_parameter" {
  description = "Name of the SSM SecureString parameter holding the secret of the Twilio SharedKey that signs webhooks (X-Twilio-Webhooks-Signature-Settings); null when webhooks are signed with the auth token only."
  type        = string
  default     = null
}

variable "api_key_secret_parameter" {
  description = "Name of the SSM SecureString parameter holding the Twilio API key's secret (outbound REST calls), or null. The key is used only when TWILIO_API_KEY_SID is set in environment."
  type        = string
  default     = null

  validation {
    condition     = var.api_key_secret_parameter == null ? true : startswith(var.api_key_secret_parameter, "/")
    error_message = "api_key_secret_parameter must be a full parameter name starting with /."
  }
}

variable "secrets_kms_key_arn" {
  description = "KMS key that encrypts the auth token parameters (platform module)."
  type        = string
}

variable "tenant_parameter_prefix" {
  description = "Path under which each tenant's secrets are SSM SecureStrings (<prefix><tenant>/auth-token, ...), /omni-twilio/<stage>/tenants/: the role may read parameters under it and no others of its kind."
  type        = string

  validation {
    condition     = can(regex("^(/[a-z0-9_.-]+)+/$", var.tenant_parameter_prefix))
    error_message = "tenant_parameter_prefix must be a parameter path of at least one level, starting and ending with /."
  }
}

variable "tenant_secrets_kms_key_arn" {
  description = "KMS key that encrypts the tenants' SecureStrings (platform module's tenant-secrets key); the role may decrypt with it through SSM."
  type        = string
}

variable "environment" {
  description = "Further settings: TWILIO_ACCOUNT_SID, TWILIO_DEFAULT_FROM_NUMBER, STATUS_WEBHOOK_URL, TWILIO_API_KEY_SID (outbound), MESSAGE_RETENTION_DAYS. Never a token or secret."
  type        = map(string)

  validation {
    condition     = length(setintersection(keys(var.environment), ["TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_SECONDARY", "TWILIO_API_KEY_SECRET"])) == 0
    error_message = "environment must not hold TWILIO_AUTH_TOKEN, TWILIO_AUTH_TOKEN_SECONDARY or TWILIO_API_KEY_SECRET: deployed stages read secrets from SSM."
  }
}

# ---------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------

variable "authorization" {
  description = "API authorization: AWS_IAM (SigV4-signed callers, the outbound API) or NONE (Twilio webhooks, which check X-Twilio-Signature)."
  type        = string

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.authorization)
    error_message = "authorization must be one of: NONE, AWS_IAM."
  }
}

variable "public_base_url" {
  description = "Base URL of a custom domain mapped to this API (no trailing slash); null uses the execute-api URL of the stage."
  type        = string
  default     = null

  validation {
    condition     = var.public_base_url == null ? true : can(regex("^https://[^/]+(/[^/]+)*$", var.public_base_url))
    error_message = "public_base_url must be an https URL without a trailing slash."
  }
}

variable "throttle_rate_limit" {
  description = "Steady requests per second the API stage admits before answering 429."
  type        = number

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Requests the API stage admits in a burst above the steady rate."
  type        = number

  validation {
    condition     = var.throttle_burst_limit > 0
    error_message = "throttle_burst_limit must be positive."
  }
}

# ---------------------------------------------------------------------------------------
# Media (infra/modules/media)
# ---------------------------------------------------------------------------------------

variable "media" {
  description = "The media bucket and its key, and what this service does there: PutObject under put_prefix (\"inbound/\", \"outbound/\"), GetObject on every object when read (to presign links), DeleteObject on every object when delete (redaction). null: the service keeps no media."
  type = object({
    bucket_name = string
    kms_key_arn = string
    put_prefix  = string
    read        = bool
    delete      = optional(bool, false)
  })
  default = null
}

variable "media_worker" {
  description = "The inbound media re-host: a function from the same zip (handler) fed by the messages stream, with its own role; its DLQ (the hand-off's) receives the place of a record that failed every retry. null: none."
  type = object({
    handler                = string
    messages_stream_arn    = string
    dlq_arn                = string
    dlq_kms_key_arn        = string
    timeout                = number
    batch_size             = number
    maximum_retry_attempts = number
  })
  default = null

  validation {
    condition     = var.media_worker == null ? true : var.media_worker.timeout >= 1 && var.media_worker.timeout <= 900
    error_message = "media_worker.timeout must be between 1 and 900 seconds."
  }
}

variable "optout_cancels" {
  description = "The opt-out's cancel of scheduled messages (outbound only): a function from the same zip (handler) fed by the optouts stream, with its own role; its DLQ (the hand-off's) receives the place of a record that failed every retry. null: none."
  type = object({
    handler                = string
    optouts_stream_arn     = string
    dlq_arn                = string
    dlq_kms_key_arn        = string
    timeout                = number
    batch_size             = number
    maximum_retry_attempts = number
  })
  default = null

  validation {
    condition     = var.optout_cancels == null ? true : var.optout_cancels.timeout >= 1 && var.optout_cancels.timeout <= 900
    error_message = "optout_cancels.timeout must be between 1 and 900 seconds."
  }
}
