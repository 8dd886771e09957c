# The speedrun stack of one environment. envs/dev and envs/prod hold the same composition;
# they differ only in terraform.tfvars and the state key.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}

# CloudFront-scoped WAF resources live in us-east-1 whatever the stack's region.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.tags
  }
}

locals {
  name             = "speedrun-${var.environment}"
  question_set_dir = "/mnt/question-sets"
  # Zips built by tools/deploy/build_lambda.py at the repository root.
  lambda_package_dir = "${path.root}/../../../build/lambda"
  tags = {
    Project     = "speedrun"
    Environment = var.environment
    ManagedBy   = "terraform"
  }
}

module "kms" {
  source = "../../modules/kms"

  name = local.name
}

module "network" {
  source = "../../modules/network"

  name               = local.name
  cidr_block         = var.vpc_cidr_block
  az_count           = var.az_count
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
}

module "secrets" {
  source = "../../modules/secrets"

  name                    = local.name
  kms_key_arn             = module.kms.key_arn
  recovery_window_in_days = var.secret_recovery_window_in_days
}

module "ecr" {
  source = "../../modules/ecr"

  name             = local.name
  repository_names = ["signon", "speedrun"]
  kms_key_arn      = module.kms.key_arn
  force_delete     = var.force_destroy
}

module "access_logs" {
  source = "../../modules/access_logs"

  name          = local.name
  force_destroy = var.force_destroy
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = module.kms.key_arn
}

resource "aws_sns_topic_subscription" "alarms_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

module "question_set_store" {
  source = "../../modules/question_set_store"

  name        = local.name
  vpc_id      = module.network.vpc_id
  subnet_ids  = module.network.private_subnet_ids
  kms_key_arn = module.kms.key_arn
}

module "cache" {
  source = "../../modules/cache"

  name               = local.name
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids
  kms_key_arn        = module.kms.key_arn
  auth_token         = module.secrets.redis_auth_token
  node_type          = var.cache_node_type
  num_cache_clusters = var.cache_nodes
  log_retention_days = var.log_retention_days
}

module "run_store" {
  source = "../../modules/run_store"

  name        = local.name
  kms_key_arn = module.kms.key_arn
}

module "queue" {
  source = "../../modules/queue"

  name                     = local.name
  kms_key_arn              = module.kms.key_arn
  consumer_timeout_seconds = var.reporter_timeout_seconds
  max_receive_count        = 5
  alarm_actions            = [aws_sns_topic.alarms.arn]
}

module "loader" {
  source = "../../modules/loader"

  name                         = local.name
  package_path                 = "${local.lambda_package_dir}/loader.zip"
  subnet_ids                   = module.network.private_subnet_ids
  efs_client_security_group_id = module.question_set_store.client_security_group_id
  efs_file_system_arn          = module.question_set_store.file_system_arn
  efs_access_point_arn         = module.question_set_store.access_point_arn
  efs_mount_target_ids         = module.question_set_store.mount_target_ids
  question_set_mount_path      = local.question_set_dir
  max_upload_bytes             = var.max_upload_bytes
  log_level                    = var.log_level
  reserved_concurrency         = var.loader_reserved_concurrency
  kms_key_arn                  = module.kms.key_arn
  log_retention_days           = var.log_retention_days
}

module "reporter" {
  source = "../../modules/reporter"

  name                           = local.name
  package_path                   = "${local.lambda_package_dir}/reporter.zip"
  vpc_id                         = module.network.vpc_id
  subnet_ids                     = module.network.private_subnet_ids
  redis_client_security_group_id = module.cache.client_security_group_id
  redis_url                      = module.cache.redis_url
  redis_auth_token_secret_arn    = module.secrets.redis_auth_token_secret_arn
  queue_arn                      = module.queue.queue_arn
  run_table_name                 = module.run_store.table_name
  run_table_arn                  = module.run_store.table_arn
  timeout                        = var.reporter_timeout_seconds
  log_level                      = var.log_level
  kms_key_arn                    = module.kms.key_arn
  log_retention_days             = var.log_retention_days
}

module "ecs_cluster" {
  source = "../../modules/ecs_cluster"

  name = local.name
}

# Internet-facing, for the speedrun WebSockets; admits CloudFront only.
module "public_alb" {
  source = "../../modules/load_balancer"

  name                  = "${local.name}-public"
  internal              = false
  vpc_id                = module.network.vpc_id
  vpc_cidr_block        = module.network.vpc_cidr_block
  subnet_ids            = module.network.public_subnet_ids
  allow_cloudfront_only = true
  certificate_arn       = var.alb_certificate_arn
  idle_timeout          = 120
  access_logs_bucket    = module.access_logs.bucket_name
}

# Internal, for sign-on; the api module admits its VPC link.
module "internal_alb" {
  source = "../../modules/load_balancer"

