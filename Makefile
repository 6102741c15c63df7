# Brokerage — developer and CI entry points (GNU make).
#
#   make run        run the API (in-memory demo mode unless DATABASE_URL is set)
#   make test       all tests against PostgreSQL and Redis (throwaway ones unless DATABASE_URL and REDIS_URL are set)
#   make lint       rustfmt check and clippy with warnings denied
#   make services   start the throwaway PostgreSQL and Redis and print their variables
#   make validate-deploy    validate deploy/ offline (and prove it rejects broken copies)
#   make swagger-ui-check   render /api-docs in headless Chromium against a demo-mode server
#   make openapi    regenerate docs/openapi.json from the code
#   make test-contract      fuzz the served OpenAPI document with schemathesis (debug server on PostgreSQL + Redis)
#   make bench      load benchmark of the release server on PostgreSQL + Redis vs a pgbench ceiling, plus micro-benchmarks
#
# Every recipe runs in bash with -e -u -o pipefail, so a failing command in a pipeline fails the target.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo
SERVICES := bash scripts/test-services.sh
SERVICES_ENV := target/services/env
TEST_LOG := target/test-output.log

.PHONY: help run test lint services services-stop migrate validate-deploy swagger-ui-check openapi bench test-contract

help: ## list the targets
	@echo "Brokerage make targets:"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)$$/  \1\t\2/' | expand -t 20

run: ## run the API server (release build; set DATABASE_URL/REDIS_URL for real storage)
	$(CARGO) run --release -p brokerage-app --bin brokerage -- serve

test: ## all tests + doc tests; uses DATABASE_URL/REDIS_URL if both set, else throwaway services
	@if [ -n "$${DATABASE_URL:-}" ] && [ -n "$${REDIS_URL:-}" ]; then \
	    echo "make test: using DATABASE_URL and REDIS_URL from the environment"; \
	else \
	    if [ -n "$${DATABASE_URL:-}$${REDIS_URL:-}" ]; then \
	        echo "make test: only one of DATABASE_URL/REDIS_URL is set; using throwaway services for both"; \
	    fi; \
	    $(SERVICES) start; \
	    . $(SERVICES_ENV); \
	fi; \
	export DATABASE_URL REDIS_URL; \
	echo "make test: DATABASE_URL=$$DATABASE_URL REDIS_URL=$$REDIS_URL"; \
	mkdir -p target; \
	status=0; \
	$(CARGO) test --workspace --doc 2>&1 | tee $(TEST_LOG) || status=$$?; \
	if [ "$$status" -eq 0 ]; then \
	    $(CARGO) test --workspace --all-targets 2>&1 | tee -a $(TEST_LOG) || status=$$?; \
	fi; \
	passed=$$(grep -cE '^test .* \.\.\. ok$$' $(TEST_LOG) || true); \
	count_backed='/^ *Running /{bin=$$0} /^test .* \.\.\. ok$$/{if (bin ~ binary || $$2 ~ name) n++} END{print n+0}'; \
	pg=$$(awk -v binary='deps/postgres_store-' -v name='^postgres::' "$$count_backed" $(TEST_LOG)); \
	redis=$$(awk -v binary='deps/redis_pool-' -v name='^postgres::' "$$count_backed" $(TEST_LOG)); \
	echo "tests passed: $$passed"; \
	echo "postgres-backed tests: $$pg"; \
	echo "redis-backed tests: $$redis (the end-to-end postgres:: scenarios run on Redis too)"; \
	echo "full output: $(TEST_LOG)"; \
	failed=$$(grep -cE '^test .* \.\.\. FAILED$$' $(TEST_LOG) || true); \
	echo "$$passed passed, $$failed failed" | tee target/test-summary.txt; \
	exit $$status

lint: ## cargo fmt --check and clippy -D warnings
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

services: ## start throwaway PostgreSQL + Redis (target/services) and print their env
	@$(SERVICES) start
	@$(SERVICES) env
	@echo "# load with: . $(SERVICES_ENV)   stop with: make services-stop"

services-stop: ## stop the throwaway PostgreSQL + Redis
	@$(SERVICES) stop

migrate: ## apply database migrations to DATABASE_URL
	@if [ -z "$${DATABASE_URL:-}" ]; then \
	    echo "make migrate: DATABASE_URL is not set (for throwaway services: make services && . $(SERVICES_ENV))" >&2; \
	    exit 1; \
	fi
	$(CARGO) run -p brokerage-app --bin brokerage -- migrate

validate-deploy: ## validate deploy/ offline (yamllint, hadolint, Compose and Kubernetes schemas, policy) + self-test
	bash scripts/validate-deploy.sh
	bash scripts/validate-deploy.sh --self-test

swagger-ui-check: ## load /api-docs in headless Chromium (installs Debian's chromium if missing)
	bash scripts/swagger-ui-check.sh

openapi: ## regenerate docs/openapi.json from the handlers' annotations
	UPDATE_OPENAPI=1 $(CARGO) test -p brokerage-http --lib openapi_checked_in_document_is_up_to_date

bench: ## load benchmark (release build, throwaway PostgreSQL + Redis, wrk, pgbench ceiling, criterion); writes target/bench/results.json and docs/benchmarks.md
	bash scripts/bench/run.sh

test-contract: ## contract fuzzing: schemathesis (pinned, in target/venv-schemathesis) against a debug server, 0 failures
	bash scripts/contract-fuzz.sh

.PHONY: test-reliability
test-reliability: ## reliability suites (scripts/reliability/run.sh: dependency faults, …) on the release binary and their own PostgreSQL + Redis; writes target/reliability/*.json
	$(CARGO) build --release -p brokerage-app --bin brokerage
	bash scripts/reliability/run.sh
