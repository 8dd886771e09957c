data "aws_ec2_managed_prefix_list" "cloudfront" {
  count = var.allow_cloudfront_only ? 1 : 0

  name = "com.amazonaws.global.cloudfront.origin-facing"
}

locals {
  https         = var.certificate_arn != null
  listener_port = local.https ? 443 : 80
}

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:Neither ALB faces viewers: the public one admits only CloudFront's origin-facing prefix list and forwards only with the secret origin header, the internal one only the API Gateway VPC link; the WAF web ACL is on the CloudFront distribution in front of both.
  #checkov:skip=CKV2_AWS_76:See CKV2_AWS_28: the Log4j managed rule group is in the CloudFront web ACL.
  name                       = var.name
  internal                   = var.internal
  load_balancer_type         = "application"
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.this.id]
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection

  access_logs {
    bucket  = var.access_logs_bucket
    prefix  = "alb/${var.name}"
    enabled = true
  }

  tags = var.tags
}

resource "aws_lb_listener" "this" {
  #checkov:skip=CKV_AWS_2:Without a custom domain there is no certificate for the ALB; set certificate_arn to serve HTTPS. The plain-HTTP listener is reachable only from CloudFront (prefix list + secret header) or, internally, from the API Gateway VPC link.
  #checkov:skip=CKV_AWS_103:TLS applies when certificate_arn is set (ELBSecurityPolicy-TLS13-1-2-2021-06); see CKV_AWS_2.
  #checkov:skip=CKV2_AWS_20:Viewers never reach the ALB; CloudFront redirects viewers to HTTPS. See CKV_AWS_2.
  #checkov:skip=CKV2_AWS_74:Ciphers apply when certificate_arn is set (ELBSecurityPolicy-TLS13-1-2-2021-06); see CKV_AWS_2.
  load_balancer_arn = aws_lb.this.arn
  port              = local.listener_port
  protocol          = local.https ? "HTTPS" : "HTTP"
  ssl_policy        = local.https ? "ELBSecurityPolicy-TLS13-1-2-2021-06" : null
  certificate_arn   = var.certificate_arn

  # Only the services' listener rules forward; anything else is refused.
  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }

  tags = var.tags
}

resource "aws_security_group" "this" {
  name        = var.name
  description = "ALB ${var.name}"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_vpc_security_group_ingress_rule" "cloudfront" {
  count = var.allow_cloudfront_only ? 1 : 0

  security_group_id = aws_security_group.this.id
  description       = "Listener from CloudFront origin-facing addresses"
  ip_protocol       = "tcp"
  from_port         = local.listener_port
  to_port           = local.listener_port
  prefix_list_id    = data.aws_ec2_managed_prefix_list.cloudfront[0].id
}

resource "aws_vpc_security_group_ingress_rule" "cidr" {
  for_each = toset(var.ingress_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "Listener from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = local.listener_port
  to_port           = local.listener_port
  cidr_ipv4         = each.key
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  security_group_id = aws_security_group.this.id
  description       = "To the service tasks in the VPC"
  ip_protocol       = "tcp"
  from_port         = var.target_port
  to_port           = var.target_port
  cidr_ipv4         = var.vpc_cidr_block
}
