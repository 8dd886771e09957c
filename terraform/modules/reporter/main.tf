data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  function_name = "${var.name}-reporter"
  ec2_arn       = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  # Every variable speedrun_reporter.config.Settings reads (tests/terraform checks the names).
  # Lambda has no secret injection: the function reads the Redis token itself from the secret
  # named by REDIS_AUTH_TOKEN_SECRET_ARN. AWS_REGION is set by the Lambda runtime (reserved).
  environment = {
    ENVIRONMENT                  = "production"
    LOG_LEVEL                    = var.log_level
    REDIS_URL                    = var.redis_url
    REDIS_AUTH_TOKEN_SECRET_ARN  = var.redis_auth_token_secret_arn
    RUN_TABLE_NAME               = var.run_table_name
    POWERTOOLS_SERVICE_NAME      = "reporter"
    POWERTOOLS_METRICS_NAMESPACE = "speedrun"
  }
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked by an SQS event source mapping; failed messages go to the completion queue's own DLQ (a function DLQ only covers asynchronous invocations).
  #checkov:skip=CKV_AWS_272:Packages are built and deployed by our own pipeline (tools/deploy) from a locked lockfile; no AWS Signer profile is used.
  function_name                  = local.function_name
  description                    = "speedrun reporter: archives finished runs from Redis to DynamoDB"
  role                           = aws_iam_role.this.arn
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  handler                        = "speedrun_reporter.lambda_handler.handler"
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.this.id, var.redis_client_security_group_id]
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = var.queue_arn
  function_name                      = aws_lambda_function.this.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  # The handler returns batchItemFailures (Powertools process_partial_response): only failed
  # messages are retried and, after maxReceiveCount, dead-lettered.
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

# Outbound HTTPS only, to the interface endpoints (Secrets Manager) and the DynamoDB gateway
# endpoint; the private subnets have no other route out. Redis goes through the cache client group.
resource "aws_security_group" "this" {
  name        = local.function_name
  description = "speedrun reporter Lambda"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.function_name })
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs through VPC endpoints"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_iam_role" "this" {
  name = local.function_name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "this" {
  name = "reporter"
  role = aws_iam_role.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.this.arn}:*"]
      },
      {
        # Describe* has no resource-level permissions; AWS documents "*" as the only option.
        Sid      = "VpcDescribe"
        Effect   = "Allow"
        Action   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
        Resource = ["*"]
      },
      {
        Sid      = "VpcNetworkInterfaces"
        Effect   = "Allow"
        Action   = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
        Resource = ["${local.ec2_arn}:*/*"]
      },
      {
        # X-Ray has no resource-level permissions.
        Sid      = "Tracing"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
        Resource = ["*"]
      },
      {
        Sid      = "CompletionQueue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = [var.queue_arn]
      },
      {
        # archive_store: batch writer (BatchWriteItem) then the summary (PutItem); has_summary
        # (GetItem) makes redelivery idempotent; read_items (Query) reads a partition back.
        Sid      = "RunStore"
        Effect   = "Allow"
        Action   = ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query"]
        Resource = [var.run_table_arn]
      },
      {
        Sid      = "RedisAuthToken"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [var.redis_auth_token_secret_arn]
      },
      {
        # The queue, the table, the secret and the environment variables use this key.
        Sid      = "DataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}
