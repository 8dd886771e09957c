variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; queues are <name>-completion and <name>-completion-dlq."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting both queues."
  type        = string
}

variable "consumer_timeout_seconds" {
  description = "Timeout of the consuming Lambda (the reporter); the visibility timeout is 6x this."
  type        = number

  validation {
    condition     = var.consumer_timeout_seconds >= 1 && var.consumer_timeout_seconds <= 900
    error_message = "consumer_timeout_seconds must be a Lambda timeout (1-900)."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ (at least 5, so throttled or partially failed batches are retried)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 5
    error_message = "max_receive_count must be at least 5."
  }
}

variable "message_retention_seconds" {
  description = "How long the completion queue keeps an unprocessed message."
  type        = number
  default     = 345600
}

variable "alarm_actions" {
  description = "ARNs (e.g. an SNS topic) notified when the DLQ alarm changes state."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
