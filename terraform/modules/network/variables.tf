variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; split into /20 subnets (needs a /16)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && endswith(var.cidr_block, "/16")
    error_message = "cidr_block must be a valid /16 CIDR."
  }
}

variable "az_count" {
  description = "Number of availability zones to span (2 or 3). ElastiCache Multi-AZ needs at least 2."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zone_suffixes" {
  description = "Letters of the zones the VPC may use (e.g. [\"a\", \"b\", \"c\"] = <region>a...); the first az_count available ones are used."
  type        = list(string)
  default     = ["a", "b", "c"]
}

variable "interface_endpoint_services" {
  description = "AWS services reached from the private subnets through interface endpoints (short names, e.g. sqs)."
  type        = list(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sqs"]
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the flow-log log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow-log log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
