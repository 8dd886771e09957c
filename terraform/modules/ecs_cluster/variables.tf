variable "name" {
  description = "Name of the cluster (the environment prefix, e.g. speedrun-dev)."
  type        = string
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
