terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
      # CloudFront-scoped WAF web ACLs (and their log groups) must live in us-east-1.
      configuration_aliases = [aws.us_east_1]
    }
  }
}
