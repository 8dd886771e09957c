output "function_name" {
  description = "Name of the reporter Lambda."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the reporter Lambda."
  value       = aws_lambda_function.this.arn
}

output "timeout" {
  description = "Timeout of the reporter Lambda in seconds (the queue's visibility timeout is 6x this)."
  value       = aws_lambda_function.this.timeout
}

output "event_source_mapping_uuid" {
  description = "UUID of the SQS event source mapping."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "role_arn" {
  description = "ARN of the reporter's execution role."
  value       = aws_iam_role.this.arn
}
