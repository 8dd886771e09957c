variable "name" {
  description = "Name prefix of the environment, e.g. speedrun-dev; the service is <name>-signon."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of the shared ECS cluster."
  type        = string
}

variable "cluster_name" {
  description = "Name of the shared ECS cluster (for the autoscaling resource ID)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks and the target group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "image" {
  description = "Container image (repository URL and tag) built from services/signon/Dockerfile."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ARN of the image's ECR repository (pull permission)."
  type        = string
}

variable "cpu" {
  description = "Task CPU units."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB."
  type        = number
  default     = 512
}

variable "min_capacity" {
  description = "Minimum (and initial) number of tasks."
  type        = number
  default     = 1
}

variable "max_capacity" {
  description = "Maximum number of tasks."
  type        = number
  default     = 4
}

variable "cpu_target_percent" {
  description = "Average CPU utilisation the service scales to."
  type        = number
  default     = 60
}

variable "listener_arn" {
  description = "Listener of the internal ALB; the service adds a /signon rule."
  type        = string
}

variable "alb_security_group_id" {
  description = "Security group of the internal ALB (admitted to the container port)."
  type        = string
}

variable "efs_file_system_id" {
  description = "ID of the question-set file system."
  type        = string
}

variable "efs_file_system_arn" {
  description = "ARN of the question-set file system."
  type        = string
}

variable "efs_access_point_id" {
  description = "ID of the question-set access point."
  type        = string
}

variable "efs_access_point_arn" {
  description = "ARN of the question-set access point."
  type        = string
}

variable "efs_client_security_group_id" {
  description = "The question-set store's client security group."
  type        = string
}

variable "question_set_mount_path" {
  description = "Where the question sets are mounted in the container (QUESTION_SET_DIR)."
  type        = string
  default     = "/mnt/question-sets"
}

variable "redis_url" {
  description = "REDIS_URL (rediss://<primary endpoint>:6379)."
  type        = string
}

variable "redis_client_security_group_id" {
  description = "The cache's client security group."
  type        = string
}

variable "redis_auth_token_secret_arn" {
  description = "ARN of the Redis auth token secret (injected as REDIS_AUTH_TOKEN)."
  type        = string
}

variable "token_secret_arn" {
  description = "ARN of the token-signing secret (injected as TOKEN_SECRET)."
  type        = string
}

variable "run_table_name" {
  description = "RUN_TABLE_NAME: the DynamoDB run table."
  type        = string
}

variable "run_table_arn" {
  description = "ARN of the run table (read access)."
  type        = string
}

variable "public_url" {
  description = "PUBLIC_URL: the CloudFront https URL players use."
  type        = string
}

variable "trusted_proxy_hops" {
  description = "TRUSTED_PROXY_HOPS: proxies that append to X-Forwarded-For before sign-on. CloudFront (viewer IP), API Gateway (CloudFront's IP) and the internal ALB (the VPC link's IP) = 3."
  type        = number
  default     = 3
}

variable "log_level" {
  description = "LOG_LEVEL of the service."
  type        = string
  default     = "INFO"
}

variable "kms_key_arn" {
  description = "KMS key ARN of the environment (secrets, table, logs)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the service's log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource of this module."
  type        = map(string)
  default     = {}
}
