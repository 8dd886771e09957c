variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; the API is <name>-api."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the VPC link."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the VPC link."
  type        = list(string)
}

variable "loader_function_name" {
  description = "Name of the loader Lambda (invoke permission)."
  type        = string
}

variable "loader_invoke_arn" {
  description = "Invoke ARN of the loader Lambda."
  type        = string
}

variable "signon_listener_arn" {
  description = "Listener ARN of the internal ALB in front of sign-on."
  type        = string
}

variable "signon_listener_port" {
  description = "Port of that listener (80 for HTTP, 443 for HTTPS)."
  type        = number
  default     = 80
}

variable "signon_alb_security_group_id" {
  description = "Security group of the internal ALB; this module admits the VPC link to it."
  type        = string
}

variable "throttling_burst_limit" {
  description = "Default burst limit of every route (requests)."
  type        = number
  default     = 200
}

variable "throttling_rate_limit" {
  description = "Default steady-state rate limit of every route (requests per second)."
  type        = number
  default     = 100
}

variable "upload_throttling_burst_limit" {
  description = "Burst limit of POST /question-set-upload."
  type        = number
  default     = 10
}

variable "upload_throttling_rate_limit" {
  description = "Rate limit of POST /question-set-upload (requests per second)."
  type        = number
  default     = 5
}

variable "kms_key_arn" {
  description = "KMS key ARN of the access-log log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the access logs, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
