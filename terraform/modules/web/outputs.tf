output "bucket_name" {
  description = "Name of the static site bucket (target of aws s3 sync web/)."
  value       = aws_s3_bucket.this.id
}

output "bucket_arn" {
  description = "ARN of the static site bucket."
  value       = aws_s3_bucket.this.arn
}

output "distribution_id" {
  description = "ID of the CloudFront distribution (for invalidations)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "ARN of the CloudFront distribution."
  value       = aws_cloudfront_distribution.this.arn
}

output "domain_name" {
  description = "Host name players use: the first alias, else the *.cloudfront.net name."
  value       = length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name
}

output "url" {
  description = "https URL of the site (PUBLIC_URL, ALLOWED_ORIGINS)."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name}"
}

output "web_acl_arn" {
  description = "ARN of the WAF web ACL on the distribution."
  value       = aws_wafv2_web_acl.this.arn
}
