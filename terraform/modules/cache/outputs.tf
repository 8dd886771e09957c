output "primary_endpoint_address" {
  description = "DNS name of the primary endpoint (follows failover)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.this.port
}

output "redis_url" {
  description = "REDIS_URL for the services: rediss://<primary endpoint>:6379 (TLS; the token comes separately)."
  value       = "rediss://${aws_elasticache_replication_group.this.primary_endpoint_address}:${aws_elasticache_replication_group.this.port}"
}

output "client_security_group_id" {
  description = "Security group a client attaches to reach Redis."
  value       = aws_security_group.client.id
}

output "replication_group_arn" {
  description = "ARN of the replication group."
  value       = aws_elasticache_replication_group.this.arn
}
