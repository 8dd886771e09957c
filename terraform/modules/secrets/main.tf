# The values live in the Terraform state (an encrypted, access-controlled S3 object): that is the
# price of creating them here rather than by hand, and lets the cache module set the same Redis
# auth token that the services read from Secrets Manager.
resource "random_password" "token_secret" {
  length  = 64
  special = false
}

# ElastiCache auth tokens: 16-128 printable characters, no @, " or /. Alphanumerics only.
resource "random_password" "redis_auth_token" {
  length  = 64
  special = false
}

# Shared between CloudFront (custom origin header) and the public ALB listener rule, so that the
# ALB answers only requests that came through our distribution. Not a credential of any service.
resource "random_password" "origin_verify" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "token_secret" {
  #checkov:skip=CKV2_AWS_57:Rotating the JWT HS256 signing secret signs every host and participant out mid-run; it is rotated by hand (taint random_password.token_secret) in a quiet window.
  name                    = "${var.name}/token-secret"
  description             = "HS256 signing secret of the speedrun sign-on tokens (TOKEN_SECRET)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "token_secret" {
  secret_id     = aws_secretsmanager_secret.token_secret.id
  secret_string = random_password.token_secret.result
}

resource "aws_secretsmanager_secret" "redis_auth_token" {
  #checkov:skip=CKV2_AWS_57:The Redis AUTH token is rotated with ElastiCache's ROTATE auth_token_update_strategy driven by Terraform (taint random_password.redis_auth_token), not by a rotation Lambda.
  name                    = "${var.name}/redis-auth-token"
  description             = "AUTH token of the speedrun ElastiCache replication group (REDIS_AUTH_TOKEN)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_auth_token" {
  secret_id     = aws_secretsmanager_secret.redis_auth_token.id
  secret_string = random_password.redis_auth_token.result
}
