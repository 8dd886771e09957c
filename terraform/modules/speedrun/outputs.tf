output "service_name" {
  description = "Name of the speedrun ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the current speedrun task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "target_group_arn" {
  description = "ARN of the speedrun target group."
  value       = aws_lb_target_group.this.arn
}

output "security_group_id" {
  description = "Security group of the speedrun tasks."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "Log group of the speedrun containers."
  value       = aws_cloudwatch_log_group.this.name
}
