variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; repositories are <name>/<service>."
  type        = string
}

variable "repository_names" {
  description = "One repository per container service, e.g. [\"signon\", \"speedrun\"]."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the images."
  type        = string
}

variable "images_to_keep" {
  description = "Number of images kept per repository; older ones expire."
  type        = number
  default     = 30
}

variable "force_delete" {
  description = "Delete repositories even when they still hold images (dev convenience)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
