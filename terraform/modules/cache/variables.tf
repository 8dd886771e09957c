variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the cache subnet group (at least two AZs for Multi-AZ)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Multi-AZ needs subnets in at least two availability zones."
  }
}

variable "kms_key_arn" {
  description = "KMS key ARN for encryption at rest and the slow-log log group."
  type        = string
}

variable "auth_token" {
  description = "Redis AUTH token (the value stored in the <name>/redis-auth-token secret)."
  type        = string
  sensitive   = true
}

variable "engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "num_cache_clusters" {
  description = "Nodes in the replication group (primary + replicas); at least 2 for automatic failover."
  type        = number
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 2
    error_message = "Automatic failover and Multi-AZ need at least 2 nodes."
  }
}

variable "snapshot_retention_limit" {
  description = "Days of daily snapshots kept (0 disables); in-progress state is short-lived."
  type        = number
  default     = 1
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the maintenance window."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the slow-log log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
