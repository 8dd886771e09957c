output "service_name" {
  description = "Name of the sign-on ECS service."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "ARN of the current sign-on task definition."
  value       = aws_ecs_task_definition.this.arn
}

output "target_group_arn" {
  description = "ARN of the sign-on target group."
  value       = aws_lb_target_group.this.arn
}

output "security_group_id" {
  description = "Security group of the sign-on tasks."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "Log group of the sign-on containers."
  value       = aws_cloudwatch_log_group.this.name
}