  name               = "${local.name}-internal"
  internal           = true
  vpc_id             = module.network.vpc_id
  vpc_cidr_block     = module.network.vpc_cidr_block
  subnet_ids         = module.network.private_subnet_ids
  idle_timeout       = 60
  access_logs_bucket = module.access_logs.bucket_name
}

module "api" {
  source = "../../modules/api"

  name                         = local.name
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  loader_function_name         = module.loader.function_name
  loader_invoke_arn            = module.loader.invoke_arn
  signon_listener_arn          = module.internal_alb.listener_arn
  signon_listener_port         = 80
  signon_alb_security_group_id = module.internal_alb.security_group_id
  kms_key_arn                  = module.kms.key_arn
  log_retention_days           = var.log_retention_days
}

module "web" {
  source = "../../modules/web"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                        = local.name
  kms_key_arn                 = module.kms.key_arn
  access_logs_bucket          = module.access_logs.bucket_name
  api_domain_name             = module.api.api_domain_name
  speedrun_origin_domain_name = coalesce(var.speedrun_origin_domain_name, module.public_alb.dns_name)
  speedrun_origin_https       = var.alb_certificate_arn != null
  origin_verify_header_value  = module.secrets.origin_verify_header_value
  aliases                     = var.domain_aliases
  acm_certificate_arn         = var.cloudfront_certificate_arn
  log_retention_days          = var.log_retention_days
  force_destroy               = var.force_destroy
}

module "signon" {
  source = "../../modules/signon"

  name                           = local.name
  cluster_arn                    = module.ecs_cluster.cluster_arn
  cluster_name                   = module.ecs_cluster.cluster_name
  vpc_id                         = module.network.vpc_id
  subnet_ids                     = module.network.private_subnet_ids
  image                          = "${module.ecr.repository_urls["signon"]}:${var.image_tag}"
  ecr_repository_arn             = module.ecr.repository_arns["signon"]
  cpu                            = var.signon_cpu
  memory                         = var.signon_memory
  min_capacity                   = var.signon_min_capacity
  max_capacity                   = var.signon_max_capacity
  listener_arn                   = module.internal_alb.listener_arn
  alb_security_group_id          = module.internal_alb.security_group_id
  efs_file_system_id             = module.question_set_store.file_system_id
  efs_file_system_arn            = module.question_set_store.file_system_arn
  efs_access_point_id            = module.question_set_store.access_point_id
  efs_access_point_arn           = module.question_set_store.access_point_arn
  efs_client_security_group_id   = module.question_set_store.client_security_group_id
  question_set_mount_path        = local.question_set_dir
  redis_url                      = module.cache.redis_url
  redis_client_security_group_id = module.cache.client_security_group_id
  redis_auth_token_secret_arn    = module.secrets.redis_auth_token_secret_arn
  token_secret_arn               = module.secrets.token_secret_arn
  run_table_name                 = module.run_store.table_name
  run_table_arn                  = module.run_store.table_arn
  public_url                     = module.web.url
  log_level                      = var.log_level
  kms_key_arn                    = module.kms.key_arn
  log_retention_days             = var.log_retention_days
}

module "speedrun" {
  source = "../../modules/speedrun"

  name                           = local.name
  cluster_arn                    = module.ecs_cluster.cluster_arn
  cluster_name                   = module.ecs_cluster.cluster_name
  vpc_id                         = module.network.vpc_id
  subnet_ids                     = module.network.private_subnet_ids
  image                          = "${module.ecr.repository_urls["speedrun"]}:${var.image_tag}"
  ecr_repository_arn             = module.ecr.repository_arns["speedrun"]
  cpu                            = var.speedrun_cpu
  memory                         = var.speedrun_memory
  min_capacity                   = var.speedrun_min_capacity
  max_capacity                   = var.speedrun_max_capacity
  connections_per_task_target    = var.speedrun_connections_per_task
  listener_arn                   = module.public_alb.listener_arn
  alb_security_group_id          = module.public_alb.security_group_id
  alb_arn_suffix                 = module.public_alb.arn_suffix
  origin_verify_header_value     = module.secrets.origin_verify_header_value
  efs_file_system_id             = module.question_set_store.file_system_id
  efs_file_system_arn            = module.question_set_store.file_system_arn
  efs_access_point_id            = module.question_set_store.access_point_id
  efs_access_point_arn           = module.question_set_store.access_point_arn
  efs_client_security_group_id   = module.question_set_store.client_security_group_id
  question_set_mount_path        = local.question_set_dir
  redis_url                      = module.cache.redis_url
  redis_client_security_group_id = module.cache.client_security_group_id
  redis_auth_token_secret_arn    = module.secrets.redis_auth_token_secret_arn
  token_secret_arn               = module.secrets.token_secret_arn
  allowed_origins                = [module.web.url]
  completion_queue_url           = module.queue.queue_url
  completion_queue_arn           = module.queue.queue_arn
  log_level                      = var.log_level
  kms_key_arn                    = module.kms.key_arn
  log_retention_days             = var.log_retention_days
}
