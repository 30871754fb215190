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

.PHONY: help deps typecheck lint layers deadcode format test test-unit services-up services-down services-status cluster-up cluster-down cluster-status

help:
	@echo "make demo            start a local router + engine simulators, walk through them with the openai client, stop"
	@echo "make dev             the same stack in the foreground; router URL and keys in .loraplex/dev.json"
	@echo "make test            typecheck + lint + layering + every test, then the end-to-end tests on the test node (make e2e)"
	@echo "make test-unit       the unit tests only (next to the code; no server, no process)"
	@echo "make layers          fail on a component importing another component, or an import cycle"
	@echo "make deadcode        fail on an export, file or dependency nothing uses (knip)"
	@echo "make services-up     start PostgreSQL, Redis and the S3 server on loopback"
	@echo "make services-down   stop them"
	@echo "make cluster-up      start the Kubernetes test cluster (control plane + one node), kubeconfig in .loraplex/kubeconfig"
	@echo "make cluster-down    stop it and remove what the node made (processes, mounts, bridge, iptables rules)"
	@echo "make images          build the Loraplex and pause images and import them into the node"
	@echo "make e2e             cluster, images, helm install, samples; the end-to-end tests through the router"
	@echo "make e2e-up          the same setup, left running; prints the router URL and the tenants' keys"
	@echo "make crds            regenerate manifests/crds (and the chart's copy) from core/*.ts"
	@echo "make install         apply the CRDs to the cluster in \$$KUBECONFIG (default .loraplex/kubeconfig)"
	@echo "make run-controller  run the controller locally against that cluster"
	@echo "make samples         apply manifests/samples/ to that cluster"
	@echo "make vllm-router     install vllm-router (the benchmark peer) into .tools/vllm-router"
	@echo "make bench-router-overhead  the router with every gate on beside a bare proxy and vllm-router"

deps: node_modules/.deps-stamp
node_modules/.deps-stamp: package.json package-lock.json
	# --prefer-offline: packages already in npm's cache are not revalidated, so a warm CI run
	# neither waits on the registry nor fails where it is slow to reach.
	npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	touch $@

typecheck: deps
	tsc --noEmit

lint: deps
	biome check .

# Components import only shared packages, never each other; no file-level import cycle
# (.dependency-cruiser.cjs).
layers: deps
	depcruise --config .dependency-cruiser.cjs .

# Exports nobody imports, files nothing reaches, unused dependencies (knip.jsonc).
deadcode: deps
	knip

format: deps
	biome check --write .

test: deps
	bash scripts/services.sh up >/dev/null
	bash scripts/cluster.sh build
	tsc --noEmit
	biome check .
	depcruise --config .dependency-cruiser.cjs .
	knip
	node scripts/gen-crds.ts --check
	# Last stage: the end-to-end tests on the real node (scripts/e2e.sh: cluster, images, helm
	# install; stops the cluster afterwards unless it was running). One summary line counts both.
	node scripts/test-summary.ts vitest run ::: bash scripts/e2e.sh test

# No server, no control plane: the unit project of vitest.config.ts.
test-unit: deps
	node scripts/test-summary.ts vitest run --project unit

services-up: deps
	bash scripts/services.sh up

services-down:
	bash scripts/services.sh down

services-status:
	bash scripts/services.sh status

cluster-up:
	bash scripts/cluster.sh up
	bash scripts/node.sh up

cluster-down:
	bash scripts/node.sh down
	bash scripts/cluster.sh down

cluster-status:
	bash scripts/cluster.sh status
	bash scripts/node.sh status

.PHONY: images e2e e2e-up
images:
	bash scripts/images.sh all

e2e: deps
	bash scripts/e2e.sh test

e2e-up: deps
	bash scripts/e2e.sh up

.PHONY: crds install run-controller samples
# The kubectl on PATH, else the one scripts/cluster.sh builds (expanded by the recipe's shell).
KUBECTL ?= $$(command -v kubectl || echo "$$(bash scripts/cluster.sh bin-dir)/kubectl")

crds: deps
	node scripts/gen-crds.ts

install: deps
	$(KUBECTL) apply --server-side --field-manager=loraplex-install -f manifests/crds/ -f manifests/rbac/
	$(KUBECTL) wait --for=condition=Established --timeout=60s -f manifests/crds/

run-controller: deps
	node bin/loraplex.js controller --kubeconfig "$(KUBECONFIG)" --health-host 127.0.0.1

samples: deps
	$(KUBECTL) apply --server-side --field-manager=loraplex-samples -f manifests/samples/

.PHONY: demo dev
# The local stack (services, engine simulators + adapter agents, router over manifests/samples/):
# `demo` walks through it with the openai client and stops; `dev` keeps it up in the foreground.
demo: deps
	node scripts/demo.ts

dev: deps
	node scripts/demo.ts --dev

.PHONY: trainer-selftest
# Trains a LoRA on a tiny random Llama with trainer/image/train.py and loads it into the engine
# simulator. Not part of `test`: its Python environment (scripts/trainer-env.sh, torch from PyPI)
# is several GB.
trainer-selftest: deps
	NODE="$$(command -v node)" "$$(bash scripts/trainer-env.sh)/bin/python" trainer/image/selftest.py

.PHONY: vllm-router bench-router-overhead
# vllm-router (Rust, from PyPI) is the peer bench/router-overhead.ts measures beside the router;
# it lives in its own venv under .tools/ and nothing else uses it.
VLLM_ROUTER_VERSION := 0.1.17
vllm-router: .tools/vllm-router/bin/vllm-router
.tools/vllm-router/bin/vllm-router:
	python3 -m venv .tools/vllm-router
	.tools/vllm-router/bin/pip install --quiet --disable-pip-version-check "vllm-router==$(VLLM_ROUTER_VERSION)"

# The router beside a bare Node proxy and vllm-router, every gate on; figures in bench/results/.
bench-router-overhead: deps
	-$(MAKE) vllm-router
	node bench/router-overhead.ts --scale-out
