# ---------------------------------------------------------------------------------------
# What to watch
# ---------------------------------------------------------------------------------------

variable "stage" {
  description = "Deployed stage: the `stage` dimension of the carrier's metrics and the API stage name."
  type        = string

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be one of: dev, prod."
  }
}

variable "api_names" {
  description = "REST API names (omni-twilio-<stage>-<service>) whose 5xx rate and p99 latency are watched."
  type        = list(string)
}

variable "function_names" {
  description = "Lambda function names whose errors and throttles are watched."
  type        = list(string)
}

variable "scheduled_function_names" {
  description = "Scheduled Lambda functions that must run at least once every 10 minutes."
  type        = list(string)
  default     = []
}

variable "table_names" {
  description = "DynamoDB table names whose read and write throttles are watched."
  type        = list(string)
}

variable "stream_consumer_names" {
  description = "Lambda functions reading a DynamoDB stream (the workflow hand-off) whose iterator age is watched."
  type        = list(string)
  default     = []
}

variable "events_dlq_name" {
  description = "SQS dead-letter queue of the hand-off (omni-twilio-<stage>-events-dlq); any message raises the alarm. Null: none."
  type        = string
  default     = null
}

variable "webhook_services" {
  description = "Twilio-facing services whose signature rejections are watched (a surge means a token mismatch)."
  type        = list(string)
  default     = ["inbound", "status"]
}

# ---------------------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------------------

variable "api_5xx_rate_threshold" {
  description = "Fraction of API requests answered 5xx over 5 minutes that raises the alarm (0.01 = 1 %)."
  type        = number
  default     = 0.01

  validation {
    condition     = var.api_5xx_rate_threshold > 0 && var.api_5xx_rate_threshold < 1
    error_message = "api_5xx_rate_threshold must be a fraction between 0 and 1."
  }
}

variable "p99_latency_threshold_ms" {
  description = "p99 API latency in milliseconds that raises the alarm (Twilio gives up at 15000)."
  type        = number
  default     = 3000
}

variable "lambda_errors_threshold" {
  description = "Function errors in 5 minutes above which the alarm is raised."
  type        = number
  default     = 0
}

variable "invalid_signature_threshold" {
  description = "Requests refused for an invalid signature in 5 minutes above which the alarm is raised."
  type        = number
  default     = 10
}

variable "failed_backlog_threshold" {
  description = "Failed sends waiting for a retry (FailedMessagesBacklog) above which the alarm is raised."
  type        = number
  default     = 100
}

variable "scheduled_messages_threshold" {
  description = "Scheduled messages held by one Twilio account (ScheduledMessagesMax) above which the alarm is raised; Twilio's limit is 500,000."
  type        = number
  default     = 400000

  validation {
    condition     = var.scheduled_messages_threshold > 0 && var.scheduled_messages_threshold < 500000
    error_message = "scheduled_messages_threshold must be above 0 and below Twilio's limit of 500,000."
  }
}

variable "delivery_failure_rate_threshold" {
  description = "Percent of status callbacks that report a failed or undelivered message above which the alarm is raised."
  type        = number
  default     = 5

  validation {
    condition     = var.delivery_failure_rate_threshold > 0 && var.delivery_failure_rate_threshold <= 100
    error_message = "delivery_failure_rate_threshold must be a percentage between 0 and 100."
  }
}

variable "iterator_age_threshold_ms" {
  description = "Age in milliseconds of the oldest stream record not yet handed off above which the alarm is raised (the workflow engine is that far behind; streams keep records 24 hours)."
  type        = number
  default     = 300000

  validation {
    condition     = var.iterator_age_threshold_ms > 0 && var.iterator_age_threshold_ms < 86400000
    error_message = "iterator_age_threshold_ms must be between 0 and 86400000 (a stream's 24 hours)."
  }
}

variable "delivery_failure_min_volume" {
  description = "Status callbacks in the period below which the delivery-failure rate is not judged (too few to mean anything)."
  type        = number
  default     = 20
}

# ---------------------------------------------------------------------------------------
# Notification
# ---------------------------------------------------------------------------------------

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm by email)."
  type        = list(string)
  default     = []
}

variable "kms_deletion_window_days" {
  description = "Days a scheduled deletion of the topic's KMS key waits before it is final."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}
