output "cluster_arn" {
  description = "ARN of the ECS cluster shared by sign-on and speedrun."
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}
