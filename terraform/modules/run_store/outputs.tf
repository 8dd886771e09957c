output "table_name" {
  description = "Name of the run table (RUN_TABLE_NAME)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the run table."
  value       = aws_dynamodb_table.this.arn
}
