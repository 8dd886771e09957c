output "bucket_name" {
  description = "Name of the access-log bucket; ALB logs go under alb/, S3 server access logs under s3/."
  value       = aws_s3_bucket.this.id
  # Load balancers check at creation that they may write: hand the name out only once the
  # bucket policy is in place.
  depends_on = [aws_s3_bucket_policy.this]
}

output "bucket_arn" {
  description = "ARN of the access-log bucket."
  value       = aws_s3_bucket.this.arn
}
