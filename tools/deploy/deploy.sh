#!/usr/bin/env bash
# Deploy speedrun to AWS: tools/deploy/deploy.sh ENV   (ENV = a folder of terraform/envs, e.g. dev)
#
#   1. checks the tools (terraform, docker, aws, python3, uv) and the AWS credentials;
#   2. creates the Terraform state bucket and lock table on first use;
#   3. builds the Lambda zips (tools/deploy/build_lambda.py);
#   4. terraform init, then creates the ECR repositories (-target=module.ecr) on first use;
#   5. builds and pushes the sign-on and speedrun images, tagged with the git commit;
#   6. terraform apply of the whole environment with that image tag;
#   7. uploads web/ to the site bucket, invalidates CloudFront, waits for the ECS services;
#   8. prints the URL.
#
# Environment: AUTO_APPROVE=1 applies without asking; TF_STATE_BUCKET overrides the state bucket
# (default speedrun-tfstate-<account>-<region>); AWS_REGION overrides terraform.tfvars' aws_region.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

die() { echo "deploy: $*" >&2; exit 1; }
step() { echo; echo "==> $*"; }

env_name="${1:-}"
[[ -n "$env_name" ]] || die "usage: tools/deploy/deploy.sh ENV   (one of: $(ls terraform/envs | tr '\n' ' '))"
env_dir="terraform/envs/$env_name"
[[ -d "$env_dir" ]] || die "no environment '$env_name' (expected $env_dir; have: $(ls terraform/envs | tr '\n' ' '))"

step "checking tools"
missing=()
for tool in terraform docker aws python3 git; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ! command -v uv >/dev/null 2>&1 && [[ ! -x .tools/bin/uv ]]; then missing+=("uv"); fi
if ((${#missing[@]})); then
  die "missing tool(s): ${missing[*]}. Install terraform >= 1.9, Docker (with buildx), AWS CLI v2, python3 with pip, and uv (make bootstrap)."
fi
docker info >/dev/null 2>&1 || die "docker is installed but its daemon is not reachable (is Docker running? can this user use it?)"

step "checking AWS credentials"
if ! account_id="$(aws sts get-caller-identity --query Account --output text 2>/dev/null)"; then
  die "no usable AWS credentials: configure a profile (aws configure / aws sso login) or export AWS_PROFILE / AWS_ACCESS_KEY_ID..."
fi
region="${AWS_REGION:-$(sed -n 's/^[[:space:]]*aws_region[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$env_dir/terraform.tfvars")}"
[[ -n "$region" ]] || die "no region: set aws_region in $env_dir/terraform.tfvars or export AWS_REGION"
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"
echo "account $account_id, region $region, environment $env_name"

state_bucket="${TF_STATE_BUCKET:-speedrun-tfstate-$account_id-$region}"
lock_table="speedrun-terraform-locks"

step "terraform state: s3://$state_bucket + DynamoDB $lock_table"
if ! aws s3api head-bucket --bucket "$state_bucket" >/dev/null 2>&1; then
  echo "creating state bucket $state_bucket"
  if [[ "$region" == "us-east-1" ]]; then
    aws s3api create-bucket --bucket "$state_bucket" >/dev/null
  else
    aws s3api create-bucket --bucket "$state_bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  aws s3api put-bucket-versioning --bucket "$state_bucket" --versioning-configuration Status=Enabled
  aws s3api put-bucket-encryption --bucket "$state_bucket" --server-side-encryption-configuration \
    '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"aws:kms"},"BucketKeyEnabled":true}]}'
  aws s3api put-public-access-block --bucket "$state_bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi
if ! aws dynamodb describe-table --table-name "$lock_table" >/dev/null 2>&1; then
  echo "creating lock table $lock_table"
  aws dynamodb create-table --table-name "$lock_table" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=LockID,AttributeType=S \
    --key-schema AttributeName=LockID,KeyType=HASH >/dev/null
  aws dynamodb wait table-exists --table-name "$lock_table"
fi

step "building Lambda packages"
python3 tools/deploy/build_lambda.py

image_tag="$(git rev-parse --short=12 HEAD 2>/dev/null || echo untracked)"
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then
  image_tag="$image_tag-dirty-$(date -u +%Y%m%d%H%M%S)"
fi
tf_vars=(-var "image_tag=$image_tag" -var "aws_region=$region")
approve=()
[[ "${AUTO_APPROVE:-0}" == "1" ]] && approve=(-auto-approve)

step "terraform init ($env_dir)"
terraform -chdir="$env_dir" init -input=false -reconfigure \
  -backend-config=backend.hcl \
  -backend-config="bucket=$state_bucket" \
  -backend-config="region=$region" \
  -backend-config="dynamodb_table=$lock_table"

step "ECR repositories"
terraform -chdir="$env_dir" apply -input=false -auto-approve -target=module.ecr "${tf_vars[@]}"
registry="$account_id.dkr.ecr.$region.amazonaws.com"
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null

for service in signon speedrun; do
  repository_url="$(terraform -chdir="$env_dir" output -raw "${service}_repository_url" 2>/dev/null || true)"
  if [[ -z "$repository_url" ]]; then
    # Before the first full apply the output does not exist yet; the module names it like this.
    repository_url="$registry/speedrun-$env_name/$service"
  fi
  repository_name="${repository_url#*/}"
  if aws ecr describe-images --repository-name "$repository_name" --image-ids "imageTag=$image_tag" >/dev/null 2>&1; then
    step "image $service:$image_tag already in ECR (tags are immutable): skipping build"
    continue
  fi
  step "building and pushing $repository_url:$image_tag"
  docker build --platform linux/amd64 -f "services/$service/Dockerfile" -t "$repository_url:$image_tag" .
  docker push "$repository_url:$image_tag"
done

step "terraform apply ($env_dir, image tag $image_tag)"
terraform -chdir="$env_dir" apply -input=false "${approve[@]}" "${tf_vars[@]}"

url="$(terraform -chdir="$env_dir" output -raw url)"
web_bucket="$(terraform -chdir="$env_dir" output -raw web_bucket)"
distribution_id="$(terraform -chdir="$env_dir" output -raw distribution_id)"
cluster="$(terraform -chdir="$env_dir" output -raw cluster_name)"
services=("$(terraform -chdir="$env_dir" output -raw signon_service_name)" "$(terraform -chdir="$env_dir" output -raw speedrun_service_name)")

step "uploading web/ to s3://$web_bucket"
aws s3 sync web/ "s3://$web_bucket/" --delete --exclude ".*" --exclude "*/.*"

step "invalidating CloudFront $distribution_id"
aws cloudfront create-invalidation --distribution-id "$distribution_id" --paths "/*" \
  --query Invalidation.Id --output text

step "waiting for the ECS services to be stable (${services[*]})"
aws ecs wait services-stable --cluster "$cluster" --services "${services[@]}" \
  || die "ECS services did not stabilise: see the service events (aws ecs describe-services --cluster $cluster --services ${services[*]})"

step "deployed $env_name ($image_tag)"
echo "$url"
