variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; the function is <name>-loader."
  type        = string
}

variable "package_path" {
  description = "Path of the deployment zip built by tools/deploy/build_lambda.py (build/lambda/loader.zip)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the function runs in (it must reach the EFS mount targets)."
  type        = list(string)
}

variable "efs_client_security_group_id" {
  description = "The question-set store's client security group (NFS to the mount targets)."
  type        = string
}

variable "efs_file_system_arn" {
  description = "ARN of the question-set file system."
  type        = string
}

variable "efs_access_point_arn" {
  description = "ARN of the question-set access point the function mounts."
  type        = string
}

variable "efs_mount_target_ids" {
  description = "Mount target IDs; the function is created after them."
  type        = list(string)
}

variable "question_set_mount_path" {
  description = "Where the access point is mounted (QUESTION_SET_DIR); Lambda requires a path under /mnt/."
  type        = string
  default     = "/mnt/question-sets"

  validation {
    condition     = startswith(var.question_set_mount_path, "/mnt/")
    error_message = "Lambda mounts file systems under /mnt/ only."
  }
}

variable "max_upload_bytes" {
  description = "MAX_UPLOAD_BYTES for the loader, or null for its built-in default (5 MiB). The file reaches Lambda base64-encoded within a 6 MB payload, so about 4.4 MB is the most that gets through: 4 MiB keeps the loader's own clear 413."
  type        = number
  default     = 4194304
}

variable "log_level" {
  description = "LOG_LEVEL of the function."
  type        = string
  default     = "INFO"
}

variable "memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 512
}

variable "timeout" {
  description = "Timeout of the function in seconds (API Gateway gives up after 30)."
  type        = number
  default     = 29
}

variable "reserved_concurrency" {
  description = "Reserved (and maximum) concurrent executions; bounds parallel writes to EFS."
  type        = number
  default     = 10
}

variable "kms_key_arn" {
  description = "KMS key ARN for the environment variables and the log group."
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
