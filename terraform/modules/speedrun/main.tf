data "aws_region" "current" {}

locals {
  service_name   = "${var.name}-speedrun"
  container_name = "speedrun"
  container_port = 8000
  # Every variable speedrun_run.config.Settings reads (tests/terraform checks the names).
  environment = {
    ENVIRONMENT          = "production"
    LOG_LEVEL            = var.log_level
    REDIS_URL            = var.redis_url
    ALLOWED_ORIGINS      = join(",", var.allowed_origins)
    COMPLETION_QUEUE_URL = var.completion_queue_url
    AWS_REGION           = data.aws_region.current.name
    QUESTION_SET_DIR     = var.question_set_mount_path
    # CloudFront appends the viewer's address to X-Forwarded-For, then the ALB appends
    # CloudFront's: the client is the second entry from the right.
    TRUSTED_PROXY_HOPS = "2"
  }
  # Injected by ECS from Secrets Manager at task start.
  secrets = {
    REDIS_AUTH_TOKEN = var.redis_auth_token_secret_arn
    TOKEN_SECRET     = var.token_secret_arn
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = local.service_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name      = local.container_name
    image     = var.image
    essential = true
    command   = ["python", "-m", "speedrun_run", "--host", "0.0.0.0", "--port", tostring(local.container_port)]
    portMappings = [{
      name          = "http"
      containerPort = local.container_port
      protocol      = "tcp"
    }]
    environment            = [for key, value in local.environment : { name = key, value = value }]
    secrets                = [for key, value in local.secrets : { name = key, valueFrom = value }]
    readonlyRootFilesystem = true
    privileged             = false
    # SIGTERM makes the engine close every WebSocket with 1012 (service restart) within 20 s;
    # ECS waits 30 s before SIGKILL, while the target group drains for 30 s.
    stopTimeout = 30
    ulimits = [{
      name      = "nofile"
      softLimit = 65536
      hardLimit = 65536
    }]
    mountPoints = [
      { sourceVolume = "question-sets", containerPath = var.question_set_mount_path, readOnly = true },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = local.container_name
      }
    }
  }])

  volume {
    name = "question-sets"

    efs_volume_configuration {
      file_system_id     = var.efs_file_system_id
      transit_encryption = "ENABLED"

      authorization_config {
        access_point_id = var.efs_access_point_id
        iam             = "ENABLED"
      }
    }
  }

  # Task-local scratch space: the root file system is read-only.
  volume {
    name = "tmp"
  }

  tags = var.tags
}

resource "aws_ecs_service" "this" {
  name                               = local.service_name
  cluster                            = var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.min_capacity
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  health_check_grace_period_seconds  = 30
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this.id, var.efs_client_security_group_id, var.redis_client_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  tags = var.tags

  lifecycle {
    # Application Auto Scaling owns the task count.
    ignore_changes = [desired_count]
  }

  depends_on = [aws_lb_listener_rule.this, aws_iam_role_policy.task]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${local.service_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:The tasks serve plain HTTP on 8000 inside the private subnets; TLS ends at CloudFront / API Gateway, and the hop from the ALB to a task never leaves the VPC.
  name        = local.service_name
  port        = local.container_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  # Long enough for the engine's SIGTERM handler to close its sockets (20 s) with 1012, so the
  # clients reconnect to another task instead of being cut.
  deregistration_delay = 30

  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

# Only CloudFront knows the origin header value: requests straight to the ALB get the listener's 404.
resource "aws_lb_listener_rule" "this" {
  listener_arn = var.listener_arn
  priority     = 100

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  condition {
    path_pattern {
      values = ["/speedrun"]
    }
  }

  condition {
    http_header {
      http_header_name = "X-Origin-Verify"
      values           = [var.origin_verify_header_value]
    }
  }

  tags = var.tags
}

resource "aws_security_group" "this" {
  name        = local.service_name
  description = "speedrun game engine tasks"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.service_name })
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  security_group_id            = aws_security_group.this.id
  description                  = "HTTP and WebSocket from the public ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = var.alb_security_group_id
}

# Outbound HTTPS reaches only the VPC endpoints and the gateway endpoints: the private subnets
# have no other route out.
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs through VPC endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_iam_role" "execution" {
  name = "${local.service_name}-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name = "pull-log-secrets"
  role = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # GetAuthorizationToken has no resource-level permissions.
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = ["ecr:GetAuthorizationToken"]
        Resource = ["*"]
      },
      {
        Sid      = "EcrPull"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
        Resource = [var.ecr_repository_arn]
      },
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
      },
      {
        Sid      = "Secrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = values(local.secrets)
      },
      {
        Sid      = "SecretsKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

resource "aws_iam_role" "task" {
  name = "${local.service_name}-task"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "task" {
  name = "speedrun"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "QuestionSetsReadOnly"
        Effect   = "Allow"
        Action   = ["elasticfilesystem:ClientMount"]
        Resource = [var.efs_file_system_arn]
        Condition = {
          StringEquals = { "elasticfilesystem:AccessPointArn" = var.efs_access_point_arn }
        }
      },
      {
        Sid      = "CompletionQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [var.completion_queue_arn]
      },
      {
        # SendMessage to an SSE-KMS queue needs a data key.
        Sid      = "CompletionQueueKey"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}

resource "aws_appautoscaling_target" "this" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

resource "aws_appautoscaling_policy" "cpu" {
  name               = "${local.service_name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.cpu_target_percent
    # Scaling in drains WebSockets (clients reconnect elsewhere): do it slowly.
    scale_in_cooldown  = 600
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# Open WebSockets per task. ActiveConnectionCount counts both the client->ALB and the ALB->target
# connection of every socket, hence the division by 2; HealthyHostCount is the task count.
resource "aws_appautoscaling_policy" "connections" {
  name               = "${local.service_name}-connections"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this.service_namespace
  resource_id        = aws_appautoscaling_target.this.resource_id
  scalable_dimension = aws_appautoscaling_target.this.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.connections_per_task_target
    scale_in_cooldown  = 600
    scale_out_cooldown = 60

    customized_metric_specification {
      metrics {
        id          = "connections"
        label       = "Active connections on the ALB"
        return_data = false

        metric_stat {
          stat = "Sum"

          metric {
            namespace   = "AWS/ApplicationELB"
            metric_name = "ActiveConnectionCount"

            dimensions {
              name  = "LoadBalancer"
              value = var.alb_arn_suffix
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Healthy speedrun tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "AWS/ApplicationELB"
            metric_name = "HealthyHostCount"

            dimensions {
              name  = "LoadBalancer"
              value = var.alb_arn_suffix
            }

            dimensions {
              name  = "TargetGroup"
              value = aws_lb_target_group.this.arn_suffix
            }
          }
        }
      }

      metrics {
        id          = "per_task"
        label       = "WebSockets per task"
        expression  = "IF(tasks > 0, connections / (2 * tasks), connections / 2)"
        return_data = true
      }
    }
  }
}
