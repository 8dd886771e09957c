variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; the table is <name>-runs."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key ARN for server-side encryption."
  type        = string
}

variable "deletion_protection" {
  description = "Refuse to delete the table (turn off only to tear an environment down)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
