variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key ARN encrypting the static site bucket (CloudFront may decrypt with it)."
  type        = string
}

variable "access_logs_bucket" {
  description = "Bucket receiving the static site bucket's server access logs."
  type        = string
}

variable "api_domain_name" {
  description = "Host name of the HTTP API's default endpoint (<id>.execute-api.<region>.amazonaws.com)."
  type        = string
}

variable "speedrun_origin_domain_name" {
  description = "Host name CloudFront connects to for /speedrun: the public ALB's DNS name, or a name on its certificate when speedrun_origin_https is true."
  type        = string
}

variable "speedrun_origin_https" {
  description = "Connect to the public ALB over HTTPS (needs its certificate_arn and a matching speedrun_origin_domain_name)."
  type        = bool
  default     = false
}

variable "origin_verify_header_value" {
  description = "Value of the X-Origin-Verify header sent to the public ALB."
  type        = string
  sensitive   = true
}

variable "aliases" {
  description = "Custom domain names of the distribution (need acm_certificate_arn)."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 for the aliases; null uses the *.cloudfront.net certificate."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "rate_limit_per_5_minutes" {
  description = "Requests one IP may make in 5 minutes before WAF blocks it."
  type        = number
  default     = 2000
}

variable "log_retention_days" {
  description = "Retention of the WAF log group, in days."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Allow destroying the bucket while it still holds files (dev convenience)."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
