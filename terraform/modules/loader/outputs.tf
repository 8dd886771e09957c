output "function_name" {
  description = "Name of the loader Lambda."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the loader Lambda."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "Invoke ARN of the loader Lambda, for the API Gateway integration."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_arn" {
  description = "ARN of the loader's execution role."
  value       = aws_iam_role.this.arn
}
