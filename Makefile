# Every target runs on Node 24: scripts/ensure-node.sh installs the pinned build into .tools/
# when the node on PATH is older, and its directory goes first on PATH for every recipe.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
NODE_DIR := $(shell bash scripts/ensure-node.sh)
ifeq ($(NODE_DIR),)
$(error could not provide Node 24; see the message above)
endif
export PATH := $(NODE_DIR):$(CURDIR)/node_modules/.bin:$(PATH)
export KUBECONFIG ?= $(CURDIR)/.loraplex/kubeconfig

.PHONY: help deps typecheck lint format test services-up services-down services-status cluster-up cluster-down cluster-status

help:
	@echo "make test            typecheck + lint + every test (starts services and a test control plane)"
	@echo "make services-up     start PostgreSQL, Redis and the S3 server on loopback"
	@echo "make services-down   stop them"
	@echo "make cluster-up      start the Kubernetes test control plane, kubeconfig in .loraplex/kubeconfig"
	@echo "make cluster-down    stop it"

deps: node_modules/.deps-stamp
node_modules/.deps-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

typecheck: deps
	tsc --noEmit

lint: deps
	biome check .

format: deps
	biome check --write .

test: deps
	bash scripts/services.sh up >/dev/null
	bash scripts/cluster.sh build
	tsc --noEmit
	biome check .
	node scripts/test-summary.ts vitest run

services-up: deps
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

services-status:
	bash scripts/services.sh status

cluster-up:
	bash scripts/cluster.sh up

cluster-down:
	bash scripts/cluster.sh down

cluster-status:
	bash scripts/cluster.sh status
