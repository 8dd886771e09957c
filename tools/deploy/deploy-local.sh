#!/usr/bin/env bash
# Deploy the stack to LocalStack: tools/deploy/deploy-local.sh
#
# The same steps as deploy.sh, through tflocal / awslocal, with the environment "local" (resource
# names speedrun-local-..., as the local stack and the tests use) and the terraform/envs/dev
# composition. State lives in LocalStack's S3 under its own data dir (build/terraform-local), so it
# never touches a real backend. ECS, ElastiCache, EFS, ELBv2, CloudFront and WAF need a LocalStack
# edition that emulates them; with the community edition terraform apply stops at the first
# unsupported resource, which the script reports.
#
# Environment: LOCALSTACK_ENDPOINT (default http://localhost:4566).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

die() { echo "deploy-local: $*" >&2; exit 1; }
step() { echo; echo "==> $*"; }

env_dir="terraform/envs/dev"
environment="local"
region="us-east-1"
endpoint="${LOCALSTACK_ENDPOINT:-http://localhost:4566}"
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_ENDPOINT_URL="$endpoint"
export TF_DATA_DIR="$repo_root/build/terraform-local"

step "checking tools"
missing=()
for tool in tflocal awslocal terraform docker python3 git curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ! command -v uv >/dev/null 2>&1 && [[ ! -x .tools/bin/uv ]]; then missing+=("uv"); fi
if ((${#missing[@]})); then
  die "missing tool(s): ${missing[*]}. tflocal and awslocal: pip install terraform-local awscli-local; plus terraform, docker, python3, uv."
fi

step "checking LocalStack at $endpoint"
curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1 \
  || die "LocalStack is not answering at $endpoint (start it: localstack start -d, or docker run localstack/localstack)"
account_id="$(awslocal sts get-caller-identity --query Account --output text)" \
  || die "awslocal cannot call STS on $endpoint"

state_bucket="speedrun-tfstate-$environment"
lock_table="speedrun-terraform-locks"
step "terraform state in LocalStack: s3://$state_bucket + $lock_table"
awslocal s3api head-bucket --bucket "$state_bucket" >/dev/null 2>&1 \
  || awslocal s3api create-bucket --bucket "$state_bucket" >/dev/null
awslocal dynamodb describe-table --table-name "$lock_table" >/dev/null 2>&1 \
  || awslocal dynamodb create-table --table-name "$lock_table" --billing-mode PAY_PER_REQUEST \
    --attribute-definitions AttributeName=LockID,AttributeType=S \
    --key-schema AttributeName=LockID,KeyType=HASH >/dev/null

step "building Lambda packages"
python3 tools/deploy/build_lambda.py

image_tag="local-$(git rev-parse --short=12 HEAD 2>/dev/null || echo untracked)-$(date -u +%Y%m%d%H%M%S)"
tf_vars=(
  -var "environment=$environment"
  -var "aws_region=$region"
  -var "image_tag=$image_tag"
  -var "force_destroy=true"
  -var "secret_recovery_window_in_days=0"
)

step "tflocal init ($env_dir, data dir $TF_DATA_DIR)"
tflocal -chdir="$env_dir" init -input=false -reconfigure \
  -backend-config="bucket=$state_bucket" \
  -backend-config="key=speedrun/$environment/terraform.tfstate" \
  -backend-config="region=$region" \
  -backend-config="dynamodb_table=$lock_table"

step "ECR repositories"
tflocal -chdir="$env_dir" apply -input=false -auto-approve -target=module.ecr "${tf_vars[@]}"

for service in signon speedrun; do
  repository_url="$(tflocal -chdir="$env_dir" output -raw "${service}_repository_url" 2>/dev/null || true)"
  if [[ -z "$repository_url" ]]; then
    repository_url="$(awslocal ecr describe-repositories --repository-names "speedrun-$environment/$service" \
      --query 'repositories[0].repositoryUri' --output text)"
  fi
  step "building and pushing $repository_url:$image_tag"
  docker build -f "services/$service/Dockerfile" -t "$repository_url:$image_tag" .
  docker push "$repository_url:$image_tag"
done

step "tflocal apply ($env_dir, environment $environment)"
if ! tflocal -chdir="$env_dir" apply -input=false -auto-approve "${tf_vars[@]}"; then
  die "tflocal apply failed; if the error names an unsupported service (ecs, elasticache, efs, elbv2, cloudfront, wafv2), this LocalStack edition does not emulate it"
fi

url="$(tflocal -chdir="$env_dir" output -raw url)"
web_bucket="$(tflocal -chdir="$env_dir" output -raw web_bucket)"
distribution_id="$(tflocal -chdir="$env_dir" output -raw distribution_id)"

step "uploading web/ to s3://$web_bucket"
awslocal s3 sync web/ "s3://$web_bucket/" --delete --exclude ".*" --exclude "*/.*"

step "invalidating CloudFront $distribution_id"
awslocal cloudfront create-invalidation --distribution-id "$distribution_id" --paths "/*" \
  --query Invalidation.Id --output text

step "deployed to LocalStack (account $account_id, environment $environment)"
echo "$url"
