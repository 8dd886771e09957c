variable "environment" {
  description = "Environment name; every resource is named speedrun-<environment>-..."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lower-case letters or digits (it goes into ALB names)."
  }
}

variable "aws_region" {
  description = "AWS region of the stack (CloudFront's WAF goes to us-east-1 regardless)."
  type        = string
}

variable "image_tag" {
  description = "Tag of the sign-on and speedrun images in ECR; tools/deploy/deploy.sh passes the git commit."
  type        = string
}

variable "vpc_cidr_block" {
  description = "IPv4 CIDR (/16) of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones to span (2-3)."
  type        = number
  default     = 2
}

variable "log_level" {
  description = "LOG_LEVEL of every service."
  type        = string
  default     = "INFO"
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group, in days."
  type        = number
  default     = 365
}

variable "secret_recovery_window_in_days" {
  description = "Days a deleted secret can be restored (0 = at once)."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Let terraform destroy non-empty buckets and repositories (dev only)."
  type        = bool
  default     = false
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (DLQ not empty), or null."
  type        = string
  default     = null
}

variable "cache_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "cache_nodes" {
  description = "Redis nodes (primary + replicas), at least 2."
  type        = number
  default     = 2
}

variable "reporter_timeout_seconds" {
  description = "Reporter Lambda timeout; the completion queue's visibility timeout is 6x this."
  type        = number
  default     = 60
}

variable "loader_reserved_concurrency" {
  description = "Reserved concurrency of the loader Lambda."
  type        = number
  default     = 10
}

variable "max_upload_bytes" {
  description = "MAX_UPLOAD_BYTES of the loader, or null for its default."
  type        = number
  default     = null
}

variable "signon_cpu" {
  description = "CPU units of a sign-on task."
  type        = number
  default     = 256
}

variable "signon_memory" {
  description = "Memory (MiB) of a sign-on task."
  type        = number
  default     = 512
}

variable "signon_min_capacity" {
  description = "Minimum sign-on tasks."
  type        = number
  default     = 1
}

variable "signon_max_capacity" {
  description = "Maximum sign-on tasks."
  type        = number
  default     = 3
}

variable "speedrun_cpu" {
  description = "CPU units of a speedrun task."
  type        = number
  default     = 512
}

variable "speedrun_memory" {
  description = "Memory (MiB) of a speedrun task."
  type        = number
  default     = 1024
}

variable "speedrun_min_capacity" {
  description = "Minimum speedrun tasks."
  type        = number
  default     = 2
}

variable "speedrun_max_capacity" {
  description = "Maximum speedrun tasks."
  type        = number
  default     = 10
}

variable "speedrun_connections_per_task" {
  description = "Open WebSockets per speedrun task the service scales to."
  type        = number
  default     = 500
}

variable "domain_aliases" {
  description = "Custom domain names of the CloudFront distribution (need cloudfront_certificate_arn)."
  type        = list(string)
  default     = []
}

variable "cloudfront_certificate_arn" {
  description = "ACM certificate in us-east-1 for domain_aliases; enables TLSv1.2_2021 for viewers. null = *.cloudfront.net."
  type        = string
  default     = null
}

variable "alb_certificate_arn" {
  description = "ACM certificate (stack region) for HTTPS between CloudFront and the public ALB; null = HTTP restricted to CloudFront."
  type        = string
  default     = null
}

variable "speedrun_origin_domain_name" {
  description = "DNS name on alb_certificate_arn that points at the public ALB; null = the ALB's own DNS name."
  type        = string
  default     = null
}
