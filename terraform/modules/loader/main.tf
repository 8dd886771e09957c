data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  function_name = "${var.name}-loader"
  ec2_arn       = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  # Every variable speedrun_loader.config.Settings reads (tests/terraform checks the names).
  environment = {
    ENVIRONMENT      = "production"
    LOG_LEVEL        = var.log_level
    QUESTION_SET_DIR = var.question_set_mount_path
  }
}

# Lambda needs the mount targets to exist before it can attach the access point.
resource "terraform_data" "mount_targets_ready" {
  input = var.efs_mount_target_ids
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway only; a DLQ applies to asynchronous invocations, failures are returned to the uploader.
  #checkov:skip=CKV_AWS_272:Packages are built and deployed by our own pipeline (tools/deploy) from a locked lockfile; no AWS Signer profile is used.
  function_name                  = local.function_name
  description                    = "speedrun question-set loader (FastAPI via Mangum)"
  role                           = aws_iam_role.this.arn
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  handler                        = "speedrun_loader.lambda_handler.handler"
  runtime                        = "python3.12"
  architectures                  = ["x86_64"]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge(
      local.environment,
      var.max_upload_bytes == null ? {} : { MAX_UPLOAD_BYTES = tostring(var.max_upload_bytes) },
    )
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.efs_client_security_group_id]
  }

  file_system_config {
    arn              = var.efs_access_point_arn
    local_mount_path = var.question_set_mount_path
  }

  tracing_config {
    mode = "Active"
  }

  tags = var.tags

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    terraform_data.mount_targets_ready,
  ]
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
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
  name = "loader"
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
        Sid      = "QuestionSetStore"
        Effect   = "Allow"
        Action   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
        Resource = [var.efs_file_system_arn]
        Condition = {
          StringEquals = { "elasticfilesystem:AccessPointArn" = var.efs_access_point_arn }
        }
      },
      {
        Sid      = "EnvironmentKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [var.kms_key_arn]
      },
    ]
  })
}
