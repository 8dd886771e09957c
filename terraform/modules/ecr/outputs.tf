output "repository_urls" {
  description = "Repository URL per service name (without a tag)."
  value       = { for service, repository in aws_ecr_repository.this : service => repository.repository_url }
}

output "repository_arns" {
  description = "Repository ARN per service name, for the task execution roles' pull permissions."
  value       = { for service, repository in aws_ecr_repository.this : service => repository.arn }
}
