terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Remote state: S3 with a DynamoDB lock table. The bucket and region are account-specific and
  # come from backend.hcl plus the -backend-config flags tools/deploy/deploy.sh adds
  # (bucket = speedrun-tfstate-<account id>, created with the lock table if missing).
  backend "s3" {
    key            = "speedrun/dev/terraform.tfstate"
    dynamodb_table = "speedrun-terraform-locks"
    encrypt        = true
  }
}
