variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the mount targets."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets that get a mount target (one per AZ)."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the file system."
  type        = string
}

variable "posix_uid" {
  description = "POSIX uid every client acts as through the access point (the images' non-root user)."
  type        = number
  default     = 10001
}

variable "posix_gid" {
  description = "POSIX gid every client acts as through the access point."
  type        = number
  default     = 10001
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
