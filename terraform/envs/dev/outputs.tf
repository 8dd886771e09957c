output "url" {
  description = "https URL of the environment (CloudFront)."
  value       = module.web.url
}

output "web_bucket" {
  description = "Bucket that web/ is synced to."
  value       = module.web.bucket_name
}

output "distribution_id" {
  description = "CloudFront distribution ID (for invalidations)."
  value       = module.web.distribution_id
}

output "ecr_repository_urls" {
  description = "ECR repository URL per container service."
  value       = module.ecr.repository_urls
}

output "signon_repository_url" {
  description = "ECR repository of the sign-on image."
  value       = module.ecr.repository_urls["signon"]
}

output "speedrun_repository_url" {
  description = "ECR repository of the speedrun image."
  value       = module.ecr.repository_urls["speedrun"]
}

output "loader_function_name" {
  description = "Name of the loader Lambda."
  value       = module.loader.function_name
}

output "reporter_function_name" {
  description = "Name of the reporter Lambda."
  value       = module.reporter.function_name
}

output "api_endpoint" {
  description = "Default endpoint of the HTTP API (use the CloudFront url instead)."
  value       = module.api.api_endpoint
}

output "cluster_name" {
  description = "ECS cluster of sign-on and speedrun."
  value       = module.ecs_cluster.cluster_name
}

output "signon_service_name" {
  description = "ECS service of sign-on."
  value       = module.signon.service_name
}

output "speedrun_service_name" {
  description = "ECS service of speedrun."
  value       = module.speedrun.service_name
}

output "completion_queue_url" {
  description = "URL of the SQS completion queue."
  value       = module.queue.queue_url
}

output "run_table_name" {
  description = "Name of the DynamoDB run table."
  value       = module.run_store.table_name
}

output "aws_region" {
  description = "Region of the stack."
  value       = var.aws_region
}
