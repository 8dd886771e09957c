output "token_secret_arn" {
  description = "ARN of the <name>/token-secret secret (JWT HS256 signing secret)."
  value       = aws_secretsmanager_secret.token_secret.arn
}

output "token_secret_name" {
  description = "Name of the token-signing secret."
  value       = aws_secretsmanager_secret.token_secret.name
}

output "redis_auth_token_secret_arn" {
  description = "ARN of the <name>/redis-auth-token secret."
  value       = aws_secretsmanager_secret.redis_auth_token.arn
}

output "redis_auth_token_secret_name" {
  description = "Name of the Redis auth token secret."
  value       = aws_secretsmanager_secret.redis_auth_token.name
}

output "redis_auth_token" {
  description = "The Redis AUTH token itself, for the ElastiCache replication group."
  value       = random_password.redis_auth_token.result
  sensitive   = true
}

output "origin_verify_header_value" {
  description = "Value of the X-Origin-Verify header CloudFront sends to the public ALB."
  value       = random_password.origin_verify.result
  sensitive   = true
}
