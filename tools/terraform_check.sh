#!/usr/bin/env bash
# Static checks of terraform/: formatting (when a terraform binary is available) and checkov.
#
# checkov lives in its own virtualenv (.venvs/checkov): it pins versions that conflict with the
# project's dev tools (python-hcl2), so it is never installed into the project venv.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

CHECKOV_VERSION="3.3.30"
CHECKOV_VENV="${CHECKOV_VENV:-$repo_root/.venvs/checkov}"

if command -v terraform >/dev/null 2>&1; then
  echo "==> terraform fmt -check -recursive terraform"
  if ! terraform fmt -check -recursive terraform; then
    echo "terraform fmt found unformatted files (listed above); run: terraform fmt -recursive terraform" >&2
    exit 1
  fi
else
  echo "==> terraform not on PATH: skipping terraform fmt -check" >&2
fi

if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "==> installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

echo "==> checkov -d terraform --framework terraform"
# --skip-download: no calls to the Prisma Cloud API (offline; every skip is inline in the .tf).
"$CHECKOV_VENV/bin/checkov" -d terraform --quiet --compact --framework terraform --skip-download
