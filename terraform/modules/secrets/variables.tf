variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; secrets are named <name>/token-secret and <name>/redis-auth-token."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the secrets."
  type        = string
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 deletes at once, else 7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
