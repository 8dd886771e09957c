resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = "${var.name}-cache"
  description                = "speedrun in-progress run state and pub/sub"
  engine                     = "redis"
  engine_version             = var.engine_version
  node_type                  = var.node_type
  port                       = 6379
  num_cache_clusters         = var.num_cache_clusters
  automatic_failover_enabled = true
  multi_az_enabled           = true
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [aws_security_group.this.id]
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = var.auth_token
  auth_token_update_strategy = "ROTATE"
  auto_minor_version_upgrade = true
  snapshot_retention_limit   = var.snapshot_retention_limit
  maintenance_window         = "sun:05:00-sun:06:00"
  snapshot_window            = "03:00-04:00"
  apply_immediately          = var.apply_immediately

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.slow_log.name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  tags = var.tags
}

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.name}-cache"
  subnet_ids = var.subnet_ids

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "slow_log" {
  name              = "/aws/elasticache/${var.name}-cache/slow-log"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_security_group" "this" {
  name        = "${var.name}-cache"
  description = "speedrun Redis: TLS Redis from cache clients"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-cache" })
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  security_group_id            = aws_security_group.this.id
  description                  = "Redis from cache clients"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.client.id
}

# Clients (sign-on, speedrun, reporter) attach this rule-less-on-ingress group.
resource "aws_security_group" "client" {
  #checkov:skip=CKV2_AWS_5:Attached by the clients in other modules (Lambdas' vpc_config, ECS services' network_configuration) through this module's client_security_group_id output; checkov's graph does not follow module outputs.
  name        = "${var.name}-cache-client"
  description = "Attach to reach the speedrun Redis replication group"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-cache-client" })
}

resource "aws_vpc_security_group_egress_rule" "client_redis" {
  security_group_id            = aws_security_group.client.id
  description                  = "Redis to the replication group"
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
  referenced_security_group_id = aws_security_group.this.id
}
