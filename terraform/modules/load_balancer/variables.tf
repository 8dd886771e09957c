variable "name" {
  description = "Name of the load balancer and its security group (at most 32 characters), e.g. speedrun-dev-public."
  type        = string

  validation {
    condition     = length(var.name) <= 32
    error_message = "An ALB name has at most 32 characters."
  }
}

variable "internal" {
  description = "true for an internal ALB (sign-on, behind the API Gateway VPC link), false for the internet-facing one (speedrun, behind CloudFront)."
  type        = bool
}

variable "vpc_id" {
  description = "VPC of the load balancer."
  type        = string
}

variable "vpc_cidr_block" {
  description = "CIDR of the VPC; the ALB may only send to targets inside it."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the load balancer: public ones for the internet-facing ALB, private ones for an internal ALB."
  type        = list(string)
}

variable "target_port" {
  description = "Container port of the targets."
  type        = number
  default     = 8000
}

variable "allow_cloudfront_only" {
  description = "Admit the listener port from CloudFront's origin-facing managed prefix list."
  type        = bool
  default     = false
}

variable "ingress_cidr_blocks" {
  description = "Further IPv4 CIDRs admitted to the listener port (security-group sources are added by the caller)."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate for an HTTPS listener on 443; null serves plain HTTP on 80 (no custom domain)."
  type        = string
  default     = null
}

variable "idle_timeout" {
  description = "Seconds an idle connection stays open; WebSockets need at least 60 (the game sends heartbeats more often)."
  type        = number
  default     = 120
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "S3 bucket (SSE-S3) receiving access logs under alb/<name>/."
  type        = string
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
