variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; the function is <name>-reporter."
  type        = string
}

variable "package_path" {
  description = "Path of the deployment zip built by tools/deploy/build_lambda.py (build/lambda/reporter.zip)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the function's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the function runs in (it must reach Redis)."
  type        = list(string)
}

variable "redis_client_security_group_id" {
  description = "The cache's client security group."
  type        = string
}

variable "redis_url" {
  description = "REDIS_URL (rediss://<primary endpoint>:6379)."
  type        = string
}

variable "redis_auth_token_secret_arn" {
  description = "ARN of the Redis auth token secret; passed as REDIS_AUTH_TOKEN_SECRET_ARN and read by the function."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the completion queue the function consumes."
  type        = string
}

variable "run_table_name" {
  description = "RUN_TABLE_NAME: the DynamoDB run table."
  type        = string
}

variable "run_table_arn" {
  description = "ARN of the run table."
  type        = string
}

variable "timeout" {
  description = "Timeout of the function in seconds; the queue's visibility timeout is 6x this."
  type        = number
  default     = 60
}

variable "memory_size" {
  description = "Memory of the function in MB; 1769 MB is one full vCPU (a 10,000 x 20 run peaks near 600 MB)."
  type        = number
  default     = 1769
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (must be >= maximum_concurrency)."
  type        = number
  default     = 5
}

variable "batch_size" {
  description = "Messages per invocation."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "batching_window_seconds" {
  description = "Seconds the event source waits to fill a batch."
  type        = number
  default     = 5

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 300
    error_message = "batching_window_seconds must be between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "Maximum concurrent invocations by the event source mapping (2-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_concurrency >= 2
    error_message = "maximum_concurrency must be at least 2."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the function."
  type        = string
  default     = "INFO"
}

variable "kms_key_arn" {
  description = "KMS key ARN of the environment (queue, table, secret, environment variables, logs)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
