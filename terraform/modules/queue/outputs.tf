output "queue_url" {
  description = "URL of the completion queue (COMPLETION_QUEUE_URL)."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the completion queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_name" {
  description = "Name of the completion queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_alarm_arn" {
  description = "ARN of the DLQ-not-empty alarm."
  value       = aws_cloudwatch_metric_alarm.dlq_not_empty.arn
}
