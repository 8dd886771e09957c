# speedrun: every command a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
ROOT := $(CURDIR)
TOOLS := $(ROOT)/.tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
ENV ?= dev
export UV_LINK_MODE ?= copy

# Workspace members and where they live; each is synced into its own environment and tested alone.
MEMBERS := protocol aws redis testkit loader signon speedrun reporter devstack cli
dir_protocol := libs/protocol
dir_aws := libs/aws
dir_redis := libs/redis
dir_testkit := libs/testkit
dir_devstack := libs/devstack
dir_loader := services/loader
dir_signon := services/signon
dir_speedrun := services/speedrun
dir_reporter := services/reporter
dir_cli := tools/cli

.PHONY: help bootstrap sync run test test-members test-integration test-terraform test-web \
	test-e2e $(addprefix test-,$(MEMBERS)) lint format docs bench chaos deploy deploy-local clean

help: ## Show every target with what it does
	@grep -hE '^[a-zA-Z_%-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'
	@printf "  \033[36m%-18s\033[0m %s\n" "test-<member>" "One member alone ($(MEMBERS)): sync only it, run its tests"

$(UV):
	@echo "==> uv not found: installing it into $(TOOLS)"
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "speedrun needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

bootstrap: $(UV) ## Install what the project needs: uv, the workspace venv, redis-server and chromium (when root)
	@command -v redis-server >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing redis-server"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
		else echo "redis-server is missing: install it (e.g. 'sudo apt-get install redis-server') or set REDIS_URL" >&2; exit 1; fi; }
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$CHROMIUM_PATH" ] || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> installing chromium (browser tests)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing: install it (e.g. 'sudo apt-get install chromium') or set CHROMIUM_PATH" >&2; exit 1; fi; }
	@$(MAKE) --no-print-directory sync

sync: $(UV) ## Create or update the workspace venv (.venv) from uv.lock
	@$(UV) sync --all-packages --locked --quiet

run: sync ## Run the whole system locally (Redis, AWS endpoint, services, gateway) and print the URL
	$(PY) -m speedrun_devstack

test: bootstrap ## Everything: each member alone, then Terraform, then the cross-service and browser suites
	@$(MAKE) --no-print-directory test-members
	@$(MAKE) --no-print-directory test-terraform
	@$(MAKE) --no-print-directory test-integration
	@echo "==> make test: all suites passed"

test-members: $(addprefix test-,$(MEMBERS)) ## Each workspace member's own tests, in its own environment

$(addprefix test-,$(MEMBERS)): test-%: $(UV)
	@echo "==> $*: sync alone, then its tests"
	@UV_PROJECT_ENVIRONMENT=$(ROOT)/.venvs/$* $(UV) sync --locked --package speedrun-$* --quiet
	@$(ROOT)/.venvs/$*/bin/python -m pytest $(dir_$*)/tests -q

test-terraform: sync ## Terraform proven statically: fmt, python-hcl2 parse, consistency, checkov
	@echo "==> terraform: fmt + checkov"
	@tools/terraform_check.sh
	@$(PY) -m pytest tests/terraform -q

test-integration: sync ## Cross-service suites under tests/ (end-to-end, browser, faults, bench smoke)
	@echo "==> cross-service suites"
	@$(PY) -m pytest tests --ignore=tests/terraform -q
	@# The bench's own tests drive their own event loops (uvloop), so they get a process of their own.
	@$(PY) -m pytest tools/bench/tests -q

test-web: sync ## Browser tests only (Debian chromium + Playwright); screenshots in test-artifacts/web
	@$(PY) -m pytest tests/web -q

test-e2e: sync ## End-to-end tests only (the make run stack, bots, both modes, an instance killed)
	@$(PY) -m pytest tests/e2e -q

lint: sync ## ruff check, ruff format --check, mypy (strict on libs/protocol)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/protocol/src
	$(VENV)/bin/mypy libs/aws/src libs/redis/src libs/testkit/src services/loader/src services/signon/src \
		services/speedrun/src services/reporter/src libs/devstack/src tools/cli/src
	$(VENV)/bin/mypy --explicit-package-bases tools/bench

format: sync ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

docs: sync ## Regenerate docs/message-protocol.md from the schemas
	$(PY) -m speedrun_protocol.docgen docs/protocol-flows.md > docs/message-protocol.md

bench: sync ## Benchmarks against bare baselines (QUICK=1 for a smoke run); writes bench-results/
	@[ -f tools/bench/__main__.py ] || { echo "make bench: not built yet (issue 10)" >&2; exit 1; }
	$(PY) -m tools.bench $(if $(QUICK),--quick,)

chaos: sync ## Fault and abuse scenarios; writes bench-results/chaos.json
	@[ -d tests/chaos ] || { echo "make chaos: not built yet (issue 11)" >&2; exit 1; }
	$(PY) -m pytest tests/chaos -q $(if $(QUICK),,--chaos-full)

deploy: ## Deploy to AWS: make deploy ENV=dev (builds, terraform apply, uploads web/, prints the URL)
	@[ -x tools/deploy/deploy.sh ] || { echo "make deploy: not built yet (issue 9)" >&2; exit 1; }
	tools/deploy/deploy.sh $(ENV)

deploy-local: ## The same against LocalStack through tflocal
	@[ -x tools/deploy/deploy-local.sh ] || { echo "make deploy-local: not built yet (issue 9)" >&2; exit 1; }
	tools/deploy/deploy-local.sh

clean: ## Remove environments, caches and results
	rm -rf .venv .venvs .tools bench-results test-artifacts .run .mypy_cache .ruff_cache
