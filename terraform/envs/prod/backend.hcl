# Partial S3 backend configuration: terraform init -backend-config=backend.hcl
#   -backend-config=bucket=speedrun-tfstate-<account id>
# tools/deploy/deploy.sh passes the bucket (override with TF_STATE_BUCKET) and creates the bucket
# and the speedrun-terraform-locks table on first use.
region = "eu-west-1"
