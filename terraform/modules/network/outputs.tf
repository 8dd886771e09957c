output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (load balancer only), one per AZ."
  value       = [for subnet in aws_subnet.public : subnet.id]
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (tasks, Lambdas, cache, EFS), one per AZ."
  value       = [for subnet in aws_subnet.private : subnet.id]
}

output "private_route_table_id" {
  description = "ID of the private subnets' route table."
  value       = aws_route_table.private.id
}
