variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; the bucket name starts with <name>-access-logs-."
  type        = string
}

variable "retention_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it still holds logs (dev convenience)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
