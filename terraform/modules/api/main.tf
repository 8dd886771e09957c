locals {
  # The loader's routes (payload v2 to the Lambda) and sign-on's (proxied through the VPC link to
  # the internal ALB, path unchanged). tests/terraform checks every route the apps serve is here.
  loader_route_keys = ["POST /question-set-upload", "GET /question-sets", "GET /question-sets/{id}"]
  signon_route_keys = ["ANY /signon", "ANY /signon/{proxy+}"]
}

resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name}-api"
  description   = "speedrun HTTP API: question-set loader and sign-on (behind CloudFront)"
  protocol_type = "HTTP"

  tags = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.throttling_burst_limit
    throttling_rate_limit    = var.throttling_rate_limit
    detailed_metrics_enabled = true
  }

  # Uploads are parsed in a Lambda with bounded concurrency: throttle them harder.
  route_settings {
    route_key              = "POST /question-set-upload"
    throttling_burst_limit = var.upload_throttling_burst_limit
    throttling_rate_limit  = var.upload_throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      userAgent          = "$context.identity.userAgent"
    })
  }

  tags = var.tags

  depends_on = [aws_apigatewayv2_route.loader, aws_apigatewayv2_route.signon]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "loader" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = var.loader_invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "loader" {
  #checkov:skip=CKV_AWS_309:The question-set routes are public by design (hosts upload and list question sets before signing on); the loader validates and bounds every upload, and the stage throttles the route.
  for_each = toset(local.loader_route_keys)

  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.loader.id}"
}

resource "aws_lambda_permission" "loader" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = var.loader_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}

resource "aws_apigatewayv2_vpc_link" "this" {
  name               = "${var.name}-signon"
  subnet_ids         = var.subnet_ids
  security_group_ids = [aws_security_group.vpc_link.id]

  tags = var.tags
}

resource "aws_apigatewayv2_integration" "signon" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "HTTP_PROXY"
  integration_method     = "ANY"
  integration_uri        = var.signon_listener_arn
  connection_type        = "VPC_LINK"
  connection_id          = aws_apigatewayv2_vpc_link.this.id
  payload_format_version = "1.0"
  timeout_milliseconds   = 29000
}

resource "aws_apigatewayv2_route" "signon" {
  #checkov:skip=CKV_AWS_309:Sign-on is the service that authenticates: it issues and verifies the HS256 host and participant tokens itself; joining and creating runs must be reachable without a prior credential.
  for_each = toset(local.signon_route_keys)

  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.signon.id}"
}

resource "aws_security_group" "vpc_link" {
  name        = "${var.name}-api-vpc-link"
  description = "API Gateway VPC link to the sign-on internal ALB"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-api-vpc-link" })
}

resource "aws_vpc_security_group_egress_rule" "vpc_link_to_alb" {
  security_group_id            = aws_security_group.vpc_link.id
  description                  = "To the sign-on internal ALB listener"
  ip_protocol                  = "tcp"
  from_port                    = var.signon_listener_port
  to_port                      = var.signon_listener_port
  referenced_security_group_id = var.signon_alb_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_from_vpc_link" {
  security_group_id            = var.signon_alb_security_group_id
  description                  = "From the API Gateway VPC link"
  ip_protocol                  = "tcp"
  from_port                    = var.signon_listener_port
  to_port                      = var.signon_listener_port
  referenced_security_group_id = aws_security_group.vpc_link.id
}
