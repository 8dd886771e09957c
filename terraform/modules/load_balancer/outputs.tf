output "arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch LoadBalancer dimension)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "listener_arn" {
  description = "ARN of the listener the services attach their rules to."
  value       = aws_lb_listener.this.arn
}

output "listener_protocol" {
  description = "HTTP or HTTPS."
  value       = aws_lb_listener.this.protocol
}

output "security_group_id" {
  description = "Security group of the load balancer (targets admit it; callers may add ingress)."
  value       = aws_security_group.this.id
}
